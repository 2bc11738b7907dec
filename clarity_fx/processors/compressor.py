"""Feed-forward dynamic range compressor (Giannoulis, Massberg & Reiss, JAES 2012).

Level detection, a static gain computer in dB and a smoothed gain, in the
order the paper recommends (the peak detector in the log domain, after
the gain computer), then the gain applied to the — possibly
delayed — audio.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..keys import KeyMismatchError, KeySource
from ..plugin import Param, Plugin, StreamState, _empty, current_render
from .dynamics import LINK_MODES, GainTrace, kernels, time_constant_coefficient

__all__ = ["GainTrace", "HardKneeCompressor", "static_curve_db"]


def static_curve_db(
    level_db: np.ndarray | float, threshold_db: float, ratio: float, knee_db: float = 0.0
) -> np.ndarray:
    r"""Output level of the gain computer for an input level, in dB ([1]_, eq. 4).

    .. math::

        y_G = \begin{cases}
            x_G & 2(x_G − T) < −W \\
            x_G + (1/R − 1)\,(x_G − T + W/2)^2 / (2W) & 2|x_G − T| ≤ W \\
            T + (x_G − T)/R & 2(x_G − T) > W
        \end{cases}

    Parameters
    ----------
    level_db : float or numpy.ndarray
        Input level ``x_G`` in dB.
    threshold_db, ratio, knee_db : float
        ``T``, ``R`` and the knee width ``W`` (0: hard knee).

    Returns
    -------
    numpy.ndarray
        ``y_G`` in dB; the gain is ``y_G − x_G``.
    """
    x = np.asarray(level_db, dtype=np.float64)
    over = x - threshold_db
    above = threshold_db + over / ratio
    if knee_db <= 0:
        return np.where(over > 0, above, x)
    knee = x + (1.0 / ratio - 1.0) * (over + knee_db / 2) ** 2 / (2 * knee_db)
    return np.where(2 * over < -knee_db, x, np.where(2 * over > knee_db, above, knee))


def _sidechain_chain(value: Any) -> Any:
    """A ``key``: a plugin, a Chain, or a list of plugins (made a Chain)."""
    from ..chain import Chain, is_native

    if isinstance(value, Plugin) or is_native(value):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return Chain(value)
        except TypeError:
            pass
    hint = ("; for another recording use external_key or --key" if isinstance(value, (str, os.PathLike))
            else "")
    raise ParameterError(
        f"key must be a sidechain chain of processors (e.g. [butterworth_filter: {{kind: bandpass, ...}}]), "
        f"not {value!r:.60}{hint}"
    )


class HardKneeCompressor(Plugin):
    r"""Downward compressor: above the threshold, every ``R`` dB in become 1 dB out.

    Parameters
    ----------
    threshold_db : float, optional
        ``T``, the level where compression starts (default −18 dB).
    ratio : float, optional
        ``R`` (default 3): a 4:1 ratio turns every 4 dB above ``T`` into 1 dB.
    attack_ms, release_ms : float, optional
        Time constants of the gain reduction's rise (default 5 ms) and fall
        (default 80 ms): it covers 1 − 1/e of a step in that time.
    knee_db : float, optional
        Width ``W`` of the soft knee, centred on ``T`` (default 0: hard knee).
    detector : {"peak", "rms"}, optional
        Level detector: the sample's magnitude ``|x|`` (dBFS peak), or the
        RMS over a one-pole window of time constant ``rms_ms`` (dBFS, a
        full-scale square wave is 0 dB, a full-scale sine −3 dB).
    rms_ms : float, optional
        Time constant of the RMS detector's mean square (default 10 ms).
    makeup_db : float, optional
        Gain added after compression (default 0 dB).
    auto_makeup : bool, optional
        Add the paper's automatic makeup gain ``M = −(y_G(0) − 0)``, the
        reduction the static curve applies to a 0 dB input (default False).
        ``makeup_db`` is added on top as a trim.
    link : {"max", "mean", "none"}, optional
        Stereo (multichannel) link: one gain from the loudest channel's level
        (default), from the mean of the channels' levels (mean ``|x|``, or
        mean power for RMS), or each channel on its own.
    lookahead_ms : float, optional
        Delay the audio (not the detector) by this much, so the gain is
        already down when a transient arrives (default 0). Reported as
        latency, so the output stays aligned.
    range_db : float, optional
        Most reduction allowed, dB: the detector level is capped where the
        static curve reaches it (a ducker's depth). Default: no cap.
    key : Plugin or Chain, optional
        Internal sidechain: the detector hears ``key(input)`` while the gain
        acts on the unfiltered input (a 4–9 kHz band-pass key makes a
        de-esser; a high-pass key stops bass pumping). Its latency is
        aligned with the audio path.
    keyed : bool, optional
        Listen to the key the render is given (``render(..., key=...)``,
        ``clarity apply --key``); presets that duck set this. The render's
        key is handed over for that render only; it is never stored here.
    external_key : KeySource or path, optional
        External sidechain: another recording drives the detector (ducking),
        read by absolute stream position; see :mod:`clarity_fx.sidechain`
        for its rules on length, rate and channels. A render's key, when
        given, takes its place for a keyed compressor.

    Attributes
    ----------
    gain_reduction_db : numpy.ndarray
        The gain the compressor applied to each sample of the last processed
        block, in dB, ``≤ 0`` and without makeup (−6.0 means the sample was
        turned down 6 dB); shape ``(1, n)`` when linked, ``(channels, n)``
        with ``link="none"``. Aligned with that block's output samples; only
        the last block is kept. (A whole-buffer call with lookahead ends with
        the latency tail.) For a whole file, ``render(..., trace_gain=True)``
        returns the stream's reduction in its report.

    Notes
    -----
    Per sample, with ``x_G`` the detector level in dB ([1]_):

    1. gain computer, eq. (4): ``y_G`` from :func:`static_curve_db`, and the
       reduction ``x_L = x_G − y_G ≥ 0``;
    2. smooth peak detector on ``x_L``, after the gain computer (the
       placement the paper recommends): the release stage of its smooth
       decoupled detector, then the attack stage of its smooth branching one,

       .. math::

           y_1[n] = \max(x_L[n],\ α_R\,y_1[n−1] + (1 − α_R)\,x_L[n]), \qquad
           y_L[n] = \begin{cases}
               α_A\,y_L[n−1] + (1 − α_A)\,y_1[n] & y_1[n] > y_L[n−1] \\
               y_1[n] & \text{otherwise,}
           \end{cases}

       with ``α = exp(−1/(τ·fs))``;
    3. ``y[n] = x[n − D] · 10^((M − y_L[n])/20)``, ``D`` the lookahead and
       ``M`` the makeup gain.

    Both time constants are exact: a rise in ``x_L`` reaches ``y_1`` at once
    and ``y_L`` follows with ``τ_A``; a fall leaves ``y_1`` decaying with
    ``τ_R`` and ``y_L`` equal to it. (The paper's smooth decoupled detector alone would
    lengthen the release by about ``τ_A``: 85 ms for 5/80 ms.) Because
    ``y_1`` holds a periodic signal's peaks, a steady sine is compressed by
    the static curve at its peak level (peak detector) or its RMS level (RMS
    detector) within 0.05 dB at 1 kHz. Below ``T − W/2`` the gain is exactly
    1 (times the makeup gain). Signs are kept: the gain multiplies the
    sample.

    **pydub.** :meth:`pydub_defaults` is the parameter set of
    ``pydub.effects.compress_dynamic_range(audio)`` (threshold −20 dBFS,
    ratio 4, attack 5 ms, release 50 ms; no makeup). pydub's detector is the
    RMS of all channels together over the last ``attack`` ms, so it maps to
    ``detector="rms", rms_ms=5, link="mean"``. Its static curve is the same
    hard knee, so steady tones come out at the same level; its attack and
    release are linear ramps in dB (the full reduction is reached after
    ``attack`` ms) where these are exponential time constants, so transients
    differ in shape. It also runs in pure Python, per frame.

    The detector path is :meth:`_gain_db` (audio in, gain in dB out) and the
    gain is applied separately, so a side-chain key can feed the detector.

    References
    ----------
    .. [1] D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range
       Compressor Design — A Tutorial and Analysis", J. Audio Eng. Soc.
       60(6), 399-408, 2012.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> tone = np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000).astype(np.float32)
    >>> out = cfx.HardKneeCompressor(threshold_db=-12, ratio=4, attack_ms=1)(tone, 48000)
    >>> round(float(20 * np.log10(np.abs(out[-4800:]).max())), 1)  # 0 dB peak -> -12 + 12/4
    -9.0
    """

    threshold_db = Param(
        -18.0,
        unit="dB",
        minimum=-120.0,
        maximum=24.0,
        help="Level where compression starts (dBFS peak or RMS).",
    )
    ratio = Param(3.0, minimum=1.0, maximum=1000.0, help="Input dB above the threshold per output dB.")
    attack_ms = Param(
        5.0,
        unit="ms",
        minimum=0.0,
        maximum=5000.0,
        help="Time constant of the gain reduction's rise.",
    )
    release_ms = Param(
        80.0,
        unit="ms",
        minimum=0.0,
        maximum=10000.0,
        help="Time constant of the gain reduction's fall.",
    )
    knee_db = Param(
        0.0,
        unit="dB",
        minimum=0.0,
        maximum=48.0,
        help="Width of the soft knee around the threshold (0: hard knee).",
    )
    detector = Param("peak", kind=str, choices=("peak", "rms"), help="Level detector: sample peak or RMS.")
    rms_ms = Param(
        10.0,
        unit="ms",
        minimum=0.01,
        maximum=5000.0,
        help="Time constant of the RMS detector's mean square.",
    )
    makeup_db = Param(0.0, unit="dB", minimum=-48.0, maximum=48.0, help="Gain added after compression.")
    auto_makeup = Param(False, kind=bool, help="Add the gain that brings a 0 dB input back to 0 dB.")
    link = Param(
        "max",
        kind=str,
        choices=tuple(LINK_MODES),
        help="Channel link: loudest channel, mean of channels, or none.",
    )
    lookahead_ms = Param(
        0.0,
        unit="ms",
        minimum=0.0,
        maximum=500.0,
        help="Delay of the audio (not the detector); reported as latency.",
    )

    range_db = Param(
        None,
        unit="dB",
        minimum=0.0,
        maximum=120.0,
        nullable=True,
        help="Most gain reduction allowed (a ducker's depth); none by default.",
    )
    key = Param(
        None,
        kind=object,
        nullable=True,
        check=_sidechain_chain,
        help="Sidechain chain applied to the input to drive the detector (e.g. a 4-9 kHz band-pass).",
    )
    external_key = Param(
        None,
        kind=object,
        nullable=True,
        help="Another recording that drives the detector (ducking): a KeySource or an audio file.",
    )

    keyed = Param(
        False,
        kind=bool,
        help="Driven by the external key given when rendering (clarity apply --key voice.wav).",
    )

    def __init__(self, **params: Any) -> None:
        key = params.get("external_key")
        if isinstance(key, (str, os.PathLike)):
            params["external_key"] = KeySource(key)
        elif key is not None and not isinstance(key, KeySource):
            raise ParameterError("external_key must be a KeySource or an audio file path")
        super().__init__(**params)

    @classmethod
    def pydub_defaults(cls, **overrides: Any) -> HardKneeCompressor:
        """The settings of ``pydub.effects.compress_dynamic_range(audio)``.

        threshold −20 dBFS, ratio 4, attack 5 ms, release 50 ms, RMS of all
        channels over 5 ms, hard knee, no makeup. See the class Notes for how
        the ballistics differ.

        Examples
        --------
        >>> import clarity_fx as cfx
        >>> cfx.HardKneeCompressor.pydub_defaults().threshold_db
        -20.0
        """
        params: dict[str, Any] = dict(
            threshold_db=-20.0,
            ratio=4.0,
            attack_ms=5.0,
            release_ms=50.0,
            detector="rms",
            rms_ms=5.0,
            link="mean",
            knee_db=0.0,
            makeup_db=0.0,
        )
        params.update(overrides)
        return cls(**params)

    @classmethod
    def conformance_example(cls) -> HardKneeCompressor:
        """An engaged example, with lookahead, for the shared conformance tests."""
        return cls(threshold_db=-30.0, ratio=4.0, knee_db=6.0, lookahead_ms=1.0)

    # ------------------------------------------------------------------ the maths
    def static_gain_db(self, level_db: np.ndarray | float) -> np.ndarray:
        """The gain computer's gain ``y_G − x_G`` (≤ 0) for levels in dB, no makeup."""
        x = np.asarray(level_db, dtype=np.float64)
        return static_curve_db(x, self.threshold_db, self.ratio, self.knee_db) - x

    def makeup_gain_db(self) -> float:
        """Total makeup gain in dB: ``makeup_db`` plus, with ``auto_makeup``, ``−(y_G(0) − 0)``."""
        auto = -float(self.static_gain_db(0.0)) if self.auto_makeup else 0.0
        return self.makeup_db + auto

    def latency_for(self, sample_rate: float) -> int:
        return round(self.lookahead_ms * 1e-3 * sample_rate)

    def _gain_db(self, detector_audio: np.ndarray, state: StreamState) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed gain for each sample of the detector signal, in dB and linear.

        Level detection, gain computer, smoothing: everything but applying
        the gain, so that a side-chain key can stand in for the audio.

        Parameters
        ----------
        detector_audio : numpy.ndarray
            ``(key_channels, n)`` float32: the audio itself, or a side-chain
            key. With ``link="none"`` it needs one channel per audio channel;
            linked, any number.
        state : StreamState
            The stream's memory; this path keeps its own under ``detector_*``.

        Returns
        -------
        gain_db : numpy.ndarray
            The gain in dB, ``≤ 0``, without makeup; ``(1, n)`` when linked,
            ``(key_channels, n)`` with ``link="none"``.
        linear_gain : numpy.ndarray
            ``10^((gain_db + makeup)/20)``, same shape, for :meth:`_apply_gain`.
        """
        channels, n = detector_audio.shape
        link = LINK_MODES[self.link]
        rows = channels if link == LINK_MODES["none"] else 1
        if "detector_mean_square" not in state or state.detector_mean_square.shape[0] != channels:
            state.detector_mean_square = np.zeros(channels)
        if "detector_y1" not in state or state.detector_y1.shape[0] != rows:
            # The link mode changed mid-stream: carry on from the largest reduction.
            y1 = state.__dict__.get("detector_y1", np.zeros(1))
            y_l = state.__dict__.get("detector_yl", np.zeros(1))
            state.detector_y1 = np.full(rows, y1.max())
            state.detector_yl = np.full(rows, y_l.max())
        rate = state.sample_rate
        is_rms = self.detector == "rms"
        k = kernels()
        # 1. Level detection: |x| or the mean square, linked over channels.
        level = np.empty((rows, n), dtype=np.float32)
        k.detector_level(
            np.ascontiguousarray(detector_audio, dtype=np.float32),
            link,
            is_rms,
            time_constant_coefficient(self.rms_ms, rate),
            state.detector_mean_square,
            level,
        )
        # 2. To the log domain, vectorised (numpy's SIMD log): −inf for silence.
        with np.errstate(divide="ignore"):
            np.log10(level, out=level)
        if self.range_db is not None and self.ratio > 1:
            # Cap the level where the static reduction reaches range_db: x = T + range·R/(R − 1).
            cap_db = self.threshold_db + self.range_db * self.ratio / (self.ratio - 1) + self.knee_db / 2
            np.minimum(level, cap_db / (10.0 if is_rms else 20.0), out=level)
        # 3. Gain computer, eq. (4), and smoothing of the reduction.
        gain_db = np.empty((rows, n), dtype=np.float32)
        linear_gain = np.empty((rows, n), dtype=np.float32)  # first the exponent, in nepers
        k.compressor_gain(
            level,
            10.0 if is_rms else 20.0,
            self.threshold_db,
            self.ratio,
            self.knee_db,
            time_constant_coefficient(self.attack_ms, rate),
            time_constant_coefficient(self.release_ms, rate),
            state.detector_y1,
            state.detector_yl,
            self.makeup_gain_db(),
            gain_db,
            linear_gain,
        )
        np.exp(linear_gain, out=linear_gain)  # exp(0) is exactly 1: no reduction, no change
        return gain_db, linear_gain

    def _apply_gain(self, audio: np.ndarray, linear_gain: np.ndarray) -> np.ndarray:
        """``audio · linear_gain``: one gain row for all channels, or one per channel."""
        if linear_gain.shape[0] not in (1, audio.shape[0]):
            raise ParameterError(
                f"the detector gave {linear_gain.shape[0]} gain channels for "
                f"{audio.shape[0]}-channel audio; use link='max' or 'mean', or a key "
                "with as many channels as the audio"
            )
        return audio * linear_gain

    def _delayed(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        """The block delayed by the lookahead, fixed when the stream began."""
        if "delay_line" not in state:
            delay = self.latency_for(state.sample_rate)
            state.delay_line = np.zeros((state.channels, delay), dtype=np.float32)
        if state.delay_line.shape[1] == 0:
            return block
        joined = np.concatenate([state.delay_line, block], axis=1)
        state.delay_line = joined[:, block.shape[1] :]
        return joined[:, : block.shape[1]]

    def _detector(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        """What the detector hears: the key chain's output, the external key, or the block."""
        side = state.__dict__.get("side")
        if side is not None:
            return side
        if "external" not in state:
            render = current_render()
            given = render.key if render is not None and self.keyed else None
            state.external = given if given is not None else self.external_key
            if self.keyed and state.external is None:
                raise KeyMismatchError(
                    "this compressor is keyed (keyed: true) but no key was given; "
                    "pass --key voice.wav, or render(..., key='voice.wav')"
                )
            if state.external is not None:
                state.external.check(state.sample_rate, state.channels, self.link != "none")
        if state.external is not None:
            return state.external.read(state.position, block.shape[1])
        return block

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        # The detector sees the block now; the audio it acts on is delayed by the lookahead.
        state.gain_reduction_db, linear_gain = self._gain_db(self._detector(block, state), state)
        if "trace" in state:
            state.trace.add(state.gain_reduction_db)
        return self._apply_gain(self._delayed(block, state), linear_gain)

    @property
    def gain_reduction_db(self) -> np.ndarray:
        """The gain applied to the last processed block of the current or last stream, dB."""
        state = self._state
        if state is None or "gain_reduction_db" not in state:
            return np.zeros((1, 0))
        return state.gain_reduction_db

    def children(self) -> list[Any]:
        """The internal key chain, if any."""
        return [self.key] if self.key is not None else []

    # ------------------------------------------------------------------ internal key
    # The key chain runs as a stage beside the audio. Its output is aligned with its
    # input (fewer samples while its latency fills), so the audio waits in a FIFO and
    # each key sample meets the audio sample it was computed from.
    def _reset_stream(self) -> None:
        if self.key is not None:
            self.key.reset()

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        super()._start(sample_rate, channels, buffer_size)
        render = current_render()
        if render is not None and render.trace_gain:
            # One value per millisecond, lined up with the aligned output; the render's report gets it.
            assert self._state is not None
            self._state.trace = GainTrace(step=round(sample_rate / 1000), skip=self.latency_for(sample_rate))
            render.report(self, gain_reduction_db=self._state.trace, trace_step=self._state.trace.step)
        if self.key is not None:
            from ..chain import as_stage

            self._key_stage = as_stage(self.key)
            self._key_stage._start_stream(sample_rate, channels, buffer_size)
            self._waiting: list[np.ndarray] = []

    def _take_waiting(self, count: int) -> np.ndarray:
        channels = self._stream["channels"]
        joined = np.concatenate(self._waiting, axis=1) if self._waiting else _empty(channels)
        self._waiting = [joined[:, count:]]
        return joined[:, :count]

    def _push_aligned(self, audio: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        if self.key is None:
            return super()._push_aligned(audio, side)
        self._waiting.append(audio)
        keyed = self._key_stage._push(audio)
        return super()._push_aligned(self._take_waiting(keyed.shape[1]), keyed)

    def _finish_aligned(self, owed: int) -> np.ndarray:
        if self.key is None:
            return super()._finish_aligned(owed)
        keyed = self._key_stage._finish()
        head = super()._push_aligned(self._take_waiting(keyed.shape[1]), keyed)
        # The lookahead's tail: silence through audio and key alike.
        tail = super()._finish_aligned(owed - head.shape[1])
        return np.concatenate([head, tail], axis=1)
