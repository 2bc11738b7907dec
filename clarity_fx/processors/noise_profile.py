"""Noise profiles for spectral noise reduction: STFT windows, the profile, learning it, and noise clips.

A :class:`NoiseProfile` is the mean noise power ``E|N(f)|²`` and magnitude
``E|N(f)|`` as densities per hertz, so it applies to any STFT (frame length,
window, sample rate). :func:`estimate_noise_profile` learns one from
noise-only audio; :func:`region_unsteadiness_db` tells whether a region is
steady noise at all. The processor, :class:`~clarity_fx.processors.spectral.SpectralSubtraction`,
uses these and re-exports them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import AudioFileError, ParameterError
from . import _fft

__all__ = [
    "NoiseProfile",
    "analysis_window",
    "estimate_noise_profile",
    "region_unsteadiness_db",
    "synthesis_window",
]


# --------------------------------------------------------------------------- windows
def analysis_window(name: str, n_fft: int) -> np.ndarray:
    """Periodic (DFT-even) ``hann`` or ``hamming`` window of length ``n_fft``, float64."""
    n = np.arange(n_fft)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n / n_fft)
    raise ParameterError(f"window={name!r} is not known: use one of hann, hamming")


def synthesis_window(window: np.ndarray, hop: int) -> np.ndarray:
    """WOLA synthesis window ``w(n) / Σ_m w²(n − mH)``: perfect reconstruction when G = 1."""
    n_fft = window.size
    overlap = (window**2).reshape(n_fft // hop, hop).sum(axis=0)
    return window / np.tile(overlap, n_fft // hop)


def _frames(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``(channels, frames, n_fft)`` strided view of the whole frames in ``audio``."""
    return np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=-1)[:, ::hop]


# --------------------------------------------------------------------------- noise profile
PROFILE_FORMAT = "clarity_fx.NoiseProfile/1"
#: A noise region whose loudest 50 ms is this far above its quiet ones (dB) draws a warning.
#: Measured: noise-only lead-ins of bench_denoise (white, pink, brown, hum, modulated) reach
#: 8.6 dB, the example's room tone 2.2 dB; a second of speech at 10 to 20 dB SNR 11.8 to 17 dB.
UNSTEADY_REGION_DB = 12.0


def region_unsteadiness_db(region: np.ndarray, sample_rate: float) -> float:
    """How far the loudest 50 ms of ``region`` rises above its quietest tenth, in dB.

    Steady noise (hiss, hum, a fan, even noise whose level wanders slowly) stays
    within about 9 dB; speech, music or a click in the region rise 12 to 40 dB
    above the pauses between them. Regions shorter than four 50 ms blocks, or
    silent, give 0.

    Parameters
    ----------
    region : numpy.ndarray
        ``(channels, samples)`` audio.
    sample_rate : float
        Its rate in Hz.

    Returns
    -------
    float
        ``10·log10(max / P10)`` of the channel-summed block energies (P10: the
        10th percentile).
    """
    step = max(1, int(0.05 * sample_rate))
    blocks = region.shape[1] // step
    if blocks < 4:
        return 0.0
    trimmed = np.asarray(region[:, : blocks * step], dtype=np.float64)
    energy = (trimmed**2).reshape(region.shape[0], blocks, step).sum(axis=(0, 2))
    quiet = float(np.percentile(energy, 10))
    if quiet <= 0.0:
        return 0.0
    return float(10 * math.log10(max(float(energy.max()), quiet) / quiet))


@dataclass
class NoiseProfile:
    """A noise spectrum, independent of sample rate, frame length and window.

    Stored as densities per hertz so that it applies to any STFT:
    ``psd[c, i] = E|N(f_i)|² / (Σw² · fs)`` and ``asd[c, i] = E|N(f_i)| /
    sqrt(Σw² · fs)``. White noise of variance σ² has a flat ``psd = σ²/fs``;
    the same noise band-limited for a lower sample rate keeps that density.

    Attributes
    ----------
    freqs_hz : numpy.ndarray
        ``(bins,)`` frequencies of the learned spectrum.
    psd, asd : numpy.ndarray
        ``(channels, bins)`` mean power and mean magnitude densities.
    sample_rate : float
        Rate it was learned at.
    n_fft : int
        Frame length it was learned with.
    """

    freqs_hz: np.ndarray
    psd: np.ndarray
    asd: np.ndarray
    sample_rate: float
    n_fft: int

    @property
    def channels(self) -> int:
        """Number of channels the profile was learned from."""
        return int(self.psd.shape[0])

    def for_stft(self, sample_rate: float, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean noise power ``E|N_k|²`` and magnitude ``E|N_k|`` on an STFT's bins.

        Parameters
        ----------
        sample_rate : float
            Rate of the audio the profile is applied to.
        window : numpy.ndarray
            The analysis window (its length is ``n_fft``).

        Returns
        -------
        power, magnitude : numpy.ndarray
            ``(channels, n_fft // 2 + 1)`` float64. A profile learned with
            another frame length or rate is interpolated on the frequency axis
            (and held at its last value above its own Nyquist frequency).
        """
        energy = float(np.sum(window**2)) * sample_rate
        freqs = np.fft.rfftfreq(window.size, 1.0 / sample_rate)
        if freqs.size == self.freqs_hz.size and np.allclose(freqs, self.freqs_hz):
            psd, asd = self.psd, self.asd
        else:
            psd = np.stack([np.interp(freqs, self.freqs_hz, row) for row in self.psd])
            asd = np.stack([np.interp(freqs, self.freqs_hz, row) for row in self.asd])
        return psd * energy, asd * math.sqrt(energy)

    def save(self, path: str | os.PathLike) -> None:
        """Write the profile to a ``.npz`` file (read it back with :meth:`load`)."""
        np.savez(
            path,
            freqs_hz=self.freqs_hz,
            psd=self.psd,
            asd=self.asd,
            sample_rate=np.float64(self.sample_rate),
            n_fft=np.int64(self.n_fft),
            format=np.str_(PROFILE_FORMAT),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> NoiseProfile:
        """Read a profile written by :meth:`save`.

        Raises
        ------
        AudioFileError
            When the file is missing or is not a saved noise profile.
        """
        where = os.fspath(path)
        try:
            with np.load(where, allow_pickle=False) as data:
                if "format" not in data.files or str(data["format"]) != PROFILE_FORMAT:
                    raise KeyError("no profile format tag")
                return cls(
                    freqs_hz=np.asarray(data["freqs_hz"], dtype=np.float64),
                    psd=np.atleast_2d(np.asarray(data["psd"], dtype=np.float64)),
                    asd=np.atleast_2d(np.asarray(data["asd"], dtype=np.float64)),
                    sample_rate=float(data["sample_rate"]),
                    n_fft=int(data["n_fft"]),
                )
        except FileNotFoundError:
            raise AudioFileError(f"noise profile {where!r} does not exist; check the path") from None
        except (KeyError, ValueError, OSError) as exc:
            raise AudioFileError(
                f"{where!r} is not a noise profile ({exc}); write one with SpectralSubtraction.save_profile()"
            ) from None


def estimate_noise_profile(
    noise: np.ndarray, sample_rate: float, n_fft: int, hop: int, window: str = "hann"
) -> NoiseProfile:
    """Learn a :class:`NoiseProfile` from noise-only audio: the means of ``|N|`` and ``|N|²``.

    Parameters
    ----------
    noise : numpy.ndarray
        ``(channels, samples)`` (or 1-D) noise-only audio.
    sample_rate : float
        Its sample rate in Hz.
    n_fft, hop : int
        Frame length and hop of the STFT it is averaged over.
    window : str
        ``"hann"`` or ``"hamming"``.

    Returns
    -------
    NoiseProfile
        Averages over every whole frame in ``noise``. Audio shorter than one
        frame is centred in one zero-padded frame and its power scaled back up
        by the share of the window's energy it covered. Empty audio gives a
        zero profile (nothing is removed).
    """
    noise = np.atleast_2d(np.asarray(noise, dtype=np.float64))
    w = analysis_window(window, n_fft)
    n = noise.shape[1]
    if n >= n_fft:
        spectra = _fft.rfft(_frames(noise, n_fft, hop) * w, axis=-1, workers=-1)
        power = np.mean(np.abs(spectra) ** 2, axis=1)
        magnitude = np.mean(np.abs(spectra), axis=1)
    elif n > 0:
        start = (n_fft - n) // 2  # the middle of the frame, where the window is largest
        padded = np.zeros((noise.shape[0], n_fft))
        padded[:, start : start + n] = noise
        spectra = _fft.rfft(padded * w, axis=-1)
        share = float(np.sum(w**2) / max(np.sum(w[start : start + n] ** 2), 1e-30))
        power = np.abs(spectra) ** 2 * share
        magnitude = np.abs(spectra) * math.sqrt(share)
    else:
        power = magnitude = np.zeros((noise.shape[0], n_fft // 2 + 1))
    energy = float(np.sum(w**2)) * sample_rate
    return NoiseProfile(
        freqs_hz=np.fft.rfftfreq(n_fft, 1.0 / sample_rate),
        psd=power / energy,
        asd=magnitude / math.sqrt(energy),
        sample_rate=float(sample_rate),
        n_fft=int(n_fft),
    )


# --------------------------------------------------------------------------- noise clips
def _resample(audio: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Polyphase resampling of ``(channels, n)`` audio from ``rate_in`` to ``rate_out``."""
    if rate_in == rate_out:
        return audio
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out / rate_in).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)
