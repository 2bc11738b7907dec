"""Butterworth filters from ``scipy.signal.butter``, streamed as second-order sections.

Also home of :func:`sosfilt_stream`, the cascade-of-biquads kernel that every
IIR processor here runs on: ``scipy.signal.sosfilt`` semantics, compiled with
numba, state carried across blocks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from ..errors import ParameterError
from ..plugin import Param, Plugin, StreamState, frequency_param

__all__ = ["ButterworthFilter", "check_frequencies", "sosfilt_stream", "stream_sos"]

KINDS = ("lowpass", "highpass", "bandpass", "bandstop")
_BAND_KINDS = ("bandpass", "bandstop")


# --------------------------------------------------------------------------- the kernel
@functools.cache
def _compiled_sosfilt() -> Callable[..., np.ndarray]:
    # numba costs ~0.5 s to import: only pay it when a filter first runs. The kernels
    # live at module level in _sos_kernels, where numba's disk cache can find them
    # again (closures are compiled afresh in every process).
    from ._sos_kernels import cascade

    return cascade


def sosfilt_stream(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """Filter ``x`` through biquads ``sos``, updating ``zi`` in place.

    The same recursion as ``scipy.signal.sosfilt(sos, x, axis=1, zi=zi)``
    (transposed direct form II, float64 arithmetic), about 4× faster on
    stereo float32 audio because it never converts the signal to float64.

    Parameters
    ----------
    sos : numpy.ndarray
        ``(sections, 6)`` rows ``[b0, b1, b2, 1, a1, a2]`` (``a0`` must be 1).
    x : numpy.ndarray
        ``(channels, n)`` float32.
    zi : numpy.ndarray
        ``(sections, channels, 2)`` float64 filter state, modified in place;
        its layout differs from scipy's ``(sections, 2)`` per channel only
        in axis order.

    Returns
    -------
    numpy.ndarray
        ``(channels, n)`` float32.
    """
    return _compiled_sosfilt()(np.ascontiguousarray(sos, np.float64), x, zi)


def stream_sos(sos: np.ndarray, block: np.ndarray, state: StreamState) -> np.ndarray:
    """Run one block through ``sos`` with the filter memory kept in ``state.zi``.

    The memory survives coefficient changes (a cutoff automation), which keeps
    the output continuous. When the number of sections changes (an ``order``
    automation) the sections no longer correspond, and borrowed memories
    overshoot (4× the input's peak for a Butterworth low-pass stepping
    through orders 2–6), so the new cascade starts at rest instead.
    """
    zi = state.__dict__.get("zi")
    if zi is None or zi.shape[0] != sos.shape[0]:
        state.zi = zi = np.zeros((sos.shape[0], state.channels, 2))
    return sosfilt_stream(sos, block, zi)


def check_frequencies(plugin: Plugin, is_band: bool, strict: bool) -> None:
    """Check that ``plugin`` has the frequencies its kind needs (and, if ``strict``, no others).

    Band kinds need ``low_hz < high_hz``; the others need ``cutoff_hz``.

    Raises
    ------
    ParameterError
        Naming the missing, unwanted or misordered frequencies.
    """
    name = f"{type(plugin).__name__}({plugin.kind!r})"
    low, high, cutoff = plugin.low_hz, plugin.high_hz, plugin.cutoff_hz
    if is_band:
        if low is None or high is None:
            raise ParameterError(f"{name} needs low_hz and high_hz, e.g. low_hz=300, high_hz=3000")
        if low >= high:
            raise ParameterError(f"{name}: low_hz={low:g} must be below high_hz={high:g}; swap")
        if strict and cutoff is not None:
            raise ParameterError(f"{name} uses low_hz and high_hz, not cutoff_hz; drop cutoff_hz")
    else:
        if cutoff is None:
            raise ParameterError(f"{name} needs cutoff_hz, e.g. cutoff_hz=1000")
        if strict and (low is not None or high is not None):
            raise ParameterError(f"{name} uses cutoff_hz, not low_hz/high_hz; drop them")


# --------------------------------------------------------------------------- the processor
class ButterworthFilter(Plugin):
    """Butterworth low-, high-, band-pass or band-stop: maximally flat pass band.

    Parameters
    ----------
    kind : {"lowpass", "highpass", "bandpass", "bandstop"}
        Response type.
    cutoff_hz : float, optional
        −3 dB frequency for ``lowpass`` and ``highpass``.
    low_hz, high_hz : float, optional
        −3 dB band edges for ``bandpass`` and ``bandstop`` (``low_hz < high_hz``).
    order : int, optional
        ``N`` of ``scipy.signal.butter`` (default 4). As in scipy, band kinds
        have ``2·N`` poles: ``order=10`` band-pass is a 20-pole filter.

    Notes
    -----
    The analog prototype is ``|H(jΩ)|² = 1 / (1 + (Ω/Ω_c)^(2N))``; scipy maps
    it to the digital domain by the bilinear transform with the band edges
    pre-warped, so the digital response is exactly −3 dB (``|H|² = ½``) at
    ``cutoff_hz`` (or at ``low_hz`` and ``high_hz``) at every sample rate.
    The design is recomputed whenever the parameters or the sample rate
    change; the filter memory is carried across blocks and across such
    changes, so the output does not depend on how the stream is cut.

    Raises
    ------
    ParameterError
        At construction when the kind's frequencies are missing, not wanted or
        ``low_hz >= high_hz``; at process time when a frequency is at or above
        the Nyquist frequency.

    References
    ----------
    S. Butterworth, "On the Theory of Filter Amplifiers", Experimental
    Wireless and the Wireless Engineer 7, 536–541 (1930).

    Examples
    --------
    Telephone band, 300–3000 Hz:

    >>> import numpy as np, clarity_fx as cfx
    >>> from clarity_fx.processors.butterworth import ButterworthFilter
    >>> phone = ButterworthFilter("bandpass", low_hz=300, high_hz=3000, order=10)
    >>> gain = abs(phone.frequency_response(np.array([300.0, 1000.0, 3000.0]), 48000))
    >>> np.round(20 * np.log10(gain), 2)
    array([-3.01, -0.  , -3.01])
    """

    kind = Param("lowpass", kind=str, choices=KINDS, help="Response type.")
    cutoff_hz = frequency_param("-3 dB frequency of a lowpass or highpass.", below_nyquist=True)
    low_hz = frequency_param("Lower -3 dB edge of a bandpass or bandstop.", below_nyquist=True)
    high_hz = frequency_param("Upper -3 dB edge of a bandpass or bandstop.", below_nyquist=True)
    order = Param(
        4, kind=int, minimum=1, maximum=24, help="Butterworth order N (band kinds have 2N poles)."
    )

    def __init__(
        self,
        kind: str = "lowpass",
        cutoff_hz: float | None = None,
        low_hz: float | None = None,
        high_hz: float | None = None,
        order: int = 4,
    ) -> None:
        super().__init__(
            kind=kind, cutoff_hz=cutoff_hz, low_hz=low_hz, high_hz=high_hz, order=order
        )
        self._check_frequencies(strict=True)

    @classmethod
    def conformance_example(cls) -> ButterworthFilter:
        """An instance for the shared conformance tests (the kind needs a frequency)."""
        return cls("bandpass", low_hz=300, high_hz=3000, order=4)

    def _check_frequencies(self, strict: bool) -> None:
        check_frequencies(self, self.kind in _BAND_KINDS, strict)

    def _edges(self) -> float | tuple[float, float]:
        if self.kind in _BAND_KINDS:
            return (self.low_hz, self.high_hz)
        return self.cutoff_hz

    def sos_for(self, sample_rate: float) -> np.ndarray:
        """The second-order sections used at ``sample_rate``, ``(sections, 6)``.

        Raises
        ------
        ParameterError
            When a frequency is at or above ``sample_rate / 2``.
        """
        from scipy.signal import butter

        self._check_frequencies(strict=False)
        if self.kind in _BAND_KINDS:
            named = {"low_hz": self.low_hz, "high_hz": self.high_hz}
        else:
            named = {"cutoff_hz": self.cutoff_hz}
        nyquist = sample_rate / 2
        for name, value in named.items():
            if value >= nyquist:
                origin = getattr(self, "_clarity_origin", None)  # set when built from a preset
                fix = ("; or load the preset with sample_rate (load_preset(..., sample_rate=RATE)), "
                       "which clamps a key band" if origin else "")
                raise ParameterError(
                    f"{origin + ': ' if origin else ''}{name}={value:g} Hz is at or above the Nyquist "
                    f"frequency ({nyquist:g} Hz at {sample_rate:g} Hz); use a frequency below {nyquist:g} Hz "
                    f"or a higher sample rate{fix}"
                )
        edges = self._edges()
        return butter(self.order, edges, btype=self.kind, fs=sample_rate, output="sos")

    def frequency_response(self, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
        """Complex response of the digital filter at ``freqs`` Hz (``sosfreqz``)."""
        from scipy.signal import sosfreqz

        freqs = np.asarray(freqs, dtype=np.float64)
        _, response = sosfreqz(self.sos_for(sample_rate), worN=freqs.ravel(), fs=sample_rate)
        return response.reshape(freqs.shape)

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        key = (self.kind, self._edges(), self.order, state.sample_rate)
        if state.__dict__.get("key") != key:
            state.sos, state.key = self.sos_for(state.sample_rate), key
        return stream_sos(state.sos, block, state)
