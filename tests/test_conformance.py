"""One set of invariants, checked for pedalboard's native plugins and every clarity-fx processor.

Native plugins have no ``flush``; their streaming invariants are checked
through a one-item :class:`clarity_fx.Chain`, which is how clarity-fx hosts them.
"""

from __future__ import annotations

import threading

import numpy as np
import pedalboard
import pytest
from conftest import SR, noise, stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clarity_fx as cfx
from clarity_fx.registry import processor_types

NATIVE = {
    "Gain": lambda: pedalboard.Gain(gain_db=-6),
    "HighpassFilter": lambda: pedalboard.HighpassFilter(cutoff_frequency_hz=200),
    "Compressor": lambda: pedalboard.Compressor(threshold_db=-20, ratio=4),
    "Resample": lambda: pedalboard.Resample(target_sample_rate=16000),
    "Reverb": lambda: pedalboard.Reverb(),
    "MP3Compressor": lambda: pedalboard.MP3Compressor(),
}


def _python_cases() -> dict:
    cases = {
        "FFTFilter-H": lambda: cfx.FFTFilter(
            transfer_function=lambda f: 1 / (1 + 1j * f / 1000), n_taps=1024
        ),
        "FFTFilter-IR": lambda: cfx.FFTFilter(impulse_response=np.hanning(33) / 16, ir_delay_samples=16),
    }
    for name, kind in processor_types().items():
        if kind.origin != "clarity" or name == "fft_filter":
            continue
        defaults = getattr(kind.cls, "conformance_example", None)
        cases[name] = defaults if defaults is not None else kind.cls
    return cases


PYTHON = _python_cases()
ALL = {**{f"native-{k}": v for k, v in NATIVE.items()}, **PYTHON}


def hosted(factory):
    """The object whose streaming we test: natives go through a Chain, ours as they are."""
    plugin = factory()
    return cfx.Chain([plugin]) if cfx.chain.is_native(plugin) else plugin


@pytest.mark.parametrize("name", ALL)
def test_layouts_keep_shape_and_agree(name):
    x = noise(2, 0.25)
    plugin = ALL[name]()
    first = plugin.process(x, SR)
    assert first.shape == x.shape and first.dtype == np.float32
    last = plugin.process(np.ascontiguousarray(x.T), SR)
    assert last.shape == x.T.shape
    np.testing.assert_allclose(last.T, first, atol=1e-5)
    mono = plugin.process(x[0], SR)
    assert mono.shape == x[0].shape and mono.dtype == np.float32


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 2)])
def test_empty_input_gives_empty_output(name, shape):
    out = ALL[name]().process(np.zeros(shape, np.float32), SR)
    assert out.shape == shape and out.dtype == np.float32


@pytest.mark.parametrize("name", ALL)
def test_dtypes(name):
    x = noise(2, 0.25)
    plugin = ALL[name]()
    a = plugin.process(x, SR)
    b = plugin.process(x.astype(np.float64), SR)
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(TypeError):
        plugin.process((x * 1000).astype(np.int16), SR)


@pytest.mark.parametrize("name", ALL)
def test_reset_true_clears_state(name):
    x = noise(2, 0.25)
    plugin = ALL[name]()
    first = plugin.process(x, SR)
    plugin.process(noise(2, 0.1, seed=5), SR, reset=False)  # leave state behind
    again = plugin.process(x, SR, reset=True)
    np.testing.assert_allclose(again, first, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_output_does_not_depend_on_buffer_size(name):
    x = noise(2, 0.25)
    plugin = ALL[name]()
    ref = plugin.process(x, SR, buffer_size=8192)
    for size in (64, 1000, 4096):
        np.testing.assert_allclose(plugin.process(x, SR, buffer_size=size), ref, atol=1e-5, err_msg=str(size))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("sizes", [[37], [1000], [4096], [12345], [37, 1000, 4096, 12345]])
def test_streaming_plus_flush_equals_whole(name, sizes):
    x = noise(2, 0.5)
    plugin = hosted(ALL[name])
    whole = plugin.process(x, SR)
    got = stream(plugin, x, sizes)
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, atol=1e-5)


@pytest.mark.parametrize("name", PYTHON)
def test_latency_alignment(name):
    """Before flush a stream has returned exactly len(input) - latency samples."""
    x = noise(2, 0.5)
    plugin = PYTHON[name]()
    if plugin.needs_fit:  # what render's pre-pass does; unfitted, such a stage holds audio back
        while plugin.fit([x], SR):
            pass
    plugin.reset()
    out = plugin.process(x, SR, reset=False)
    latency = plugin.latency_samples
    assert isinstance(latency, int) and latency >= 0
    assert out.shape[1] == max(0, x.shape[1] - latency)
    assert plugin.flush().shape[1] == x.shape[1] - out.shape[1]


@pytest.mark.parametrize("name", ALL)
def test_separate_instances_are_thread_safe(name):
    inputs = [noise(2, 0.25, seed=s) for s in range(4)]
    expected = [ALL[name]().process(x, SR) for x in inputs]
    results: list = [None] * 4

    def work(i: int) -> None:
        results[i] = hosted(ALL[name]).process(inputs[i], SR)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=False):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 6000), min_size=1, max_size=6))
def test_random_chunk_sizes(name, sizes):
    x = noise(2, 0.3)
    plugin = hosted(ALL[name])
    whole = plugin.process(x, SR)
    sizes[0] = max(sizes[0], 3)  # a first chunk of 1-2 stereo samples is ambiguous, as in pedalboard
    np.testing.assert_allclose(stream(plugin, x, sizes), whole, atol=1e-5)


# --------------------------------------------------------------------------- block-size-dependent natives
# Many real plugins answer with other samples when the host cuts the audio into other blocks
# (block-rate modulation, per-block analysis). tests/vst3's ClarityTestBlock is one by design:
# per block, out = g * in + mean(block) / 2, g a 10 Hz LFO stepped at the block's first sample.
# A Chain must feed such a plugin the same calls streamed as whole: one buffer_size unit per call,
# the last unit padded with silence.
UNEVEN = [[1000, 4096, 37, 12345], [37], [4096], [12345]]


def block_dependent(name: str, request) -> pedalboard.Plugin:
    if name == "Reverb":
        return pedalboard.Reverb(room_size=0.9, wet_level=0.5)
    return pedalboard.load_plugin(str(request.getfixturevalue("vst3_plugins")["block"]))


def block_model(x: np.ndarray, size: int) -> np.ndarray:
    """What ClarityTestBlock returns when fed units of ``size`` samples, the last padded with silence."""
    n = x.shape[1]
    padded = np.zeros((x.shape[0], -(-n // size) * size))
    padded[:, :n] = x
    out = np.empty_like(padded)
    for start in range(0, padded.shape[1], size):
        block = padded[:, start : start + size]
        gain = 0.75 + 0.25 * np.sin(2 * np.pi * (start % 4800) / 4800)
        out[:, start : start + size] = gain * block + 0.5 * block.mean(axis=1, keepdims=True)
    return out[:, :n]


def test_the_block_plugin_depends_on_its_blocks_and_a_chain_feeds_it_whole_padded_units(vst3_plugins):
    x = noise(2, 0.5)  # 24000 samples: two whole 8192 blocks and a short one
    plugin = pedalboard.load_plugin(str(vst3_plugins["block"]))
    # The plugin is what it claims: its output moves with the host's block size and last block.
    assert np.abs(plugin(x, SR, buffer_size=4096) - plugin(x, SR, buffer_size=8192)).max() > 0.05
    own = plugin(x, SR)  # pedalboard's whole call ends on a short block of 7616
    assert np.abs(own[:, 16384:] - block_model(x, 8192)[:, 16384:]).max() > 2e-5
    for size in (8192, 1000, 3):
        np.testing.assert_allclose(cfx.Chain([plugin])(x, SR, buffer_size=size), block_model(x, size),
                                   atol=2e-7, err_msg=str(size))
    mono = cfx.Chain([plugin])  # a stereo-only plugin fed mono as two equal channels
    np.testing.assert_allclose(mono(x[0], SR), block_model(x[:1], 8192)[0], atol=2e-7)


@pytest.mark.parametrize("name", ["Reverb", "ClarityTestBlock"])
@pytest.mark.parametrize("sizes", UNEVEN, ids=str)
def test_block_size_dependent_natives_stream_exactly_like_the_whole_call(name, sizes, request):
    x = noise(2, 0.6)
    chain = cfx.Chain([block_dependent(name, request)])
    whole = chain(x, SR)
    np.testing.assert_array_equal(stream(chain, x, sizes), whole)
    np.testing.assert_array_equal(stream(chain, x[0], sizes), chain(x[0], SR))  # mono too


def test_block_size_dependent_natives_inside_a_mixed_chain_stream_like_the_whole_call(vst3_plugins):
    x = noise(2, 0.6)
    block = pedalboard.load_plugin(str(vst3_plugins["block"]))
    chain = cfx.Chain([
        pedalboard.HighpassFilter(80), block,  # one pedalboard.Pedalboard stage
        cfx.FFTFilter(impulse_response=np.hanning(33) / 16, ir_delay_samples=16),
        pedalboard.Reverb(room_size=0.9),
        cfx.Mix([cfx.Chain([pedalboard.load_plugin(str(vst3_plugins["block"]))]), pedalboard.Gain(-6)]),
    ])
    whole = chain(x, SR)
    for sizes in UNEVEN:
        np.testing.assert_allclose(stream(chain, x, sizes), whole, atol=1e-6, err_msg=str(sizes))
    np.testing.assert_allclose(stream(chain, x, [1000], buffer_size=1000), chain(x, SR, buffer_size=1000),
                               atol=1e-6)


@pytest.mark.parametrize("name", ["Reverb", "ClarityTestBlock"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 20000), min_size=1, max_size=6))
def test_block_size_dependent_natives_at_random_chunk_sizes(name, sizes, request):
    x = noise(2, 0.4)
    chain = cfx.Chain([block_dependent(name, request)])
    sizes[0] = max(sizes[0], 3)  # a first chunk of 1-2 stereo samples is ambiguous, as in pedalboard
    np.testing.assert_array_equal(stream(chain, x, sizes), chain(x, SR))
