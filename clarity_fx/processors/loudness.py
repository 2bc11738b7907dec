"""Loudness normalisation to a target (ITU-R BS.1770-4 / EBU R 128), with a true-peak ceiling.

The stage a mastering preset ends with. It needs the whole programme's
loudness before it can apply a gain, so ``render`` runs a measurement pass
first (:meth:`LoudnessNormalize.fit`), then the processing pass; memory stays
flat because the meter keeps only 100 ms energies.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..plugin import Param, Plugin, current_render
from .limiter import TruePeakLimiter

__all__ = ["LoudnessNormalize"]

#: Correcting passes the fit may take after the measurement (only when the limiter bites).
MAX_FIT_PASSES = 4
#: Stop correcting once the predicted output is this close to the target, in LU.
TOLERANCE_LU = 0.02


class LoudnessNormalize(Plugin):
    """Gain to reach ``target_lufs`` integrated loudness, then a true-peak-safe limiter.

    Parameters
    ----------
    target_lufs : float, optional
        Integrated loudness wanted, LUFS (−14 streaming, −16 podcast, −23 EBU R 128).
    true_peak_dbtp : float, optional
        Ceiling for the output's true peak (4× oversampled), dBTP.
    release_ms : float, optional
        Release of the ceiling limiter.
    gain_db_fixed : float, optional
        Skip the measurement and apply this gain (then the ceiling). Album
        mastering sets one gain for every track this way.

    Notes
    -----
    With ``L`` the programme's integrated loudness (BS.1770-4: K-weighting,
    400 ms blocks, −70 LUFS absolute and −10 LU relative gates),

    .. math:: G = L_{target} − L, \\qquad y = \\mathrm{TPL}_{C}(10^{G/20} · x),

    where ``TPL_C`` is :class:`~clarity_fx.TruePeakLimiter` with ceiling
    ``C = true_peak_dbtp``: gain the ceiling cannot take is limited, never
    clipped. When the limiter takes loudness away, the fit measures the
    limited output and corrects ``G`` along the secant (at most
    ``MAX_FIT_PASSES`` more passes), so the output lands within ±0.1 LU of
    the target. Silence (no block above the −70 LUFS gate) gets ``G = 0``.

    Streaming without a fit buffers the whole stream until :meth:`flush`;
    ``render`` fits first, so files stream with flat memory.

    Examples
    --------
    >>> import clarity_fx as cfx
    >>> master = cfx.LoudnessNormalize(target_lufs=-14.0, true_peak_dbtp=-1.0)
    """

    target_lufs = Param(-14.0, unit="LUFS", minimum=-70.0, maximum=0.0, help="Integrated loudness wanted.")
    true_peak_dbtp = Param(-1.0, unit="dBTP", minimum=-20.0, maximum=0.0, help="True-peak ceiling.")
    release_ms = Param(100.0, unit="ms", minimum=1.0, maximum=5000.0, help="Release of the ceiling limiter.")
    gain_db_fixed = Param(None, unit="dB", minimum=-70.0, maximum=70.0, nullable=True,
                          help="Apply this gain instead of measuring (album mode: one gain for all tracks).")

    @property
    def needs_fit(self) -> bool:  # type: ignore[override]
        """A measurement pass is needed unless the gain is fixed."""
        return self.gain_db_fixed is None

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._gain_db: float | None = None  # from fit; None means "measure the buffer"
        self._passes: list[tuple[float, float]] = []  # (gain dB, output loudness LUFS)
        self._input_lufs: float | None = None  # what the first fit pass measured
        self._last_gain_db: float | None = None  # of the last whole-buffer call, never of a render

    @property
    def gain_db(self) -> float | None:
        """The gain of the fit under way or of the last whole-buffer call, dB.

        A render leaves it as it was: read a render's gain from its report,
        ``render(...).stage("LoudnessNormalize").gain_db``.
        """
        if self.gain_db_fixed is not None:
            return self.gain_db_fixed
        return self._gain_db if self._gain_db is not None else self._last_gain_db

    def _limiter(self) -> TruePeakLimiter:
        return TruePeakLimiter(ceiling_dbtp=self.true_peak_dbtp, release_ms=self.release_ms)

    def latency_for(self, sample_rate: float) -> int:
        return self._limiter().latency_for(sample_rate)

    # ------------------------------------------------------------------ measurement
    @staticmethod
    def _loudness(blocks: Iterable[np.ndarray], sample_rate: float) -> float | None:
        from ..meters import LoudnessMeter

        meter = None
        for block in blocks:
            if meter is None:
                meter = LoudnessMeter(sample_rate, block.shape[0])
            meter.add(block)
        return None if meter is None else meter.result().integrated_lufs

    def fit(self, blocks: Iterable[np.ndarray], sample_rate: float) -> bool:
        """Measure (first pass) or check the limited result (later passes).

        The first pass measures the input, ``G₁ = L_target − L``. Each later
        pass measures the limited output at the current gain and moves the
        gain along the secant through the last two (gain, loudness) points,
        which converges in two or three passes even when the limiter works hard.

        Returns
        -------
        bool
            True when another pass over the same audio is wanted.
        """
        if not self._passes:
            measured = self._input_lufs = self._loudness(blocks, sample_rate)
            if measured is None:  # silence: nothing to normalise
                self._gain_db, self._passes = 0.0, [(0.0, self.target_lufs)]
                return False
            self._passes.append((0.0, measured))
            self._gain_db = self.target_lufs - measured
            return True
        assert self._gain_db is not None
        measured = self._loudness(self._limited_blocks(blocks, sample_rate), sample_rate)
        if measured is None:
            return False
        (g0, l0), g1 = self._passes[-1], self._gain_db
        self._passes.append((g1, measured))
        shortfall = self.target_lufs - measured
        if abs(shortfall) <= TOLERANCE_LU or len(self._passes) > MAX_FIT_PASSES:
            return False
        # The first point is the unlimited input, so the first correction is a plain step.
        slope = (measured - l0) / (g1 - g0) if len(self._passes) > 2 and g1 != g0 else 1.0
        # The limiter can only flatten the curve (0 < slope <= 1); keep steps sane.
        self._gain_db = g1 + shortfall / min(1.0, max(slope, 0.2))
        return True

    def _limited_blocks(self, blocks: Iterable[np.ndarray], sample_rate: float) -> Iterable[np.ndarray]:
        gain = 10.0 ** (self._gain_db / 20.0)
        return self._limiter().stream((b * gain for b in blocks), sample_rate)

    def _unfit(self) -> None:
        self._gain_db = None
        self._input_lufs = None
        self._passes = []

    # ------------------------------------------------------------------ processing
    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        render = current_render()
        applied = self.gain_db_fixed if self.gain_db_fixed is not None else self._gain_db
        if render is not None and applied is not None:
            # Measured loudness (None with a fixed gain or on silence) and the gain applied, dB.
            render.report(self, input_lufs=self._input_lufs, gain_db=applied)
        self._stage = self._limiter()
        self._stage._start_stream(sample_rate, channels, buffer_size)
        self._held: list[np.ndarray] = []

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        if self.gain_db_fixed is not None:
            return self._stage._push((audio * 10.0 ** (self.gain_db_fixed / 20.0)).astype(np.float32))
        if self._gain_db is None:  # not fitted: hold everything until flush
            self._held.append(audio)
            return np.zeros((audio.shape[0], 0), np.float32)
        return self._stage._push((audio * 10.0 ** (self._gain_db / 20.0)).astype(np.float32))

    def _finish_aligned(self, owed: int) -> np.ndarray:
        if self._gain_db is None and self.gain_db_fixed is None:
            audio = np.concatenate(self._held, axis=1) if self._held else np.zeros((1, 0), np.float32)
            self._held = []
            rate = self._stream["rate"]
            try:
                self._fit_array(audio, rate)
                head = self._stage._push((audio * 10.0 ** (self._gain_db / 20.0)).astype(np.float32))
                return np.concatenate([head, self._stage._finish()], axis=1)
            finally:
                self._last_gain_db = self._gain_db
                self._unfit()
        return self._stage._finish()

    def _fit_array(self, audio: np.ndarray, sample_rate: float) -> None:
        self._passes = []
        while self.fit([audio], sample_rate):
            pass

    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        if self.gain_db_fixed is not None:
            gain = 10.0 ** (self.gain_db_fixed / 20.0)
            return self._limiter()._process_whole((audio * gain).astype(np.float32), sample_rate, buffer_size)
        fitted_here = self._gain_db is None
        if fitted_here:
            self._fit_array(audio, sample_rate)
        try:
            gain = 10.0 ** (self._gain_db / 20.0)
            return self._limiter()._process_whole((audio * gain).astype(np.float32), sample_rate, buffer_size)
        finally:
            if fitted_here:
                self._last_gain_db = self._gain_db
                self._unfit()
