"""A chain's frequency response as numbers: each stage's complex response, and their product.

No drawing here (and no matplotlib): :func:`clarity_fx.plot.plot_response`
draws what these functions return.

Frequency response
------------------
:func:`chain_response` multiplies the complex responses of a chain's linear
stages. A stage that has ``frequency_response(freqs, sample_rate)`` (the
clarity-fx filters) gives it exactly; any other stage is measured: a unit
impulse inside a 1-second buffer goes through the stage alone, in one
whole-buffer call, and the DFT of the output is its response. Stages that are
not linear and time-invariant are skipped, by this rule:

1. the class name is in :data:`NON_LINEAR_TYPES` (compressors, limiters,
   gates, noise reduction, reverb, distortion, codecs, modulation), or the
   stage reports a ``gain_reduction_db`` (it is a dynamics processor), or a
   container (``Mix``, ``Blend``) holds such a stage;
2. otherwise, unless the class is in :data:`LINEAR_TYPES`, a probe: the
   impulse is measured at two amplitudes (0 dB and −26 dB) and the stage is
   skipped when the two responses differ by more than 0.5 dB.

The probe cannot see a compressor whose threshold one impulse does not reach;
add the names of such third-party plugins to :data:`NON_LINEAR_TYPES`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ParameterError
from .validate import check_sample_rate

__all__ = [
    "LINEAR_TYPES",
    "NON_LINEAR_TYPES",
    "StageResponse",
    "chain_response",
    "describe_stage",
    "stage_responses",
]

#: Stage classes skipped by :func:`chain_response`, with the reason shown in the plot.
NON_LINEAR_TYPES: dict[str, str] = {
    # dynamics: the gain depends on the level
    "Compressor": "dynamics",
    "Limiter": "dynamics",
    "BrickwallLimiter": "dynamics",
    "NoiseGate": "dynamics",
    "HardKneeCompressor": "dynamics",
    "TruePeakLimiter": "dynamics",
    "LoudnessNormalize": "dynamics",
    # noise reduction: the gain depends on the signal-to-noise ratio
    "SpectralSubtraction": "noise reduction",
    # reverb: its tail outlasts the measurement
    "Reverb": "reverb",
    # waveshaping and codecs
    "Distortion": "distortion",
    "Clipping": "distortion",
    "Bitcrush": "distortion",
    "LadderFilter": "distortion",
    "GSMFullRateCompressor": "codec",
    "MP3Compressor": "codec",
    # not time-invariant
    "Chorus": "modulation",
    "Phaser": "modulation",
    "PitchShift": "pitch shift",
    "Resample": "resampling",
    "Automate": "automation",
}

#: Stage classes known to be linear and time-invariant: measured without the probe.
LINEAR_TYPES: frozenset[str] = frozenset(
    {
        "HighpassFilter", "LowpassFilter", "PeakFilter", "LowShelfFilter", "HighShelfFilter",
        "IIRFilter", "Gain", "Invert", "Delay", "Convolution",
        "FFTFilter", "AnalyticFilter", "ButterworthFilter",
    }
)  # fmt: skip

#: Impulse amplitudes of the linearity probe (0 dB and −26 dB), and how far apart
#: (dB) the two responses may be for a stage still to count as linear.
_PROBE_AMPLITUDES = (1.0, 0.05)
_PROBE_TOLERANCE_DB = 0.5


@dataclass(frozen=True)
class StageResponse:
    """One stage's part in :func:`chain_response`.

    Attributes
    ----------
    name : str
        Class name and main parameters, for legends.
    response : numpy.ndarray or None
        Complex response at the requested frequencies; None when skipped.
    method : str
        ``"analytic"`` (the stage's ``frequency_response``), ``"impulse"``
        (measured) or ``"skipped"``.
    reason : str
        Why it was skipped (``"dynamics"``, ``"noise reduction"``, ...).
    """

    name: str
    response: np.ndarray | None
    method: str
    reason: str = ""

    @property
    def is_skipped(self) -> bool:
        """Whether the stage was left out of the combined response."""
        return self.response is None


def _flatten(item: Any) -> list[Any]:
    """Stages in series: Chains, pedalboard Pedalboards/Chains and lists are opened, Mixes are not."""
    from .chain import children_of, is_series

    if item is None:
        return []
    if isinstance(item, (list, tuple)) or is_series(item):
        inner = item if isinstance(item, (list, tuple)) else children_of(item)
        return [stage for part in inner for stage in _flatten(part)]
    return [item]


def _contents(item: Any) -> list[Any]:
    """Plugins held by a container or wrapper (the one children protocol of :func:`chain.walk`)."""
    from .chain import children_of

    return list(children_of(item))


def _non_linear_reason(item: Any) -> str:
    """Rule 1 of the module docstring: the reason to skip ``item``, or ``""``."""
    name = type(item).__name__
    if name in NON_LINEAR_TYPES:
        return NON_LINEAR_TYPES[name]
    if hasattr(type(item), "gain_reduction_db"):
        return "dynamics"
    for inner in _contents(item):
        reason = _non_linear_reason(inner)
        if reason:
            return reason
    return ""


def _is_known_linear(item: Any) -> bool:
    if type(item).__name__ not in LINEAR_TYPES:
        return False
    return all(_is_known_linear(inner) for inner in _contents(item))


def describe_stage(item: Any, max_chars: int = 70) -> str:
    """Short label of a stage: class and main parameters, ``HighpassFilter(cutoff_frequency_hz=1000)``."""
    from .chain import is_native

    name = type(item).__name__
    if is_native(item):
        match = re.match(r"<\S+\s+(.*?)\s+at 0x[0-9a-fA-F]+>$", repr(item))
        inner = ", ".join(match.group(1).split()) if match else ""
    elif hasattr(item, "get_params") and hasattr(type(item), "params"):
        specs = type(item).params()
        shown = []
        for key, value in item.get_params().items():
            # Text choices (kind, mode) and frequencies/levels always; other numbers when changed.
            is_main = isinstance(value, str) or key.endswith(("_hz", "_db"))
            if isinstance(value, bool) or value is None or not (is_main or value != specs[key].default):
                continue
            if isinstance(value, (int, float, str)):
                shown.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
        inner = ", ".join(shown)
    else:
        inner = ""
    label = f"{name}({inner})" if inner else name
    return label if len(label) <= max_chars else label[: max_chars - 1] + "…"


def _impulse_output(item: Any, sample_rate: float, length: int, at: int, amplitude: float) -> np.ndarray:
    """Output of ``item`` for an impulse at sample ``at``; one whole-buffer call, mono or else stereo."""
    impulse = np.zeros((1, length), dtype=np.float32)
    impulse[0, at] = amplitude
    try:
        out = item.process(impulse, sample_rate, buffer_size=8192, reset=True)
    except (ValueError, RuntimeError, TypeError):
        out = item.process(np.repeat(impulse, 2, axis=0), sample_rate, buffer_size=8192, reset=True)
    out = np.asarray(out, dtype=np.float64)
    out = out if out.ndim == 2 else out[None, :]
    if out.shape[1] != length and out.shape[0] == length:
        out = out.T
    return out[0] / amplitude


def _response_from_ir(ir: np.ndarray, at: int, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    """DFT of ``ir`` taken with sample ``at`` as time zero, interpolated at ``freqs``.

    Samples before ``at`` (a linear-phase filter's pre-ringing) are wrapped to
    negative times; zero-padding to 4× the length gives a grid of
    ``fs / (4·len)`` Hz, fine enough for linear interpolation.
    """
    import scipy.fft

    size = 4 * ir.size
    padded = np.zeros(size)
    padded[: ir.size - at] = ir[at:]
    padded[size - at :] = ir[:at]
    spectrum = scipy.fft.rfft(padded)
    grid = np.arange(spectrum.size) * sample_rate / size
    return np.interp(freqs, grid, spectrum.real) + 1j * np.interp(freqs, grid, spectrum.imag)


def _measure(item: Any, freqs: np.ndarray, sample_rate: float, probe: bool) -> tuple[np.ndarray | None, str]:
    length = 1 << int(math.ceil(math.log2(sample_rate)))  # ≥ 1 s
    at = length // 4  # room for pre-ringing before, 0.75 s of tail after
    responses = []
    for amplitude in _PROBE_AMPLITUDES if probe else _PROBE_AMPLITUDES[:1]:
        try:
            ir = _impulse_output(item, sample_rate, length, at, amplitude)
        except Exception as err:  # a third-party plugin may refuse anything; say so in the legend
            return None, f"could not measure: {type(err).__name__}"
        if not np.isfinite(ir).all():
            return None, "non-finite output"
        responses.append(_response_from_ir(ir, at, freqs, sample_rate))
    if probe:
        loud, quiet = np.abs(responses[0]), np.abs(responses[1])
        audible = loud > loud.max() * 1e-3
        with np.errstate(divide="ignore", invalid="ignore"):
            difference = np.abs(20.0 * np.log10(loud[audible] / quiet[audible]))
        if not np.all(difference <= _PROBE_TOLERANCE_DB):
            return None, "non-linear (probe)"
    return responses[0], ""


def _check_freqs(freqs: Any, sample_rate: float) -> np.ndarray:
    f = np.asarray(freqs, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or not np.isfinite(f).all() or (f < 0).any():
        raise ParameterError("freqs must be a non-empty 1-D array of frequencies >= 0 Hz")
    if (f > sample_rate / 2.0).any():
        raise ParameterError(f"freqs must not exceed Nyquist ({sample_rate / 2:g} Hz at {sample_rate:g} Hz)")
    return f


def stage_responses(stages_or_chain: Any, freqs: np.ndarray, sample_rate: float) -> list[StageResponse]:
    """Complex response of each stage in series, or why it was skipped.

    Parameters
    ----------
    stages_or_chain : Chain, pedalboard.Pedalboard, list or plugin
        Chains and lists are opened (nested ones too); a ``Mix`` is one stage.
    freqs : numpy.ndarray
        Frequencies in Hz, 0 to Nyquist.
    sample_rate : float
        Hz.

    Returns
    -------
    list of StageResponse
        In chain order, skipped stages included (``response=None``).

    Notes
    -----
    Measuring a stage processes audio through it with ``reset=True``: an
    open stream of that stage is reset. The rule that skips stages is in
    the module docstring.
    """
    sample_rate = check_sample_rate(sample_rate)
    f = _check_freqs(freqs, sample_rate)
    results = []
    for item in _flatten(stages_or_chain):
        label = describe_stage(item)
        reason = _non_linear_reason(item)
        if reason:
            results.append(StageResponse(label, None, "skipped", reason))
        elif callable(getattr(item, "frequency_response", None)):
            response = np.asarray(item.frequency_response(f, sample_rate), dtype=np.complex128)
            results.append(StageResponse(label, response, "analytic"))
        else:
            response, why = _measure(item, f, sample_rate, probe=not _is_known_linear(item))
            method = "impulse" if response is not None else "skipped"
            results.append(StageResponse(label, response, method, why))
    return results


def chain_response(chain: Any, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    """Combined complex response of a chain's linear stages: ``H(f) = Π_i H_i(f)``.

    Parameters
    ----------
    chain : Chain, pedalboard.Pedalboard, list or plugin
        The stages, in series.
    freqs : numpy.ndarray
        Frequencies in Hz, 0 to Nyquist.
    sample_rate : float
        Hz.

    Returns
    -------
    numpy.ndarray
        Complex, the shape of ``freqs``; ones when no stage is linear.
        Non-linear stages are left out (see :func:`stage_responses`).

    Examples
    --------
    >>> import numpy as np, pedalboard, clarity_fx as cfx
    >>> from clarity_fx.response import chain_response
    >>> h = chain_response(cfx.Chain([pedalboard.HighpassFilter(1000)]), np.array([1000.0]), 48000)
    >>> round(float(20 * np.log10(abs(h[0]))), 2)
    -3.01
    """
    sample_rate = check_sample_rate(sample_rate)
    f = _check_freqs(freqs, sample_rate)
    total = np.ones(f.shape, dtype=np.complex128)
    for stage in stage_responses(chain, f, sample_rate):
        if stage.response is not None:
            total *= stage.response
    return total
