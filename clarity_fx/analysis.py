"""Measure a recording: loudness (ITU-R BS.1770-4, EBU R 128), true peak, and its health.

The meters live in :mod:`clarity_fx.meters` and the standard's tables in
:mod:`clarity_fx.bs1770`; this module builds the report from them (their
names are re-exported here). The meters' module docstring walks through the
standard's steps (K-weighting, gating, momentary and short-term loudness, LRA,
the Annex 2 true peak).

All meters stream: :meth:`add` takes ``(channels, n)`` float blocks one by one
and :meth:`result` reports; filter states carry across blocks, so results do
not depend on how the signal is cut. Memory is flat in file length except for
one float per 100 ms (the loudness sub-block energies: 290 kB per hour).

Report schema (``SCHEMA_VERSION = 1``)
--------------------------------------
:func:`analyze_array`, :func:`analyze_file` and :meth:`AudioAnalyzer.result`
return this dict. Every value is a plain ``int``, ``float``, ``bool``,
``list`` or ``None``, so ``json.dumps(report, allow_nan=False)`` always works.
``None`` (JSON ``null``) means *not measurable*: digital silence, nothing above
a gate, or a file too short for the window (400 ms momentary and integrated,
3 s short-term and LRA). No field is ever NaN or infinite. ::

    {
      "schema_version": 1,
      "sample_rate": 48000,                # Hz
      "channels": 2,
      "duration_s": 61.25,
      "loudness": {
        "integrated_lufs": -23.0,          # BS.1770-4 gated, LUFS
        "range_lu": 6.1,                   # EBU Tech 3342 LRA, LU
        "short_term_max_lufs": -18.2,      # max of 3 s loudness, 10 Hz update
        "momentary_max_lufs": -15.9        # max of 400 ms loudness, 10 Hz update
      },
      "peak": {
        "true_peak_dbtp": -1.2,            # BS.1770-4 Annex 2, dBTP
        "sample_peak_dbfs": -1.5,          # max |x|, dBFS
        "clipped_samples": 0,              # see CLIP_LEVEL, CLIP_MIN_RUN
        "clipped_runs": 0
      },
      "level": {
        "rms_dbfs": -20.4,                 # mean square of all samples, all channels
        "crest_factor_db": 18.9,           # sample_peak_dbfs - rms_dbfs
        "dc_offset": [0.0001, -0.0002],    # mean per channel, linear full scale
        "noise_floor_dbfs": -62.0,         # 10th percentile of 50 ms frame RMS
        "snr_db": 41.5                     # 95th minus 10th percentile of frame RMS
      },
      "hum": {
        "detected": false,
        "mains_hz": null,                  # 50, 60 or null
        "level_db": null                   # dB over the neighbourhood, if detected
      },
      "spectral_balance_db": {             # share of 20 Hz - 20 kHz energy, dB (<= 0)
        "low": -3.1,                       # 20-250 Hz
        "low_mid": -4.0,                   # 250-2000 Hz
        "presence": -9.8,                  # 2-6 kHz
        "air": -17.5                       # 6-20 kHz
      }
    }

Definitions of the estimates (not standardised measures):

- ``clipped_samples`` counts samples that lie in a run of at least
  ``CLIP_MIN_RUN`` (3) consecutive samples of one channel, all at or beyond
  ``+CLIP_LEVEL`` or all at or beyond ``-CLIP_LEVEL`` (0.999 full scale), i.e.
  flat tops; a lone full-scale sample is a peak, not a clip. ``clipped_runs``
  counts those runs. Legitimate audio that sits within 0.009 dB of full scale
  for three samples counts too.
- ``noise_floor_dbfs`` and ``snr_db`` use the RMS of consecutive 50 ms frames
  (all channels pooled), binned at 0.1 dB. Frames below -150 dBFS are digital
  silence (edits, padding), not a noise floor, and are left out. ``snr_db`` is
  the 95th minus the 10th percentile: for speech with pauses it approximates
  speech level over background noise; for a signal without pauses it is small
  and means little.
- ``hum``: in the averaged spectrum the power within ±3 Hz of each harmonic
  ``k * f0`` (k = 1..5, f0 = 50 and 60 Hz) is compared with the median power of
  the bins 8-25 Hz away on both sides. A harmonic is a *mains line* when it
  stands ``HUM_DETECT_DB`` (6 dB) above that neighbourhood *and* its peak (the
  strongest bin, refined by a parabola through its neighbours) lies within
  ``HUM_TUNE_TOLERANCE`` (1 %) of ``k * f0``: mains drifts by far less, while
  equal-tempered notes near a multiple of 50 or 60 Hz (G2 98 Hz, B2 123.5 Hz,
  D4 293.7 Hz) are 2-3 % away. A family is detected when its fundamental, or
  at least two of its harmonics, are mains lines. ``level_db`` is how far the
  strongest of its lines stands above its neighbourhood, so it is at least 6 dB
  whenever hum is detected: what is reported is what was found. The
  stronger family is reported if both are detected; ``level_db`` is ``None``
  when no hum is detected. On real speech (alsa-utils, about -22 dBFS RMS) a
  50 Hz hum is found from about -50 dBFS and missed at -60 dBFS; under loud
  music (neverball-data, -14 to -16 dBFS RMS) from 16-24 dB under the music.
  Not told apart: a kick drum whose bump peaks at 50 Hz can stand 6 dB out of a
  short excerpt (8 s of neverball's track1 reads as 10 dB of 50 Hz hum; 12 s
  and more of it do not). ``tests/test_claims.py`` measures clean and de-hummed
  recordings too.
- ``spectral_balance_db`` is each band's share of the energy between 20 Hz and
  20 kHz, in dB, from a Welch-averaged power spectrum (Hann, 50 % overlap,
  1-2 Hz bins). It is floored at ``-120.0``; a band wholly above Nyquist is
  ``None``.

:func:`compare` pairs two reports field by field.
"""


from __future__ import annotations

import math
from os import PathLike
from typing import Any

import numpy as np

from .bs1770 import (  # noqa: F401 - re-exported: the standard's tables, as before the split
    G_FRONT,
    G_SURROUND,
    GAMMA_A,
    GAMMA_R,
    HIGHPASS_F0_HZ,
    HIGHPASS_Q,
    L_K_OFFSET,
    MIN_SAMPLE_RATE,
    OVERLAP,
    SHELF_F0_HZ,
    SHELF_GAIN_DB,
    SHELF_Q,
    SHELF_VB_EXPONENT,
    T_G,
    T_STEP,
    TRUE_PEAK_2X_RATE,
    TRUE_PEAK_PHASES,
    k_weighting_sos,
)
from .errors import ParameterError
from .meters import (  # noqa: F401 - re-exported: ``from clarity_fx.analysis import LoudnessMeter`` works
    _SLICE,
    _TRUE_PEAK_SLICE,
    CLIP_LEVEL,
    CLIP_MIN_RUN,
    FRAME_HIST_HI_DB,
    FRAME_HIST_LO_DB,
    FRAME_HIST_STEP_DB,
    FRAME_S,
    LRA_ABS_THRES,
    LRA_PRC_HIGH,
    LRA_PRC_LOW,
    LRA_REL_THRES,
    T_M,
    T_S,
    WELCH_MAX_BIN_HZ,
    AveragedSpectrum,
    LevelStats,
    LoudnessMeter,
    LoudnessResult,
    TruePeakMeter,
    _block,
    _db_amplitude,
    _db_power,
    _slices,
    integrated_loudness,
    pooled_loudness,
    true_peak_dbtp,
)
from .validate import MAX_CHANNELS, check_channels, check_sample_rate  # noqa: F401

__all__ = [
    "SCHEMA_VERSION",
    "AudioAnalyzer",
    "LoudnessMeter",
    "LoudnessResult",
    "TruePeakMeter",
    "analyze_array",
    "analyze_file",
    "compare",
    "integrated_loudness",
    "k_weighting_sos",
    "pooled_loudness",
    "true_peak_dbtp",
]

#: Version of the report dict; bumped whenever a field changes meaning or moves.
SCHEMA_VERSION = 1

# --- Health report estimates (see the module docstring) ----------------------

NOISE_FLOOR_PERCENTILE = 10.0
SIGNAL_PERCENTILE = 95.0
MAINS_HZ = (50, 60)
HUM_HARMONICS = 5
HUM_PEAK_HALF_WIDTH_HZ = 3.0
HUM_NEIGHBOUR_HZ = (8.0, 25.0)
HUM_DETECT_DB = 6.0
HUM_TUNE_TOLERANCE = 0.01
BANDS_HZ = {
    "low": (20.0, 250.0),
    "low_mid": (250.0, 2000.0),
    "presence": (2000.0, 6000.0),
    "air": (6000.0, 20000.0),
}
BAND_FLOOR_DB = -120.0


def _in_tune(freqs: np.ndarray, power: np.ndarray, peak_bins: np.ndarray, fc: float) -> bool:
    """Whether the strongest bin near ``fc`` peaks within ``HUM_TUNE_TOLERANCE`` of it."""
    index = np.flatnonzero(peak_bins)
    i = int(index[np.argmax(power[index])])
    peak = float(freqs[i])
    if 0 < i < power.size - 1 and min(power[i - 1], power[i], power[i + 1]) > 0.0:
        a, b, c = (math.log(float(v)) for v in power[i - 1 : i + 2])
        denominator = a - 2.0 * b + c
        if denominator < 0.0:  # a maximum: the parabola's vertex, within half a bin
            peak += 0.5 * (a - c) / denominator * float(freqs[1] - freqs[0])
    return abs(peak - fc) <= HUM_TUNE_TOLERANCE * fc


def _hum(freqs: np.ndarray, power: np.ndarray) -> dict[str, Any]:
    """Mains-hum detection on an averaged power spectrum (see the module docstring)."""
    nyquist = freqs[-1]
    # Ratios are floored at -120 dB of the total so a perfectly clean synthetic
    # neighbourhood gives a large finite number, not a division by zero.
    eps = 1e-12 * float(power.sum())
    if eps == 0.0:
        return {"detected": False, "mains_hz": None, "level_db": None}
    found = []  # (level_db, f0) of each detected family
    for f0 in MAINS_HZ:
        lines = []  # the ratio of each harmonic that is a mains line, dB
        for k in range(1, HUM_HARMONICS + 1):
            fc = k * f0
            if fc + HUM_NEIGHBOUR_HZ[1] >= nyquist:
                break
            distance = np.abs(freqs - fc)
            peak_bins = distance <= HUM_PEAK_HALF_WIDTH_HZ
            neighbours = (distance >= HUM_NEIGHBOUR_HZ[0]) & (distance <= HUM_NEIGHBOUR_HZ[1])
            p = float(power[peak_bins].sum())
            # The median ignores a neighbouring harmonic of the other mains family.
            ref = float(np.median(power[neighbours])) * int(peak_bins.sum())
            ratio = 10.0 * math.log10((p + eps) / (ref + eps))
            in_line = ratio >= HUM_DETECT_DB and _in_tune(freqs, power, peak_bins, fc)
            lines.append(ratio if in_line else None)
        # A fundamental alone is hum; a lone harmonic is more likely a note.
        if lines and (lines[0] is not None or sum(r is not None for r in lines) >= 2):
            found.append((max(r for r in lines if r is not None), f0))
    if not found:
        # No level then: the strongest single harmonic of an undetected family
        # is usually a note, and a large number there would read as hum.
        return {"detected": False, "mains_hz": None, "level_db": None}
    level, f0 = max(found)
    return {"detected": True, "mains_hz": f0, "level_db": level}


def _spectral_balance(freqs: np.ndarray, power: np.ndarray) -> dict[str, float | None]:
    energies = {}
    for name, (lo, hi) in BANDS_HZ.items():
        in_band = (freqs >= lo) & (freqs < hi)
        energies[name] = float(power[in_band].sum()) if in_band.any() else None
    total = sum(e for e in energies.values() if e is not None)
    out: dict[str, float | None] = {}
    for name, e in energies.items():
        if e is None or total <= 0.0:
            out[name] = None
        elif e > 0.0:
            out[name] = max(BAND_FLOOR_DB, 10.0 * math.log10(e / total))
        else:
            out[name] = BAND_FLOOR_DB
    return out


# --- the analyzer --------------------------------------------------------------


class AudioAnalyzer:
    """Streaming health report: feed blocks with :meth:`add`, read :meth:`result`.

    Runs a :class:`LoudnessMeter`, a :class:`TruePeakMeter`, level statistics
    and an averaged spectrum side by side; memory stays flat in file length.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz (>= 8000).
    channels : int
        Number of channels of every block.
    """

    def __init__(self, sample_rate: float, channels: int) -> None:
        self.sample_rate = check_sample_rate(sample_rate, MIN_SAMPLE_RATE)
        self.channels = check_channels(channels)
        self._loudness = LoudnessMeter(self.sample_rate, self.channels)
        self._true_peak = TruePeakMeter(self.sample_rate, self.channels)
        self._levels = LevelStats(self.sample_rate, self.channels)
        self._spectrum = AveragedSpectrum(self.sample_rate, self.channels)

    def add(self, block: np.ndarray) -> None:
        """Feed the next block of audio.

        Parameters
        ----------
        block : numpy.ndarray
            ``(channels, n)`` floats (1-D for mono); any ``n``, including 0.
        """
        for x in _slices(_block(block, self.channels, self.sample_rate, self._levels.n), _SLICE):
            self._loudness._add(x)
            for start in range(0, x.shape[1], _TRUE_PEAK_SLICE):
                self._true_peak._add(x[:, start : start + _TRUE_PEAK_SLICE])
            self._levels.add(x)
            self._spectrum.add(x)

    def result(self) -> dict[str, Any]:
        """The report so far, in the schema of the module docstring.

        Returns
        -------
        dict
            JSON-ready; ``None`` where a value is not measurable.
        """
        lv = self._levels
        loud = self._loudness.result()
        sample_peak = _db_amplitude(lv.peak)
        rms = _db_power(lv.sum_sq / (lv.n * self.channels)) if lv.n else None
        noise_floor = lv.percentile_db(NOISE_FLOOR_PERCENTILE)
        signal = lv.percentile_db(SIGNAL_PERCENTILE)
        clipped_samples, clipped_runs = lv.clip_counts()
        spectrum = self._spectrum.spectrum()
        if spectrum is None:
            hum = {"detected": False, "mains_hz": None, "level_db": None}
            balance: dict[str, float | None] = dict.fromkeys(BANDS_HZ)
        else:
            hum = _hum(*spectrum)
            balance = _spectral_balance(*spectrum)
        rate = self.sample_rate
        return {
            "schema_version": SCHEMA_VERSION,
            "sample_rate": int(rate) if rate.is_integer() else rate,
            "channels": self.channels,
            "duration_s": lv.n / rate,
            "loudness": {
                "integrated_lufs": loud.integrated_lufs,
                "range_lu": loud.loudness_range_lu,
                "short_term_max_lufs": loud.short_term_max_lufs,
                "momentary_max_lufs": loud.momentary_max_lufs,
            },
            "peak": {
                "true_peak_dbtp": self._true_peak.result(),
                "sample_peak_dbfs": sample_peak,
                "clipped_samples": clipped_samples,
                "clipped_runs": clipped_runs,
            },
            "level": {
                "rms_dbfs": rms,
                "crest_factor_db": (
                    sample_peak - rms if sample_peak is not None and rms is not None else None
                ),
                "dc_offset": [float(s) / lv.n if lv.n else 0.0 for s in lv.sums],
                "noise_floor_dbfs": noise_floor,
                "snr_db": signal - noise_floor if noise_floor is not None else None,
            },
            "hum": hum,
            "spectral_balance_db": balance,
        }


def analyze_array(audio: np.ndarray, sample_rate: float) -> dict[str, Any]:
    """Health report of a whole array.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D mono, or 2-D with channels on the smaller axis (``(channels, n)``
        or ``(n, channels)``, as every Plugin takes it), floats in full-scale units.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    dict
        The report described in the module docstring.
    """
    a = _block(audio, None, check_sample_rate(sample_rate, MIN_SAMPLE_RATE))
    analyzer = AudioAnalyzer(sample_rate, a.shape[0])
    analyzer.add(a)
    return analyzer.result()


def analyze_file(path: str | PathLike[str], block_seconds: float = 5.0) -> dict[str, Any]:
    """Health report of an audio file, read in blocks so memory stays flat.

    Parameters
    ----------
    path : str or os.PathLike
        Any audio file clarity reads (WAV, FLAC, MP3, OGG, AIFF, ...), vetted
        by :func:`clarity_fx.audio_io.open_audio` as ``render`` vets it.
    block_seconds : float, default 5.0
        Length of each block read; results do not depend on it.

    Returns
    -------
    dict
        The report described in the module docstring.

    Raises
    ------
    AudioFileError
        If the file is missing, not audio, truncated or damaged, or holds
        NaN or infinite samples.
    """
    from .audio_io import open_audio, read_blocks

    if not (isinstance(block_seconds, (int, float)) and block_seconds > 0):
        raise ParameterError(f"block_seconds must be a positive number, got {block_seconds!r}")
    info = open_audio(path)
    analyzer = AudioAnalyzer(info.sample_rate, info.channels)
    for data in read_blocks(info, max(1, round(block_seconds * info.sample_rate))):
        analyzer.add(data)
    return analyzer.result()


# --- before/after ----------------------------------------------------------------

#: Numeric fields that are labels: their difference means nothing.
_CATEGORICAL = frozenset({"mains_hz"})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _leaf(key: str, before: Any, after: Any) -> dict[str, Any]:
    numeric = _is_number(before) and _is_number(after) and key not in _CATEGORICAL
    return {"before": before, "after": after, "difference": after - before if numeric else None}


def _compare_tree(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in [*before, *(k for k in after if k not in before)]:
        b, a = before.get(key), after.get(key)
        if isinstance(b, dict) and isinstance(a, dict):
            out[key] = _compare_tree(b, a)
        elif isinstance(b, list) and isinstance(a, list) and len(b) == len(a):
            out[key] = [_leaf(key, x, y) for x, y in zip(b, a, strict=True)]
        else:
            out[key] = _leaf(key, b, a)
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Pair two reports field by field, e.g. before and after processing.

    Parameters
    ----------
    before, after : dict
        Reports from :func:`analyze_file` or :func:`analyze_array`, same schema version.

    Returns
    -------
    dict
        The reports' nesting, with every field (and every ``dc_offset``
        channel) replaced by ``{"before": b, "after": a, "difference": a - b}``.
        ``difference`` is ``None`` unless both sides are numbers and the field
        is a quantity (not for ``hum.detected`` or ``hum.mains_hz``).
        ``schema_version`` stays a plain int.

    Raises
    ------
    ParameterError
        If either report is not a dict of this module's schema version.
    """
    for name, report in (("before", before), ("after", after)):
        version = report.get("schema_version") if isinstance(report, dict) else None
        if version != SCHEMA_VERSION:
            raise ParameterError(
                f"{name} has schema_version {version!r}, expected {SCHEMA_VERSION}; "
                "re-run the analysis with this clarity-fx version"
            )
    fields = {k: v for k, v in before.items() if k != "schema_version"}
    others = {k: v for k, v in after.items() if k != "schema_version"}
    return {"schema_version": SCHEMA_VERSION, **_compare_tree(fields, others)}
