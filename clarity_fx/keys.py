"""External sidechain keys: another recording read by absolute stream position.

A leaf module: it imports only :mod:`clarity_fx.audio_io`, the errors and
numpy, so compressors, sidechain helpers and the renderer can all use it
without import cycles.

The key's rules, never a silent guess:

- its sample rate must equal the audio's, otherwise :class:`KeyMismatchError` says so;
- it may be shorter or longer: after its end the key is silence (nothing is
  ducked any more); beyond the audio's end it is not read;
- any channel count works with a linked detector (``link="max"`` or
  ``"mean"``); with ``link="none"`` it needs the audio's channel count.

A key file is vetted by :func:`~clarity_fx.audio_io.open_audio` like any
input (truncated, damaged, NaN samples...) and held open by one
:class:`~clarity_fx.audio_io.AudioReader` until :meth:`KeySource.close`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .audio_io import AudioReader, open_audio
from .errors import ClarityError

__all__ = ["KeyMismatchError", "KeySource"]


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

    Notes
    -----
    A file key keeps its file open for reading; :meth:`close` (or leaving a
    ``with KeySource(path) as key:`` block) releases it. Reading after that
    raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from clarity_fx.keys import KeySource
    >>> key = KeySource(np.ones(4, np.float32), 48000)
    >>> key.read(2, 4)
    array([[1., 1., 0., 0.]], dtype=float32)
    """

    def __init__(self, key: Any, sample_rate: float | None = None) -> None:
        self._reader: AudioReader | None = None
        self._array: np.ndarray | None = None
        if isinstance(key, (str, os.PathLike)):
            info = open_audio(Path(key), what="key")
            self.path: Path | None = info.path
            self.sample_rate = info.sample_rate
            self.channels = info.channels
            self.frames = info.frames
            self._reader = AudioReader(info)
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

    def __enter__(self) -> KeySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the key file, if any (idempotent; array keys have nothing to close)."""
        if self._reader is not None:
            self._reader.close()

    @property
    def closed(self) -> bool:
        """True for a file key whose file has been closed."""
        return self._reader is not None and self._reader.closed

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
        """Samples ``start .. start+count`` as ``(channels, count)``; silence past the end.

        Raises
        ------
        AudioFileError
            NaN, infinite or absurd samples in a key file, naming their time.
        ValueError
            The key file was closed.
        """
        out = np.zeros((self.channels, count), dtype=np.float32)
        stop = min(start + count, self.frames)
        if stop <= start:
            return out
        if self._array is not None:
            out[:, : stop - start] = self._array[:, start:stop]
            return out
        assert self._reader is not None
        self._reader.seek(start)
        out[:, : stop - start] = self._reader.read(stop - start)
        return out
