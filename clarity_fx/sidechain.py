"""Sidechain keys: a signal that drives a compressor's detector instead of its own input.

Two kinds:

- an **internal key** is a chain applied to the compressor's own input (a
  4–9 kHz band-pass makes a de-esser; a high-pass stops bass from pumping the
  mix). It is run as a stage beside the audio, so its latency is aligned.
- an **external key** is another recording (a voice that ducks music). It is
  read by absolute stream position, so it stays in step with the file
  whatever the block sizes.

The external key's rules, never a silent guess:

- its sample rate must equal the audio's, otherwise :class:`~clarity_fx.keys.KeyMismatchError` says so;
- it may be shorter or longer: after its end the key is silence (nothing is
  ducked any more); beyond the audio's end it is not read;
- any channel count works with a linked detector (``link="max"`` or
  ``"mean"``); with ``link="none"`` it needs the audio's channel count.

:class:`KeySource` and :class:`KeyMismatchError` live in the leaf module
:mod:`clarity_fx.keys` and are re-exported here.
"""

from __future__ import annotations

import numpy as np

from .keys import KeyMismatchError, KeySource

__all__ = ["KeySource", "KeyMismatchError", "duck"]


def duck(
    music: np.ndarray,
    voice: np.ndarray,
    sample_rate: float,
    *,
    depth_db: float = 12.0,
    threshold_db: float = -30.0,
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
        Voice level (peak dBFS) where ducking starts (default −30: room
        noise in a raw voice key, up to about −40 dBFS RMS, stays under it,
        so the bed is not ducked before the voice speaks).
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
