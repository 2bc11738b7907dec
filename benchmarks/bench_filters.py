"""Speed and accuracy of the analytic and Butterworth filters.

Speed: 60 s of stereo 48 kHz noise through

- ``pedalboard.HighpassFilter(1 kHz)``, the reference, one ``process`` call;
- ``AnalyticFilter("highpass", 1 kHz)``, IIR mode, one whole-buffer
  ``process`` call (blocks of 8192), and its kernel on the whole array;
- ``scipy.signal.sosfilt`` on the same section, to show why the kernel exists;
- ``ButterworthFilter`` (4th-order high-pass, and the 10th-order 300–3000 Hz
  telephone band, 20 poles);
- ``AnalyticFilter(..., mode="fft")``.

Seconds are the best of 5 interleaved runs after a warm-up. ``speed`` is
pedalboard's time over ours (above 1: we are faster), on wall-clock and on CPU
time (which other processes on a shared machine cannot inflate); the goal,
AnalyticFilter IIR at least as fast as pedalboard, is ``speed ≥ 1``.

Accuracy: the largest ``| 20·log10 |H_digital(f)| / |H(f)| |`` from 20 Hz to
0.4·fs, for first-order low- and high-passes ``H = 1/(1 + j f/f_c)`` and
``(j f/f_c)/(1 + j f/f_c)``, of

- ``bilinear``: the bilinear transform pre-warped at ``f_c``;
- ``pedalboard``: pedalboard's LowpassFilter/HighpassFilter, measured from
  its impulse response (1 s, FFT);
- ``one-pole``: matched-z pole with one zero matching ``|H|`` at Nyquist
  (Vicanek's matched one-pole);
- ``ours``: :func:`clarity_fx.processors.analytic.matched_section`.

Run: ``python benchmarks/bench_filters.py`` (about 30 s).
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb
import scipy.signal
from _util import best_of, machine_load, print_table

from clarity_fx.processors.analytic import (
    AnalyticFilter,
    highpass_response,
    lowpass_response,
    matched_section,
)
from clarity_fx.processors.butterworth import ButterworthFilter, sosfilt_stream

SAMPLE_RATE = 48000
SECONDS = 60.0
REPEAT = 5
RATES = (44100, 48000)
CUTOFFS = (20, 100, 1000, 3000, 5000, 10000)


# --------------------------------------------------------------------------- speed
def speed() -> None:
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, int(SECONDS * SAMPLE_RATE)))).astype(np.float32)
    analytic = AnalyticFilter("highpass", cutoff_hz=1000)
    sos = analytic.sos_for(SAMPLE_RATE)
    audio64 = audio.astype(np.float64)
    native = pb.HighpassFilter(cutoff_frequency_hz=1000)
    cases = {
        "pedalboard.HighpassFilter": lambda: native.process(audio, SAMPLE_RATE),
        "AnalyticFilter iir .process": lambda: analytic.process(audio, SAMPLE_RATE),
        "AnalyticFilter iir kernel": lambda: sosfilt_stream(sos, audio, np.zeros((1, 2, 2))),
        "scipy sosfilt (float64 in)": lambda: scipy.signal.sosfilt(sos, audio64, axis=1),
        "Butterworth highpass N=4": lambda: ButterworthFilter("highpass", cutoff_hz=1000)(
            audio, SAMPLE_RATE
        ),
        "Butterworth 300-3000 N=10": lambda: ButterworthFilter(
            "bandpass", low_hz=300, high_hz=3000, order=10
        )(audio, SAMPLE_RATE),
        "AnalyticFilter fft .process": lambda: AnalyticFilter(
            "highpass", cutoff_hz=1000, mode="fft"
        )(audio, SAMPLE_RATE),
    }
    times = best_of(cases, repeat=REPEAT)
    ref = times["pedalboard.HighpassFilter"]
    rows = [
        (
            name,
            f"{t.wall * 1e3:.1f}",
            f"{t.cpu * 1e3:.1f}",
            f"{SECONDS / t.wall:.0f}x",
            f"{ref.wall / t.wall:.2f}x",
            f"{ref.cpu / t.cpu:.2f}x",
        )
        for name, t in times.items()
    ]
    print(f"60 s stereo 48 kHz float32; {machine_load()}")
    print_table(["case", "wall ms", "cpu ms", "realtime", "speed (wall)", "speed (cpu)"], rows)
    t = times["AnalyticFilter iir .process"]
    verdict = "met" if ref.cpu / t.cpu >= 1 else "NOT met"
    print(
        f"goal AnalyticFilter iir >= pedalboard.HighpassFilter: {ref.cpu / t.cpu:.2f}x ({verdict})"
    )
    print()


# --------------------------------------------------------------------------- accuracy
def analog(kind: str, freqs: np.ndarray, cutoff: float) -> np.ndarray:
    return (
        lowpass_response(freqs, cutoff) if kind == "lowpass" else highpass_response(freqs, cutoff)
    )


def bilinear(kind: str, cutoff: float, sr: float) -> tuple[np.ndarray, np.ndarray]:
    warped = 2 * sr * np.tan(np.pi * cutoff / sr)  # rad/s, so the -3 dB point lands on f_c
    num = [warped] if kind == "lowpass" else [1, 0]
    return scipy.signal.bilinear(num, [1, warped], sr)


def one_pole(kind: str, cutoff: float, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """Matched-z pole; the zero sets DC and Nyquist gains to those of H."""
    p = np.exp(-2 * np.pi * cutoff / sr)
    nyquist = abs(analog(kind, np.array([sr / 2]), cutoff)[0])
    if kind == "lowpass":  # b0 + b1 = 1 - p (DC), b0 - b1 = (1 + p)|H(fs/2)|
        dc, ny = 1 - p, (1 + p) * nyquist
        return np.array([(dc + ny) / 2, (dc - ny) / 2]), np.array([1, -p])
    b0 = (1 + p) * nyquist / 2
    return np.array([b0, -b0]), np.array([1, -p])


def pedalboard_response(kind: str, cutoff: float, sr: float, freqs: np.ndarray) -> np.ndarray:
    cls = pb.LowpassFilter if kind == "lowpass" else pb.HighpassFilter
    impulse = np.zeros(int(sr), np.float32)
    impulse[0] = 1
    h = cls(cutoff_frequency_hz=cutoff)(impulse, sr).astype(np.float64)
    spectrum = np.fft.rfft(h)
    return np.interp(freqs, np.fft.rfftfreq(h.size, 1 / sr), np.abs(spectrum))


def worst_db(response: np.ndarray, target: np.ndarray) -> float:
    return float(np.max(np.abs(20 * np.log10(np.abs(response) / np.abs(target)))))


def accuracy() -> None:
    print("max |error| in dB from 20 Hz to 0.4 fs against |H(f)| (first order)")
    worst = 0.0
    for kind in ("lowpass", "highpass"):
        rows = []
        for sr in RATES:
            freqs = np.arange(20, int(0.4 * sr) + 1, 1.0)
            for cutoff in CUTOFFS:
                target = analog(kind, freqs, cutoff)
                errs = []
                for design in (bilinear, one_pole):
                    _, h = scipy.signal.freqz(*design(kind, cutoff, sr), worN=freqs, fs=sr)
                    errs.append(worst_db(h, target))
                errs.insert(1, worst_db(pedalboard_response(kind, cutoff, sr, freqs), target))
                _, h = scipy.signal.sosfreqz(matched_section(kind, cutoff, sr), worN=freqs, fs=sr)
                errs.append(worst_db(h, target))
                worst = max(worst, errs[-1])
                rows.append((kind, sr, cutoff, *(f"{e:.3f}" for e in errs)))
        print_table(["kind", "fs", "f_c Hz", "bilinear", "pedalboard", "one-pole", "ours"], rows)
        print()
    # The band-pass and higher orders, measured through process() with an impulse.
    rows = []
    for sr in RATES:
        freqs = np.fft.rfftfreq(sr, 1 / sr)
        band = (freqs >= 20) & (freqs <= 0.4 * sr)
        for order in (1, 2):
            for low, high in ((20, 10000), (300, 3000), (100, 8000)):
                p = AnalyticFilter("bandpass", low_hz=low, high_hz=high, order=order)
                impulse = np.zeros(sr, np.float32)
                impulse[0] = 1
                measured = np.fft.rfft(p(impulse, sr).astype(np.float64))
                target = p.transfer_function(freqs)
                design = worst_db(p.frequency_response(freqs[band], sr), target[band])
                rows.append(
                    (
                        sr,
                        order,
                        f"{low}-{high}",
                        f"{design:.3f}",
                        f"{worst_db(measured[band], target[band]):.3f}",
                    )
                )
    print("AnalyticFilter bandpass (iir): max |error| in dB, 20 Hz to 0.4 fs")
    print_table(["fs", "order", "band Hz", "design", "measured"], rows)
    print()
    print(f"ours, worst over the first-order tables: {worst:.3f} dB (goal < 0.5 dB)")


if __name__ == "__main__":
    speed()
    accuracy()
