"""Match profiles: a recording's long-term average spectrum, loudness and stereo width, saved as JSON.

:class:`~clarity_fx.processors.match_eq.MatchEQ` matches one recording to
another by comparing two :class:`MatchProfile` objects: the reference's and
the input's. A profile does not depend on sample rate or length, so one
reference's profile, saved once (``clarity match --reference REF
--save-profile REF.json``), matches a whole album.

What a profile holds, for a ``(channels, n)`` recording at rate ``fs``:

1. Mid and side signals. Stereo: ``M = (L + R)/2`` and ``S = (L − R)/2``,
   so ``(L² + R²)/2 = M² + S²``; mono: ``M = x``, ``S = 0``; more channels:
   their mean power is taken as mid, ``S = 0``.
2. Their long-term average power spectral densities (Welch: periodic Hann
   frames of ``N = 2^⌈log₂(fs / 0.75 Hz)⌉`` samples, 50 % overlap),
   ``P(f) = Σ_frames |DFT(w·x)|² / (K · Σw² · fs)`` per hertz, so a profile
   learned at 44.1 kHz and one at 96 kHz agree where both have content.
3. Those densities averaged over bands 1/96 octave wide, centred on
   ``f_i = 1000 · 2^{i/96}`` Hz from 10 Hz to the Nyquist frequency:
   ``D_i = ∫_{f_i·2^{−1/192}}^{f_i·2^{1/192}} P(f) df / (band width)``. The
   matcher smooths these (1/6 octave by default) and sums them into
   third-octave bands.

Why so fine: the 40 Hz third-octave band is 9 Hz wide. With 0.67 Hz bins
(44.1 kHz) it holds 14 of them, and a partial's Hann main lobe (±2 bins)
spills over a band edge only within 1.3 Hz of it; with 1/96-octave bands a
partial near an edge is apportioned within 1/96 octave (at 450 Hz, 3.3 Hz).
Coarser, 1.35 Hz bins and 1/48-octave bands (version 1) put up to 2 dB of a
third-octave band's power in its neighbour when a strong partial sits near
the edge.
4. The integrated loudness (ITU-R BS.1770-4, the project's meter), and the
   number of channels and seconds it was learned from.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AudioFileError, ParameterError

__all__ = ["MatchProfile", "LongTermAnalysis", "analyse_audio", "analyse_file", "band_power",
           "smooth_octaves", "third_octave_centres"]

PROFILE_FORMAT = "clarity_fx.MatchProfile"
PROFILE_VERSION = 2
#: Version 1 (1/48-octave bands from 1.35 Hz bins) is refused: too coarse for third-octave matching.
#: Bands per octave of a profile's stored spectrum.
BANDS_PER_OCTAVE = 96
#: Lowest band centre, Hz.
LOWEST_HZ = 10.0
#: Welch frame length: bins at most this far apart, Hz (0.67 Hz at 44.1 kHz: 14 bins in the 40 Hz third).
ANALYSIS_BIN_HZ = 0.75
#: Frames transformed at once. Fixed, so the sums do not depend on how the audio was cut into blocks.
GROUP = 8
#: Densities are stored in dB with this floor (a silent band).
FLOOR_DB = -300.0


def band_index_range(sample_rate: float) -> tuple[int, int]:
    """First and last band index ``i`` (centre ``1000·2^{i/96}`` Hz) whose band lies below Nyquist."""
    first = math.ceil(BANDS_PER_OCTAVE * math.log2(LOWEST_HZ / 1000.0))
    top_edge = sample_rate / 2.0
    last = math.floor(BANDS_PER_OCTAVE * math.log2(top_edge / 1000.0) - 0.5)
    return first, last


def band_centres(first: int, count: int) -> np.ndarray:
    """Centres ``1000·2^{i/96}`` Hz of ``count`` bands from index ``first``."""
    return 1000.0 * 2.0 ** ((first + np.arange(count)) / BANDS_PER_OCTAVE)


def band_edges(first: int, count: int) -> np.ndarray:
    """The ``count + 1`` edges between (and around) those bands, Hz."""
    return 1000.0 * 2.0 ** ((first - 0.5 + np.arange(count + 1)) / BANDS_PER_OCTAVE)


@dataclass
class MatchProfile:
    """A recording's long-term spectrum (mid and side), loudness and size, independent of sample rate.

    Attributes
    ----------
    first_band : int
        Index of the first band: centres are ``1000·2^{(first_band + k)/96}`` Hz.
    mid, side : numpy.ndarray
        Mean power density of the mid and side signals in each band, per hertz
        (``mid + side`` is the mean channel power).
    loudness_lufs : float or None
        Integrated loudness (BS.1770-4); None when silent or below 8 kHz.
    channels : int
        Channels of the recording.
    sample_rate : float
        Rate it was learned at.
    seconds : float
        Length it was learned from.
    source : str
        File name it was learned from ("" for an array).
    """

    first_band: int
    mid: np.ndarray
    side: np.ndarray
    loudness_lufs: float | None
    channels: int
    sample_rate: float
    seconds: float
    source: str = ""

    @property
    def freqs_hz(self) -> np.ndarray:
        """Band centres, Hz."""
        return band_centres(self.first_band, self.mid.size)

    @property
    def power(self) -> np.ndarray:
        """Mean channel power density per band, ``mid + side``."""
        return self.mid + self.side

    @property
    def is_silent(self) -> bool:
        """True when the recording had no energy at all."""
        return not float(np.max(self.power, initial=0.0)) > 0.0

    def side_to_mid(self, gain: float = 1.0) -> float | None:
        """Side-to-mid energy ratio ``Σ S² / Σ M²`` (with the side scaled by ``gain``); None if no mid."""
        widths = np.diff(band_edges(self.first_band, self.mid.size))
        mid = float(np.sum(self.mid * widths))
        return None if mid <= 0.0 else gain**2 * float(np.sum(self.side * widths)) / mid

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready data (densities in dB, 0.001 dB steps)."""

        def db(values: np.ndarray) -> list[float]:
            with np.errstate(divide="ignore"):
                levels = 10.0 * np.log10(values)
            return [round(float(v), 3) for v in np.maximum(levels, FLOOR_DB)]

        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "source": self.source,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "seconds": round(self.seconds, 3),
            "loudness_lufs": None if self.loudness_lufs is None else round(self.loudness_lufs, 3),
            "bands_per_octave": BANDS_PER_OCTAVE,
            "first_band": self.first_band,
            "mid_db": db(self.mid),
            "side_db": db(self.side),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile as JSON (through a temporary file beside it, then renamed).

        Parameters
        ----------
        path : str or os.PathLike
            A ``.json`` file; :meth:`load` reads it back.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        AudioFileError
            When it cannot be written there.
        """
        from .._paths import expand_user

        target = expand_user(path)
        if target.suffix.lower() != ".json":
            raise AudioFileError(f"{target}: a match profile is saved as .json; give a name ending in .json")
        text = json.dumps(self.to_dict(), separators=(",", ":"))
        tmp = target.with_name(f".{target.name}.part{os.getpid()}")
        try:
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise AudioFileError(
                f"{target}: cannot write the profile ({err.strerror}); choose another path"
            ) from None
        return target

    @classmethod
    def from_dict(cls, data: Any, where: str = "profile") -> MatchProfile:
        """Build a profile from :meth:`to_dict` data; ParameterError naming what is wrong."""
        if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
            raise ParameterError(f"{where} is not a match profile; write one with 'clarity match "
                                 "--reference REF --save-profile REF.json'")
        if data.get("version") == 1:
            raise ParameterError(f"{where} is a version-1 match profile, too coarse for this clarity; save "
                                 "it again ('clarity match --reference REF --save-profile ...')")
        if data.get("version") != PROFILE_VERSION or data.get("bands_per_octave") != BANDS_PER_OCTAVE:
            raise ParameterError(f"{where} is a match profile of another version; save it again with "
                                 "this clarity ('clarity match --reference REF --save-profile ...')")
        try:
            mid = np.asarray(data["mid_db"], dtype=np.float64)
            side = np.asarray(data["side_db"], dtype=np.float64)
            first = int(data["first_band"])
            rate = float(data["sample_rate"])
            channels = int(data["channels"])
            seconds = float(data["seconds"])
            loudness = data["loudness_lufs"]
            loudness = None if loudness is None else float(loudness)
        except (KeyError, TypeError, ValueError) as err:
            raise ParameterError(f"{where} is a damaged match profile (bad or missing {err}); "
                                 "save it again") from None
        if (mid.ndim != 1 or mid.shape != side.shape or mid.size < 2 or not np.all(np.isfinite(mid))
                or not np.all(np.isfinite(side)) or not 0 < rate <= 1e7 or channels < 1
                or (loudness is not None and not math.isfinite(loudness))):
            raise ParameterError(f"{where} is a damaged match profile (its numbers do not fit); "
                                 "save it again")
        levels = [np.where(v <= FLOOR_DB, 0.0, 10.0 ** (v / 10.0)) for v in (mid, side)]
        source = str(data.get("source", ""))
        return cls(first, levels[0], levels[1], loudness, channels, rate, seconds, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MatchProfile:
        """Read a profile written by :meth:`save`.

        Raises
        ------
        AudioFileError
            When the file is missing, unreadable, or not a match profile.
        """
        from .._paths import expand_user

        where = expand_user(path)
        try:
            text = where.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AudioFileError(f"match profile {where} does not exist; check the path") from None
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not text"
            raise AudioFileError(
                f"match profile {where}: cannot read it ({reason}); check the path"
            ) from None
        try:
            data = json.loads(text)
        except ValueError:
            raise AudioFileError(f"{where} is not a match profile (not JSON); write one with "
                                 "'clarity match --reference REF --save-profile REF.json'") from None
        try:
            return cls.from_dict(data, str(where))
        except ParameterError as err:
            raise AudioFileError(str(err)) from None


def smooth_octaves(profile_first: int, density: np.ndarray, octaves: float) -> np.ndarray:
    """Fractional-octave smoothing of a profile's band densities, at its own band centres.

    Parameters
    ----------
    profile_first : int
        First band index of ``density`` (bands 1/96 octave wide).
    density : numpy.ndarray
        Mean power density per band.
    octaves : float
        Smoothing width ``b``, octaves: the full width at half weight of the
        window (1/6: each value is essentially the mean over a sixth of an
        octave around it).

    Returns
    -------
    numpy.ndarray
        ``S_b[P](f_i) = Σ_j w(i−j) P_j Δf_j / Σ_j w(i−j) Δf_j``: the power-weighted
        mean density under a Hann window ``w`` over ``±b`` octaves of log frequency
        (cut to the bands that exist).

    Notes
    -----
    A Hann window rather than a rectangle: with a rectangle, a strong partial
    entering or leaving the window makes the smoothed spectrum jump, and the
    ratio of two such spectra (a matching curve) is jagged. Hann windows of
    width ``2b`` spaced ``b`` apart sum to a constant, so the smoothed
    spectrum still carries every partial's power.
    """
    half = max(1, round(octaves * BANDS_PER_OCTAVE))
    k = np.arange(-half, half + 1)
    window = 0.5 + 0.5 * np.cos(np.pi * k / (half + 1))
    widths = np.diff(band_edges(profile_first, density.size))
    power = np.convolve(density * widths, window, mode="same")
    norm = np.convolve(widths, window, mode="same")
    return power / norm


def third_octave_centres(low_hz: float, high_hz: float) -> np.ndarray:
    """Exact centres ``1000·10^{k/10}`` Hz of the base-10 third-octave bands (IEC 61260) in a range."""
    first = math.ceil(10.0 * math.log10(low_hz / 1000.0) - 1e-9)
    last = math.floor(10.0 * math.log10(high_hz / 1000.0) + 1e-9)
    return 1000.0 * 10.0 ** (np.arange(first, last + 1) / 10.0)


def band_power(
    profile_first: int, density: np.ndarray, lows_hz: np.ndarray, highs_hz: np.ndarray
) -> np.ndarray:
    """Power of a profile's density between each ``lows_hz[k]`` and ``highs_hz[k]`` (linear in the bands).

    Parameters
    ----------
    profile_first : int
        First band index of ``density`` (bands 1/96 octave wide).
    density : numpy.ndarray
        Mean power density per band.
    lows_hz, highs_hz : numpy.ndarray
        Edges of the bands to measure, Hz.

    Returns
    -------
    numpy.ndarray
        ``∫ P(f) df`` over each band, the density taken as constant inside each
        profile band (a band edge inside a profile band takes that part of it).
    """
    edges = band_edges(profile_first, density.size)
    running = np.concatenate(([0.0], np.cumsum(density * np.diff(edges))))
    return np.interp(highs_hz, edges, running) - np.interp(lows_hz, edges, running)


class LongTermAnalysis:
    """Stream audio in, get its :class:`MatchProfile` out: Welch spectra of mid and side, and loudness.

    Parameters
    ----------
    sample_rate : float
        Rate of the audio.
    channels : int
        Channels of every block.

    Notes
    -----
    Frames are transformed in fixed groups of :data:`GROUP`, counted from the
    start of the stream, so the result does not depend on how the audio was
    cut into blocks (streamed and whole-buffer fits agree exactly).
    """

    def __init__(self, sample_rate: float, channels: int) -> None:
        from ..audio_io import MIN_SAMPLE_RATE
        from ..meters import LoudnessMeter

        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.n_fft = 1 << math.ceil(math.log2(self.sample_rate / ANALYSIS_BIN_HZ))
        self.hop = self.n_fft // 2
        n = np.arange(self.n_fft)
        self.window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / self.n_fft)
        self.rows = 2 if self.channels == 2 else self.channels
        self.pending = np.zeros((self.rows, 0))
        self.sums = np.zeros((2, self.n_fft // 2 + 1))  # mid, side
        self.frames = 0
        self.samples = 0
        metered = sample_rate >= MIN_SAMPLE_RATE
        self.meter = LoudnessMeter(self.sample_rate, self.channels) if metered else None

    def _rows(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float64)
        if self.channels == 2:
            return np.stack(((x[0] + x[1]) * 0.5, (x[0] - x[1]) * 0.5))
        return x

    def _transform(self, segments: np.ndarray) -> None:
        """Add ``(rows, k, n_fft)`` frames' powers: mid is the mean over rows but side's, side row 1."""
        spectra = np.fft.rfft(segments * self.window, axis=-1)
        power = (spectra.real**2 + spectra.imag**2).sum(axis=1)  # (rows, bins)
        if self.channels == 2:
            self.sums[0] += power[0]
            self.sums[1] += power[1]
        else:
            self.sums[0] += power.mean(axis=0)

    def add(self, block: np.ndarray) -> None:
        """Analyse the next ``(channels, n)`` block."""
        if block.shape[1] == 0:
            return
        if self.meter is not None:
            self.meter.add(block)
        self.samples += block.shape[1]
        self.pending = np.concatenate((self.pending, self._rows(block)), axis=1)
        span = self.n_fft + (GROUP - 1) * self.hop
        while self.pending.shape[1] >= span:
            self._group(GROUP)

    def _group(self, count: int) -> None:
        windows = np.lib.stride_tricks.sliding_window_view(self.pending, self.n_fft, axis=1)
        self._transform(windows[:, : count * self.hop : self.hop][:, :count])
        self.frames += count
        self.pending = self.pending[:, count * self.hop :].copy()

    def profile(self, source: str = "") -> MatchProfile:
        """The profile of everything added (call once, at the end)."""
        held = self.pending.shape[1]
        remaining = 0 if held < self.n_fft else 1 + (held - self.n_fft) // self.hop
        if remaining:
            self._group(remaining)
        energy = float(np.sum(self.window**2))
        frames = self.frames
        if frames == 0 and self.pending.shape[1]:
            # Shorter than one frame: zero-pad it into one, scaled by the part of the window it fills.
            m = self.pending.shape[1]
            padded = np.zeros((self.rows, 1, self.n_fft))
            padded[:, 0, :m] = self.pending
            self._transform(padded)
            energy, frames = float(np.sum(self.window[:m] ** 2)), 1
        scale = 1.0 / (max(frames, 1) * energy * self.sample_rate)
        psd = self.sums * scale
        first, last = band_index_range(self.sample_rate)
        count = last - first + 1
        edges = band_edges(first, count)
        freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.sample_rate)
        df = freqs[1]
        bands = []
        for row in psd:
            # Running integral of the density, trapezoids between bins; interpolated at band edges.
            running = np.concatenate(([0.0], np.cumsum((row[1:] + row[:-1]) * 0.5 * df)))
            bands.append(np.diff(np.interp(edges, freqs, running)) / np.diff(edges))
        loudness = None if self.meter is None else self.meter.result().integrated_lufs
        return MatchProfile(first, np.maximum(bands[0], 0.0), np.maximum(bands[1], 0.0), loudness,
                            self.channels, self.sample_rate, self.samples / self.sample_rate, source)


def analyse_audio(audio: np.ndarray, sample_rate: float, source: str = "") -> MatchProfile:
    """The :class:`MatchProfile` of an array.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D (mono) or 2-D audio in either layout (the smaller dimension is channels).
    sample_rate : float
        Hz.
    source : str, optional
        A name to keep in the profile.

    Returns
    -------
    MatchProfile

    Examples
    --------
    >>> import numpy as np
    >>> from clarity_fx.processors.match_profile import analyse_audio
    >>> noise = np.random.default_rng(0).standard_normal((2, 48000)).astype(np.float32) * 0.1
    >>> profile = analyse_audio(noise, 48000)
    >>> profile.channels, round(profile.side_to_mid(), 1)
    (2, 1.0)
    """
    from ..validate import as_channels_first, check_sample_rate

    x, _, _ = as_channels_first(audio, dtype=None)
    analysis = LongTermAnalysis(check_sample_rate(sample_rate), x.shape[0])
    analysis.add(x)
    return analysis.profile(source)


def analyse_file(path: str | os.PathLike[str], *, what: str = "reference") -> MatchProfile:
    """The :class:`MatchProfile` of an audio file, read in blocks (flat memory).

    Raises
    ------
    AudioFileError
        When the file cannot be read (see :func:`~clarity_fx.audio_io.open_audio`).
    """
    from ..audio_io import open_audio, read_blocks

    info = open_audio(path, what=what)
    analysis = LongTermAnalysis(info.sample_rate, info.channels)
    for block in read_blocks(info, int(8 * info.sample_rate)):
        analysis.add(block)
    return analysis.profile(Path(path).name)
