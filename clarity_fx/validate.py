"""One input rule: the layout, channels, values and sample rate of audio, checked in one place.

Every entry point that takes audio (``Plugin.process``, the meters and
:func:`~clarity_fx.analysis.analyze_array`, the pictures of
:mod:`clarity_fx.plot`) goes through :func:`as_channels_first` and
:func:`check_sample_rate`, so each mistake gets one message wherever it is made:

- **layout**: 1-D is mono; 2-D has its channels on the smaller axis (ties are
  channels-first), ``(n, 2)`` and ``(2, n)`` alike, as pedalboard reads them;
- **dtype**: floating point (float32 or float64) in full-scale units;
- **values** (where asked): finite;
- **sample rate**: a positive number of Hz (the loudness meters ask for at least 8 kHz).

A leaf module: it imports numpy and :mod:`clarity_fx.errors` only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import AudioInputError, ParameterError

__all__ = ["MAX_CHANNELS", "as_channels_first", "check_channels", "check_finite", "check_sample_rate"]

#: Most channels a meter takes (a 2-D array with more rows than this is surely misread).
MAX_CHANNELS = 32


def check_sample_rate(sample_rate: Any, minimum: float = 0.0) -> float:
    """``sample_rate`` as a float, or a ParameterError naming the fix.

    Parameters
    ----------
    sample_rate : int or float
        Hz. Must be finite and positive (and at least ``minimum``).
    minimum : float, optional
        Lowest rate the caller supports (0: any positive rate).

    Returns
    -------
    float
        The rate.

    Raises
    ------
    ParameterError
        For a non-number, or a rate that is not finite, positive and at least ``minimum``.
    """
    is_number = isinstance(sample_rate, (int, float, np.integer, np.floating)) and not isinstance(
        sample_rate, bool
    )
    if not (is_number and math.isfinite(sample_rate) and sample_rate > 0 and sample_rate >= minimum):
        least = f" of at least {minimum:g}" if minimum > 0 else ""
        raise ParameterError(f"sample_rate must be a positive number of Hz{least}, not {sample_rate!r}")
    return float(sample_rate)


def check_channels(channels: Any, maximum: int = MAX_CHANNELS) -> int:
    """A channel count as an int in ``1..maximum``, or a ParameterError."""
    is_int = isinstance(channels, (int, np.integer)) and not isinstance(channels, bool)
    if not (is_int and 1 <= channels <= maximum):
        raise ParameterError(f"channels must be a whole number from 1 to {maximum}, not {channels!r}")
    return int(channels)


def as_channels_first(
    input_array: Any,
    channels: int | None = None,
    channels_last: bool | None = None,
    *,
    dtype: Any = np.float32,
    exact_channels: bool = False,
) -> tuple[np.ndarray, bool, int]:
    """Check the dtype and layout of audio and return it ``(channels, samples)``.

    Parameters
    ----------
    input_array : array_like
        1-D (mono) or 2-D audio of floats; the smaller dimension is channels
        (ties are channels-first), so ``(n, 2)`` and ``(2, n)`` are both stereo.
    channels, channels_last : optional
        An open stream's channel count and layout. A block whose one
        dimension matches ``channels`` is read that way (a 1-sample stereo
        block is ``(2, 1)``, not two mono samples); a square block keeps the
        stream's layout, as pedalboard does.
    dtype : numpy dtype or None, optional
        The returned array's dtype, C-contiguous (default float32, as the
        processors run). None: keep the input's floats, without copying.
    exact_channels : bool, optional
        Require ``channels`` channels (a meter made for that many).

    Returns
    -------
    audio : numpy.ndarray
        ``(channels, samples)``.
    channels_last : bool
        Whether the input was ``(samples, channels)``.
    ndim : int
        The input's number of dimensions.

    Raises
    ------
    AudioInputError
        (a ParameterError and a TypeError) for anything but floats of one or
        two dimensions, or the wrong number of channels.
    """
    a = input_array if isinstance(input_array, np.ndarray) else np.asarray(input_array)
    if not np.issubdtype(a.dtype, np.floating):
        raise AudioInputError(
            f"audio must be floating point (float32 or float64) in -1..1, not {a.dtype}; "
            "convert with audio.astype(np.float32), integer PCM divided by 2**(bits - 1)"
        )
    if a.ndim == 1:
        audio, is_last = a[None, :], False
    elif a.ndim == 2:
        rows, cols = a.shape
        if channels is not None and (rows == channels) != (cols == channels):
            is_last = cols == channels
        elif channels_last is not None and rows == cols:
            is_last = channels_last
        elif rows == 0 or cols == 0:
            is_last = rows == 0 and cols > 0  # (0, 2) and (2, 0) are both two empty channels
        else:
            is_last = rows > cols
        audio = a.T if is_last else a
    else:
        raise AudioInputError(f"audio must be 1-D or 2-D (channels and samples), not of shape {a.shape}")
    if exact_channels and channels is not None and audio.shape[0] != channels:
        raise AudioInputError(
            f"audio of shape {a.shape} has {audio.shape[0]} channels where {channels} are expected; "
            f"give {channels}-channel blocks"
        )
    if dtype is not None:
        audio = np.ascontiguousarray(audio, dtype=dtype)
    return audio, is_last, a.ndim


def first_bad_frame(audio: np.ndarray) -> int | None:
    """The first frame of ``(channels, n)`` audio that holds a NaN or an infinity, or None.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, n)`` block.

    Returns
    -------
    int or None
    """
    finite = np.isfinite(audio)
    return None if finite.all() else int(np.argmax(~finite.all(axis=0)))


def check_finite(audio: np.ndarray, sample_rate: float, offset: int = 0) -> None:
    """Raise a ParameterError naming where ``(channels, n)`` audio first has a NaN or infinity.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, n)`` block.
    sample_rate : float
        Its rate, to give the place in seconds.
    offset : int, optional
        Samples before this block in its stream.
    """
    bad = first_bad_frame(audio)
    if bad is not None:
        raise ParameterError(
            f"audio has NaN or infinite samples from {(offset + bad) / sample_rate:.3f} s; "
            "fix the source first"
        )
