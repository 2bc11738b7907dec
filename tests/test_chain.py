"""Chain and Mix: list behaviour, hosting, latency compensation, the issue's done-when chain."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest
from conftest import SR, noise, stream

import clarity_fx as cfx
from clarity_fx.plugin import Plugin


class Delay(Plugin):
    """A pure delay that reports it: y[n] = x[n - D]."""

    delay_samples = cfx.Param(7, kind=int, minimum=0)

    def latency_for(self, sample_rate):
        return self.delay_samples

    def process_block(self, block, state):
        if "tail" not in state:
            state.tail = np.zeros((state.channels, self.delay_samples), np.float32)
        joined = np.concatenate([state.tail, block], axis=1)
        state.tail = joined[:, joined.shape[1] - self.delay_samples :]
        return joined[:, : block.shape[1]]


def test_chain_behaves_like_a_list():
    gain, hp = pedalboard.Gain(-3), pedalboard.HighpassFilter(100)
    chain = cfx.Chain([gain])
    chain.append(hp)
    chain.insert(0, None)
    assert len(chain) == 3 and chain[1] is gain and chain[-1] is hp
    assert chain.index(hp) == 2 and hp in chain
    assert isinstance(chain[1:], cfx.Chain) and list(chain[1:]) == [gain, hp]
    del chain[0]
    assert list(chain) == [gain, hp]
    with pytest.raises(TypeError, match="clarity_fx or pedalboard plugins"):
        chain.append("reverb")


def test_none_passes_through_and_empty_chain_is_identity():
    x = noise()
    np.testing.assert_array_equal(cfx.Chain([None])(x, SR), x)
    np.testing.assert_array_equal(cfx.Chain()(x, SR), x)


def test_native_runs_are_one_pedalboard_and_match_it():
    plugins = [pedalboard.HighpassFilter(100), pedalboard.Gain(-3), pedalboard.Compressor(-20, 4)]
    x = noise()
    chain = cfx.Chain(plugins)
    np.testing.assert_array_equal(chain(x, SR), pedalboard.Pedalboard(plugins)(x, SR))
    stages = chain._build_stages()
    assert len(stages) == 1 and isinstance(stages[0].plugin, pedalboard.Pedalboard)


def test_python_plugin_latency_is_compensated_in_chain():
    x = noise()
    out = cfx.Chain([Delay(delay_samples=100), pedalboard.Gain(-6)])(x, SR)
    np.testing.assert_allclose(out, x * 10 ** (-6 / 20), atol=1e-6)


def test_nested_chains_and_pedalboards():
    x = noise()
    inner = cfx.Chain([Delay(), pedalboard.Gain(-6)])
    outer = cfx.Chain(
        [pedalboard.Pedalboard([pedalboard.Gain(3)]), inner, cfx.Chain([Delay(delay_samples=3)])]
    )
    np.testing.assert_allclose(outer(x, SR), x * 10 ** (-3 / 20), atol=1e-6)
    np.testing.assert_allclose(stream(outer, x, [100, 7]), outer(x, SR), atol=1e-6)


def test_mix_sums_branches_at_unity_and_aligns_latency():
    x = noise()
    mix = cfx.Mix([cfx.Chain([Delay(delay_samples=50)]), pedalboard.Gain(0), Delay(delay_samples=9)])
    np.testing.assert_allclose(mix(x, SR), 3 * x, atol=1e-5)
    np.testing.assert_allclose(stream(mix, x, [333, 17]), 3 * x, atol=1e-5)
    np.testing.assert_allclose(
        pedalboard.Mix([pedalboard.Gain(0), pedalboard.Gain(0)])(x, SR), 2 * x, atol=1e-6
    )


def test_chain_reports_latency_sum():
    chain = cfx.Chain([Delay(delay_samples=10), pedalboard.Gain(0), Delay(delay_samples=5)])
    chain(noise(), SR)
    assert chain.latency_samples == 15


@pytest.mark.parametrize("sizes", [[37], [1000], [4096], [12345], [37, 1000, 4096, 12345]])
def test_done_when_chain_streams_exactly(sizes):
    """#2: [HighpassFilter, FFTFilter, Gain, Resample(16 kHz), Compressor], chunks then flush == whole."""
    chain = cfx.Chain(
        [
            pedalboard.HighpassFilter(80),
            cfx.FFTFilter(transfer_function=lambda f: 1 / (1 + 1j * f / 4000)),
            pedalboard.Gain(-3),
            pedalboard.Resample(target_sample_rate=16000),
            pedalboard.Compressor(threshold_db=-20, ratio=4),
        ]
    )
    x = noise(2, 1.5)
    whole = chain(x, SR)
    got = stream(chain, x, sizes)
    assert got.shape == whole.shape == x.shape
    assert np.abs(got - whole).max() <= 1e-5


def test_early_calls_return_fewer_samples_like_pedalboard():
    chain = cfx.Chain([Delay(delay_samples=500)])
    chain.reset()
    assert chain.process(noise()[:, :300], SR, reset=False).shape == (2, 0)
    assert chain.process(noise()[:, :300], SR, reset=False).shape == (2, 100)
    assert chain.flush().shape == (2, 500)


def test_stream_generator_equals_whole():
    x = noise()
    chain = cfx.Chain([pedalboard.Resample(16000), Delay()])
    blocks = [x[:, i : i + 1234] for i in range(0, x.shape[1], 1234)]
    np.testing.assert_allclose(
        np.concatenate(list(chain.stream(blocks, SR)), axis=1), chain(x, SR), atol=1e-6
    )


def test_invalid_parameter_raises_when_set():
    d = Delay()
    with pytest.raises(ValueError, match="delay_samples"):
        d.delay_samples = -1
    with pytest.raises(ValueError, match="did you mean"):
        Delay(delay_sample=3)


@pytest.mark.parametrize("first", [1213, 1613, 4612])
def test_mp3_compressor_streams_like_the_whole_call_at_any_first_chunk(first):
    # pedalboard's MP3Compressor returns other samples at some block sizes (these three among
    # them); a stage's block size is buffer_size, never a chunk's.
    x = noise(2, 0.5)
    assert np.abs(pedalboard.Pedalboard([pedalboard.MP3Compressor()])(x, SR, buffer_size=first)
                  - pedalboard.Pedalboard([pedalboard.MP3Compressor()])(x, SR)).max() > 1e-3
    for items in ([pedalboard.MP3Compressor()], [pedalboard.Gain(-3), pedalboard.MP3Compressor()]):
        chain = cfx.Chain(items)
        whole = chain.process(x, SR)
        np.testing.assert_allclose(stream(chain, x, [first, 3000]), whole, atol=1e-6)


def nested_tree():
    """Every kind of container, nested: Chain, Mix, Blend, Automate, a key chain, a native board."""
    loud = cfx.LoudnessNormalize()
    lane = cfx.Automate(pedalboard.Gain(), {"gain_db": [(0, 0)]})
    tree = cfx.Chain(
        [
            pedalboard.Gain(-3),
            None,  # not counted in paths: children() leaves it out
            cfx.Mix([cfx.Chain([Delay(), loud]), cfx.Blend(lane)]),
            cfx.HardKneeCompressor(key=cfx.Chain([pedalboard.HighpassFilter(4000)])),
            pedalboard.Pedalboard([pedalboard.Gain(1), pedalboard.LowpassFilter(5000)]),
        ]
    )
    return tree, loud


def test_walk_visits_every_node_once_with_its_path_and_parent():
    tree, loud = nested_tree()
    nodes = list(cfx.walk(tree))
    assert [(n.path, type(n.plugin).__name__) for n in nodes] == [
        ((), "Chain"),
        ((0,), "Gain"),
        ((1,), "Mix"),
        ((1, 0), "Chain"),
        ((1, 0, 0), "Delay"),
        ((1, 0, 1), "LoudnessNormalize"),
        ((1, 1), "Blend"),
        ((1, 1, 0), "Automate"),
        ((1, 1, 0, 0), "Gain"),
        ((2,), "HardKneeCompressor"),
        ((2, 0), "Chain"),
        ((2, 0, 0), "HighpassFilter"),
        ((3,), "Pedalboard"),
        ((3, 0), "Gain"),
        ((3, 1), "LowpassFilter"),
    ]
    by_path = {n.path: n for n in nodes}
    assert by_path[(1, 0, 1)].plugin is loud and by_path[(1, 0, 1)].parent is tree[2][0]
    assert by_path[()].parent is None
    # A path indexes children() level by level.
    for node in nodes:
        item = tree
        for index in node.path:
            item = cfx.chain.children_of(item)[index]
        assert item is node.plugin
    assert [n.path for n in cfx.walk([pedalboard.Gain(), None, Delay()])] == [(), (0,), (1,)]  # a list too


def test_upstream_of_is_what_feeds_a_node():
    from clarity_fx.chain import upstream_of

    tree, loud = nested_tree()
    x = noise()
    # The loudness stage in the Mix's first branch is fed Gain(-3), then the branch's Delay.
    feed = upstream_of(tree, (1, 0, 1))
    assert [type(p).__name__ for p in feed] == ["Gain", "Delay"]
    np.testing.assert_allclose(feed(x, SR), cfx.Chain([pedalboard.Gain(-3), Delay()])(x, SR), atol=1e-6)
    # A Mix branch, a wrapper's plugin and a key chain are fed their holder's input.
    assert [type(p).__name__ for p in upstream_of(tree, (1, 1, 0, 0))] == ["Gain"]
    assert [type(p).__name__ for p in upstream_of(tree, (2, 0, 0))] == ["Gain", "Mix"]
    # Inside a native board: the items before it, then the board's own earlier items.
    names = [type(p).__name__ for p in upstream_of(tree, (3, 1))]
    assert names == ["Gain", "Mix", "HardKneeCompressor", "Gain"]
    assert len(upstream_of(tree, ())) == 0


@pytest.mark.parametrize(
    "make", [lambda: pedalboard.Reverb(), lambda: pedalboard.GSMFullRateCompressor()], ids=["reverb", "gsm"]
)
def test_long_chunks_give_the_samples_of_one_block_per_call(make):
    # A native stage hands all the whole blocks of a long chunk to pedalboard in one call; that
    # must give the samples of one buffer_size block per call. pedalboard's GSM codec does not
    # (it depends on where calls end), so a stage holding one keeps one block per call.
    size = 1024
    x = noise(2, 0.5)
    plugin = make()
    plugin.reset()
    expected = np.concatenate([plugin.process(x[:, i : i + size], SR, buffer_size=size, reset=False)
                               for i in range(0, x.shape[1], size)], axis=1)
    chain = cfx.Chain([make()])
    got = np.concatenate([chain.process(x[:, i : i + 5 * size], SR, buffer_size=size, reset=False)
                          for i in range(0, x.shape[1], 5 * size)], axis=1)
    n = min(got.shape[1], expected.shape[1])
    assert n > x.shape[1] // 2
    np.testing.assert_array_equal(got[:, :n], expected[:, :n])
