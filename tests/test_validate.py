"""The one input rule (clarity_fx.validate): one check and one message, wherever audio comes in."""

from __future__ import annotations

import numpy as np
import pytest

import clarity_fx as cfx
from clarity_fx import analysis, plot
from clarity_fx.errors import AudioInputError, ParameterError
from clarity_fx.validate import as_channels_first, check_sample_rate

SR = 48000
ENTRY_POINTS = {
    "Plugin.process": lambda audio, sr: cfx.ButterworthFilter(cutoff_hz=1000).process(audio, sr),
    "analyze_array": analysis.analyze_array,
    "spectrogram_db": lambda audio, sr: plot.spectrogram_db(audio, sr),
}


def message(call) -> str:
    with pytest.raises(ParameterError) as caught:
        call()
    return str(caught.value)


def test_layout_rule_reads_channels_on_the_smaller_axis():
    stereo = np.zeros((2, 100), np.float32)
    for given, is_last in ((stereo, False), (stereo.T, True), (np.zeros(5, np.float32), False)):
        audio, channels_last, _ = as_channels_first(given)
        assert audio.shape[0] == (2 if given.ndim == 2 else 1) and channels_last is is_last
    # A stream's channel count decides a 1-sample block, and its layout decides a square one.
    assert as_channels_first(np.zeros((1, 2)), channels=2)[0].shape == (2, 1)
    assert as_channels_first(np.zeros((2, 2)), channels_last=True)[1] is True


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 100), np.int16), np.zeros((2, 2, 2), np.float32)], ids=["int16", "3-D"]
)
def test_one_message_for_bad_audio_at_every_entry_point(bad):
    messages = {name: message(lambda f=f: f(bad, SR)) for name, f in ENTRY_POINTS.items()}
    assert len(set(messages.values())) == 1, messages
    with pytest.raises(TypeError):  # as pedalboard raises for these
        as_channels_first(bad)
    with pytest.raises(AudioInputError):
        as_channels_first(bad)


@pytest.mark.parametrize("rate", [0, -1.0, float("nan"), "48000", True])
def test_one_message_for_a_bad_sample_rate(rate):
    audio = np.zeros((2, 48000), np.float32)
    messages = {name: message(lambda f=f: f(audio, rate)) for name, f in ENTRY_POINTS.items()}
    # The meters need 8 kHz at least and say so; otherwise every entry point says the same.
    assert {m.replace(" of at least 8000", "") for m in messages.values()} == {
        f"sample_rate must be a positive number of Hz, not {rate!r}"
    }
    with pytest.raises(ParameterError, match="at least 8000"):
        check_sample_rate(4000, minimum=8000)
