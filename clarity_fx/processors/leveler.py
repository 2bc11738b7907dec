"""Speech leveler: a slow, look-ahead gain that brings every passage to one loudness.

An automatic gain control in the manner of Auphonic's leveler: it measures
gated short-term loudness (ITU-R BS.1770-4 K-weighting, 3 s windows) and
moves the gain towards a target, within a maximum boost and cut, and never
raises it where nobody speaks, so pauses and background noise are not
pulled up.
"""

from __future__ import annotations

import math

import numpy as np

from ..bs1770 import L_K_OFFSET, T_STEP, default_weights, k_weighting_sos
from ..meters import T_M, T_S
from ..plugin import Param, Plugin, StreamState

__all__ = ["Leveler"]

#: Sub-block of the loudness measurement, seconds (BS.1770's 100 ms step).
SUB_BLOCK_S = T_STEP
#: Sub-blocks in the momentary (400 ms) and short-term (3 s) windows.
MOMENTARY_BLOCKS = round(T_M / SUB_BLOCK_S)
SHORT_TERM_BLOCKS = round(T_S / SUB_BLOCK_S)
#: Fewest speech sub-blocks a 3 s window needs before its loudness moves the gain (1 s).
MIN_SPEECH_BLOCKS = 10
#: How fast the speech reference of the relative gate sinks while nobody speaks, LU/s, so
#: that a speaker much quieter than the last one is eventually let through the gate.
REFERENCE_RELEASE_LU_PER_S = 1.0
#: Time constant of the speech reference (mean momentary loudness of speech), seconds.
REFERENCE_TIME_S = 10.0


class Leveler(Plugin):
    r"""Bring every speech passage to ``target_lufs`` without lifting pauses or noise.

    Parameters
    ----------
    target_lufs : float, optional
        Short-term loudness wanted for speech, LUFS (default −18).
    max_boost_db, max_cut_db : float, optional
        Largest gain up and down, dB (default 15 each).
    gate_lufs : float, optional
        Absolute gate: momentary loudness below this is never speech (default −50).
    gate_relative_lu : float, optional
        Relative gate: momentary loudness this far below the running speech
        level is not speech either (default 20).
    smoothing_s : float, optional
        Half-width of the gain's smoothing window, seconds (default 1.5);
        it is also how far ahead of a loud passage the gain starts to fall.
    max_rise_db_per_s : float, optional
        Fastest rise of the gain while someone speaks, dB/s (default 8).

    Notes
    -----
    With ``E_j`` the mean K-weighted power (BS.1770-4 §2.1, channel weights
    ``G_i``) of 100 ms sub-block ``j``:

    1. **Speech gate** (per sub-block). Momentary loudness
       ``M_j = −0.691 + 10 log10(mean(E_{j−2..j+1}))``; sub-block ``j`` is speech
       when ``M_j > max(Γ_a, R_j − Γ_r)``, with ``Γ_a = gate_lufs``,
       ``Γ_r = gate_relative_lu`` and ``R`` the running speech level (a
       10 s exponential mean of ``M`` over speech, sinking 1 LU/s while
       nobody speaks). This is BS.1770-4's two-gate scheme, with the
       relative gate following the speaker.
    2. **Gated short-term loudness** (every 100 ms, frame ``k`` at
       ``t = 0.1 k`` s, 3 s window centred on it):
       ``S_k = −0.691 + 10 log10(mean{E_j : j ∈ [k−15, k+14], speech})``.
    3. **Target gain**: ``d_k = clip(L_target − S_k, −max_cut, +max_boost)``
       where the window holds at least 1 s of speech; otherwise ``d_k = d_{k−1}``
       (held).
    4. **Look-ahead smoothing**: ``s_k = Σ_i w_i d_{k+i} / Σ_i w_i``, a Hann
       window of half-width ``smoothing_s``, centred, so the gain starts to
       move before a loud passage arrives.
    5. **No rise without speech**: ``g_k = min(s_k, g_{k−1} + ρ)`` with
       ``ρ = max_rise·0.1 s`` where sub-block ``k−1`` or ``k`` is speech and
       ``ρ = 0`` where not: the gain may fall in a pause (ahead of a loud
       passage) but never rise.
    6. ``y[n] = 10^{g(n)/20} x[n]``, ``g(n)`` interpolated linearly in dB
       between frames; the output is delayed by the look-ahead,
       ``(round(smoothing_s/0.1) + 17) × 100 ms`` (3.2 s by default).

    Stereo and multichannel audio get one linked gain.

    References
    ----------
    .. [1] ITU-R BS.1770-4, *Algorithms to measure audio programme loudness
       and true-peak audio level*, 2015 (K-weighting, gating).
    .. [2] EBU Tech 3341, *Loudness Metering: 'EBU Mode' metering*, 2016
       (momentary 400 ms and short-term 3 s windows).
    .. [3] Auphonic, "Adaptive Leveler" documentation (a speech leveler that
       levels speakers and does not amplify pauses or noise), auphonic.com/help.
    .. [4] D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range
       Compressor Design — A Tutorial and Analysis", JAES 60(6), 2012 (gain
       computer and smoothing in the dB domain).

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> sr = 48000
    >>> rng = np.random.default_rng(0)
    >>> quiet = 0.01 * rng.standard_normal(6 * sr)
    >>> out = cfx.Leveler(target_lufs=-18.0)(quiet.astype(np.float32), sr)
    >>> bool(np.std(out[4 * sr :]) > 3 * np.std(quiet[4 * sr :]))
    True
    """

    target_lufs = Param(-18.0, unit="LUFS", minimum=-60.0, maximum=0.0,
                        help="Short-term loudness wanted for speech.")
    max_boost_db = Param(15.0, unit="dB", minimum=0.0, maximum=40.0, help="Largest gain up.")
    max_cut_db = Param(15.0, unit="dB", minimum=0.0, maximum=40.0, help="Largest gain down.")
    gate_lufs = Param(-50.0, unit="LUFS", minimum=-90.0, maximum=-10.0,
                      help="Momentary loudness below this is never speech (the gain holds).")
    gate_relative_lu = Param(20.0, unit="LU", minimum=3.0, maximum=60.0,
                             help="Momentary loudness this far below the running speech level is not speech.")
    smoothing_s = Param(1.5, unit="s", minimum=0.1, maximum=10.0,
                        help="Half-width of the gain smoothing: how early it falls before a loud passage.")
    max_rise_db_per_s = Param(8.0, unit="dB/s", minimum=0.1, maximum=200.0,
                              help="Fastest rise of the gain while someone speaks.")

    @classmethod
    def conformance_example(cls) -> Leveler:
        """An engaged example for the shared conformance tests (the test noise is boosted)."""
        return cls(target_lufs=-10.0, smoothing_s=0.3)

    def _half_width(self) -> int:
        return max(1, round(self.smoothing_s / SUB_BLOCK_S))

    def latency_for(self, sample_rate: float) -> int:
        sub = max(1, round(SUB_BLOCK_S * sample_rate))
        return (self._half_width() + SHORT_TERM_BLOCKS // 2 + 2) * sub

    @property
    def gain_db(self) -> np.ndarray:
        """The gain ``g_k`` of the current (or last) stream so far, dB, every 100 ms from 0 s.

        Frame ``k`` applies at ``0.1·k`` s of the input; the trace runs on
        past the end by the look-ahead (the flush's padding).
        """
        state = self._state
        if state is None or "gain" not in state:
            return np.zeros(0)
        return np.asarray(state.gain)

    # ------------------------------------------------------------------ stream set-up
    def _setup(self, state: StreamState) -> None:
        fs = state.sample_rate
        state.sub = max(1, round(SUB_BLOCK_S * fs))
        state.sos = k_weighting_sos(fs)
        state.zi = np.zeros((state.sos.shape[0], state.channels, 2))
        state.weights = default_weights(state.channels)
        state.partial = 0.0
        state.energy: list[float] = []  # E_j, sub-blocks from 0
        state.speech: list[bool] = []  # gate per sub-block
        state.reference: float | None = None  # R, running speech level
        state.target: list[float] = []  # d_k
        state.gain: list[float] = []  # g_k
        state.half = self._half_width()
        i = np.arange(-state.half, state.half + 1)
        state.smoother = 0.5 * (1.0 + np.cos(np.pi * i / (state.half + 1)))
        state.latency = self.latency_for(fs)

    # ------------------------------------------------------------------ the measurement
    def _measure(self, block: np.ndarray, state: StreamState) -> None:
        """Add the block's K-weighted energy to the 100 ms sub-blocks ``E_j``."""
        from .butterworth import sosfilt_stream

        y = sosfilt_stream(state.sos, np.ascontiguousarray(block), state.zi).astype(np.float64)
        power = state.weights @ (y * y)  # Σ_i G_i y_i², per sample
        start, sub = state.position, state.sub
        i = 0
        n = power.shape[0]
        while i < n:
            room = sub - (start + i) % sub
            take = min(room, n - i)
            state.partial += float(power[i : i + take].sum())
            i += take
            if take == room:
                state.energy.append(state.partial / sub)
                state.partial = 0.0

    def _gate(self, state: StreamState) -> None:
        """Step 1 for every sub-block whose momentary window is complete."""
        energy = state.energy
        alpha = SUB_BLOCK_S / REFERENCE_TIME_S
        release = REFERENCE_RELEASE_LU_PER_S * SUB_BLOCK_S
        back, ahead = MOMENTARY_BLOCKS // 2, MOMENTARY_BLOCKS // 2 - 1
        while len(state.speech) + ahead < len(energy):
            j = len(state.speech)
            window = energy[max(0, j - back) : j + ahead + 1]
            mean = sum(window) / MOMENTARY_BLOCKS
            momentary = L_K_OFFSET + 10.0 * math.log10(mean) if mean > 0 else -math.inf
            threshold = self.gate_lufs
            if state.reference is not None:
                threshold = max(threshold, state.reference - self.gate_relative_lu)
            is_speech = momentary > threshold
            if is_speech:
                r = state.reference
                state.reference = momentary if r is None else r + alpha * (momentary - r)
            elif state.reference is not None:
                state.reference = max(self.gate_lufs, state.reference - release)
            state.speech.append(is_speech)

    def _targets(self, state: StreamState) -> None:
        """Steps 2–3 for every frame whose 3 s window has been gated."""
        back, ahead = SHORT_TERM_BLOCKS // 2, SHORT_TERM_BLOCKS // 2 - 1
        while len(state.target) + ahead < len(state.speech):
            k = len(state.target)
            lo, hi = max(0, k - back), k + ahead + 1
            picked = [e for e, s in zip(state.energy[lo:hi], state.speech[lo:hi], strict=True) if s]
            if len(picked) >= MIN_SPEECH_BLOCKS and sum(picked) > 0:
                loudness = L_K_OFFSET + 10.0 * math.log10(sum(picked) / len(picked))
                wanted = self.target_lufs - loudness
                state.target.append(min(self.max_boost_db, max(-self.max_cut_db, wanted)))
            else:
                state.target.append(state.target[-1] if state.target else 0.0)

    def _gains(self, state: StreamState) -> None:
        """Steps 4–5 for every frame whose smoothing window is complete."""
        half = state.half
        rise = self.max_rise_db_per_s * SUB_BLOCK_S
        while len(state.gain) + half < len(state.target):
            k = len(state.gain)
            lo = max(0, k - half)
            w = state.smoother[lo - (k - half) :]
            smooth = float(np.dot(w, state.target[lo : k + half + 1]) / w.sum())
            if not state.gain:
                state.gain.append(smooth)
                continue
            speaking = state.speech[k] or (k > 0 and state.speech[k - 1])
            state.gain.append(min(smooth, state.gain[-1] + (rise if speaking else 0.0)))

    # ------------------------------------------------------------------ processing
    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "sos" not in state:
            self._setup(state)
        n = block.shape[1]
        self._measure(block, state)
        self._gate(state)
        self._targets(state)
        self._gains(state)
        state.raw = np.concatenate([state.raw, block], axis=1) if "raw" in state else block.copy()
        first = state.position - state.latency
        out = np.zeros((state.channels, n), np.float32)
        begin = max(0, -first)
        if begin < n:
            start = first + begin
            count = n - begin
            t = np.arange(start, start + count) / state.sub  # in frames
            k_hi = int(math.floor(t[-1])) + 1
            assert k_hi < len(state.gain), "Leveler latency too short"
            k_lo = int(math.floor(t[0]))
            frames = np.arange(k_lo, k_hi + 1)
            gain_db = np.interp(t, frames, state.gain[k_lo : k_hi + 1])
            raw_start = state.position + n - state.raw.shape[1]
            dry = state.raw[:, start - raw_start : start - raw_start + count]
            out[:, begin:] = dry * (10.0 ** (gain_db / 20.0))
            state.raw = state.raw[:, start + count - raw_start :]
        return out
