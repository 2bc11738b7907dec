"""Sidechain keys: a signal that drives a compressor's detector instead of its own input.

Two kinds:

- an **internal key** is a chain applied to the compressor's own input (a
  4–9 kHz band-pass makes a de-esser; a high-pass stops bass from pumping the
  mix). It is run as a stage beside the audio, so its latency is aligned.
- an **external key** is another recording (a voice that ducks music). It is
  read by absolute stream position, so it stays in step with the file
  whatever the block sizes.

The external key's rules, never a silent guess:

- its sample rate must equal the audio's, otherwise :class:`KeyError_` says so;
- it may be shorter or longer: after its end the key is silence (nothing is
  ducked any more); beyond the audio's end it is not read;
- any channel count works with a linked detector (``link="max"`` or
  ``"mean"``); with ``link="none"`` it needs the audio's channel count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ClarityError

__all__ = ["KeySource", "KeyMismatchError", "duck"]


class KeyMismatchError(ClarityError):
    """The key does not fit the audio (sample rate, channels)."""


class KeySource:
    """Random access to a key signal by stream position.

    Parameters
    ----------
    key : numpy.ndarray or path
        ``(channels, n)`` or 1-D float audio, or an audio file.
    sample_rate : float, optional
        The key's rate (required for arrays; read from files).
    """

    def __init__(self, key: Any, sample_rate: float | None = None) -> None:
        self._file: Any = None
        if isinstance(key, (str, os.PathLike)):
            import soundfile

            from .rendering import open_audio

            info = open_audio(Path(key))
            self.path: Path | None = info.path
            self.sample_rate = info.sample_rate
            self.channels = info.channels
            self.frames = info.frames
            self._file = soundfile.SoundFile(str(info.path))
            self._file_pos = 0
            self._array = None
        else:
            array = np.asarray(key, dtype=np.float32)
            if array.ndim == 1:
                array = array[None, :]
            if array.ndim != 2:
                raise KeyMismatchError(f"a key is 1-D or (channels, samples) audio, not shape {array.shape}")
            if sample_rate is None:
                raise KeyMismatchError("an array key needs its sample_rate")
            self.path = None
            self.sample_rate = float(sample_rate)
            self.channels, self.frames = array.shape
            self._array = array

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "array"
        return f"KeySource({where}, {self.channels} ch, {self.frames} frames at {self.sample_rate:g} Hz)"

    def close(self) -> None:
        """Close the key's file (an array key holds none); reading afterwards is an error."""
        if self._file is not None:
            self._file.close()

    def check(self, sample_rate: float, channels: int, linked: bool) -> None:
        """Refuse a key that does not fit the audio, naming the fix."""
        if self.sample_rate != sample_rate:
            raise KeyMismatchError(
                f"the key is {self.sample_rate:g} Hz but the audio is {sample_rate:g} Hz; "
                "resample the key to the audio's rate first"
            )
        if not linked and self.channels != channels:
            raise KeyMismatchError(
                f"the key has {self.channels} channels for {channels}-channel audio with link='none'; "
                "use link='max' or 'mean', or a key with as many channels"
            )

    def read(self, start: int, count: int) -> np.ndarray:
        """Samples ``start .. start+count`` as ``(channels, count)``; silence past the end."""
        out = np.zeros((self.channels, count), dtype=np.float32)
        stop = min(start + count, self.frames)
        if stop <= start:
            return out
        if self._array is not None:
            out[:, : stop - start] = self._array[:, start:stop]
            return out
        if self._file_pos != start:
            self._file.seek(start)
        data = self._file.read(stop - start, dtype="float32", always_2d=True)
        self._file_pos = start + data.shape[0]
        out[:, : data.shape[0]] = data.T
        return out


def duck(
    music: np.ndarray,
    voice: np.ndarray,
    sample_rate: float,
    *,
    depth_db: float = 12.0,
    threshold_db: float = -40.0,
    attack_ms: float = 10.0,
    release_ms: float = 400.0,
    lookahead_ms: float = 10.0,
) -> np.ndarray:
    """Lower ``music`` by ``depth_db`` while ``voice`` speaks: a podcast bed under a voice.

    A :class:`~clarity_fx.HardKneeCompressor` with ratio 20 keyed by the
    voice, its reduction capped at ``depth_db`` (``range_db``), so any word
    louder than ``threshold_db + depth_db·R/(R−1)`` takes the bed down by
    exactly ``depth_db``, within ``attack_ms`` (1 − 1/e), and it comes back
    with ``release_ms``.

    Parameters
    ----------
    music, voice : numpy.ndarray
        Float audio, 1-D or ``(channels, n)``; the voice may have another
        channel count or length (see the module's rules), not another rate.
    sample_rate : float
        Both signals' rate, Hz.
    depth_db : float, optional
        How far the bed goes down under speech.
    threshold_db : float, optional
        Voice level (peak dBFS) where ducking starts.
    attack_ms, release_ms : float, optional
        How fast the bed goes down and comes back.
    lookahead_ms : float, optional
        Start going down this much before the first word.

    Returns
    -------
    numpy.ndarray
        The ducked music, float32, in the music's shape.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> bed = cfx.duck(np.ones(48000, np.float32) * 0.1, np.zeros(48000, np.float32), 48000)
    >>> float(bed.max()) == np.float32(0.1)
    True
    """
    from .processors.compressor import HardKneeCompressor

    compressor = HardKneeCompressor(
        threshold_db=threshold_db,
        ratio=20.0,
        attack_ms=attack_ms,
        release_ms=release_ms,
        lookahead_ms=lookahead_ms,
        range_db=depth_db,
        link="max",
        external_key=KeySource(voice, sample_rate),
    )
    return compressor(music, sample_rate)
