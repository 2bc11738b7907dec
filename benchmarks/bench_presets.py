"""Before/after numbers for every shipped preset, on the example take, a synthetic mix and real damage.

Usage: python benchmarks/bench_presets.py [--out benchmarks/out/presets]

Prints, per preset: integrated loudness, true peak, noise floor, SNR estimate, hum level, and the
spectral balance, before and after, plus the render speed. docs/presets.md quotes this output.

The repair presets (restore-speech, restore-vinyl, podcast-level) run on real recordings with
synthetic damage, so the clean original is known: alsa-utils speech (/usr/share/sounds/alsa) and
neverball-data music (/usr/share/games/neverball/bgm/track1.ogg). For them a second table gives
the SNR against the clean recording, before and after (and, for podcast-level, the spread of
short-term loudness over speech).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

import clarity_fx as cfx
from clarity_fx.analysis import analyze_file, integrated_loudness
from clarity_fx.preset import list_presets

ROOT = Path(__file__).resolve().parent.parent
ALSA = Path("/usr/share/sounds/alsa")
MUSIC = Path("/usr/share/games/neverball/bgm/track1.ogg")
REPAIR_PRESETS = {"restore-speech", "restore-vinyl", "podcast-level"}
TAKE = ROOT / "examples" / "take.wav"
VOICE_PRESETS = {
    "vocal-clarity",
    "podcast-voice",
    "dialogue-denoise",
    "de-esser",
    "hum-removal",
    "telephone-band",
}


def make_mix(path: Path, seconds: float = 20.0, sr: int = 48000) -> Path:
    """A synthetic stereo 'mix': kick, bass line, chords with dynamics, hats, and 50 Hz hum."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * sr)) / sr
    beat = (t * 2) % 1.0
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-beat * 30)) * t) * np.exp(-beat * 8)
    bass = 0.4 * np.sin(2 * np.pi * np.where((t % 4) < 2, 55, 73.4) * t)
    chords = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.3))
    chords *= 0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t) ** 2
    hats = lfilter([1, -1], [1], rng.standard_normal(t.size)) * 0.05 * np.exp(-((t * 4) % 1.0) * 40)
    hum = 0.003 * np.sin(2 * np.pi * 50 * t)
    mono = 0.5 * kick + bass + chords + hats + hum
    mix = np.stack([mono, 0.9 * mono + 0.02 * rng.standard_normal(t.size) * 0.1]) * 0.35
    sf.write(path, mix.T, sr, subtype="PCM_24")
    return path


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    spectrum[0] = 0.0
    y = np.fft.irfft(spectrum, n)
    return y / np.sqrt(np.mean(y**2))


def _hum(n: int, sr: int, rms_dbfs: float, mains: float = 50.0) -> np.ndarray:
    t = np.arange(n) / sr
    drift = 0.2 * np.sin(2 * np.pi * t / 20.0)  # +-0.2 Hz over 20 s
    phase = 2 * np.pi * np.cumsum(mains + drift) / sr
    h = sum(np.sin(k * phase + k) / k for k in range(1, 9))
    return h * 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(h**2))


def _clicks(x: np.ndarray, sr: int, per_s: float, rng: np.random.Generator, max_width: int = 20,
            amps: tuple[float, float] = (0.05, 0.6)) -> np.ndarray:
    y = x.copy()
    for start in rng.integers(0, x.shape[-1] - max_width, int(per_s * x.shape[-1] / sr)):
        width = int(rng.integers(1, max_width + 1))
        pulse = rng.uniform(*amps) * rng.choice([-1, 1]) * np.hanning(width + 2)[1:-1]
        y[..., start : start + width] += pulse
    return y


def _speech(sr: int = 48000) -> np.ndarray | None:
    if not ALSA.is_dir():
        print(f"skipped speech: {ALSA} is missing (apt-get install alsa-utils)")
        return None
    names = ("Front_Center", "Front_Left", "Front_Right", "Rear_Left", "Rear_Right", "Side_Left")
    gap = np.zeros(sr // 2)
    parts = [np.concatenate([sf.read(ALSA / f"{n}.wav")[0], gap]) for n in names]
    return np.concatenate([np.zeros(sr), *parts])


def make_damaged(out: Path) -> dict[str, tuple[Path, Path]]:
    """(clean, damaged) files for each repair preset, written under ``out``."""
    rng = np.random.default_rng(11)
    pairs: dict[str, tuple[Path, Path]] = {}
    speech = _speech()
    if speech is not None:
        sr = 48000
        clean = speech
        # Hum and room noise reach the converter with the voice, which clips there (peaks 6 dB
        # over the clip level); clicks come after (dropouts, a bad cable).
        damaged = clean + _hum(clean.size, sr, -40) + 10 ** (-50 / 20) * _pink(clean.size, rng)
        level = np.abs(damaged).max() / 2.0
        damaged = _clicks(np.clip(damaged, -level, level), sr, 10, rng)
        pairs["restore-speech"] = _write_pair(out, "speech", clean, damaged, sr)
        # Level jumps: the same speech at -30, -18 and -24 LUFS, with room noise.
        third = clean.size // 3
        gains = np.repeat(10 ** (np.array([-8.0, 4.0, -2.0]) / 20), [third, third, clean.size - 2 * third])
        levelled = clean * gains + 10 ** (-55 / 20) * _pink(clean.size, rng)
        pairs["podcast-level"] = _write_pair(out, "speech-levels", clean, levelled, sr)
    if MUSIC.is_file():
        music, sr = sf.read(MUSIC, frames=20 * 44100, always_2d=True)
        clean = music.T
        damaged = _clicks(clean, sr, 40, rng, max_width=6, amps=(0.02, 0.3))  # crackle
        damaged = _clicks(damaged, sr, 2, rng, max_width=40, amps=(0.2, 0.8))  # scratches
        damaged = damaged + _hum(clean.shape[1], sr, -40) + 10 ** (-45 / 20) * _pink(clean.shape[1], rng)
        pairs["restore-vinyl"] = _write_pair(out, "music", clean, damaged, sr)
    else:
        print(f"skipped music: {MUSIC} is missing (apt-get install neverball-data)")
    return pairs


def _write_pair(out: Path, stem: str, clean: np.ndarray, damaged: np.ndarray, sr: int) -> tuple[Path, Path]:
    paths = (out / f"{stem}-clean.wav", out / f"{stem}-damaged.wav")
    for path, x in zip(paths, (clean, damaged), strict=True):
        sf.write(path, np.asarray(x, np.float32).T, sr, subtype="FLOAT")
    return paths


def snr_db(clean: Path, test: Path) -> float:
    """SNR of ``test`` against ``clean``, after the best single gain (so levelling is not an error)."""
    a = np.atleast_2d(sf.read(clean, dtype="float64", always_2d=True)[0].T)
    b = np.atleast_2d(sf.read(test, dtype="float64", always_2d=True)[0].T)
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    g = float((a * b).sum() / (b * b).sum())
    return 10 * np.log10((a**2).sum() / ((a - g * b) ** 2).sum())


def speech_loudness_spread(path: Path) -> float:
    """Spread (95th - 5th percentile) of short-term loudness over 3 s windows above -45 LUFS, LU."""
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    hop, win = sr // 2, 3 * sr
    values = []
    for start in range(0, x.shape[0] - win, hop):
        value = integrated_loudness(x[start : start + win].T, sr)
        if value is not None and value > -45.0:
            values.append(value)
    return float(np.percentile(values, 95) - np.percentile(values, 5)) if values else float("nan")


def stage_snrs(name: str, clean: Path, damaged: Path, out: Path) -> list[str]:
    """SNR against the clean recording after each stage of preset ``name`` (the chain cut short there)."""
    chain = cfx.load_preset(name)
    x, sr = sf.read(damaged, dtype="float32", always_2d=True)
    lines = []
    for i in range(1, len(chain) + 1):
        part = out / f"{name}-stage{i}.wav"
        sf.write(part, cfx.Chain(list(chain)[:i])(x.T, sr).T, sr, subtype="FLOAT")
        stage = type(list(chain)[i - 1]).__name__
        lines.append(f"{'':15s}   after stage {i} ({stage}): {snr_db(clean, part):5.1f} dB")
    return lines


def row(report: dict) -> list[str]:
    def f(v: float | None, fmt: str = "{:.1f}") -> str:
        return "-" if v is None else fmt.format(v)

    hum = report["hum"]
    bal = report["spectral_balance_db"]
    return [
        f(report["loudness"]["integrated_lufs"]),
        f(report["peak"]["true_peak_dbtp"]),
        f(report["level"]["noise_floor_dbfs"]),
        f(report["level"]["snr_db"]),
        f(hum["level_db"]) if hum["detected"] else "none",
        "/".join(f(bal[k], "{:.0f}") for k in ("low", "low_mid", "presence", "air")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "presets")
    parser.add_argument("--only", nargs="*", default=None, help="measure only these presets")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mix = make_mix(args.out / "mix.wav")
    voice = np.zeros(int(3 * 48000), np.float32)
    voice[48000:96000] = 0.3 * np.sin(2 * np.pi * 200 * np.arange(48000) / 48000)
    sf.write(args.out / "voice.wav", voice, 48000)
    header = [
        "preset",
        "input",
        "",
        "LUFS",
        "dBTP",
        "floor dBFS",
        "SNR dB",
        "hum dB",
        "low/lmid/pres/air dB",
        "x realtime",
    ]
    rows = []
    damaged = make_damaged(args.out)
    repairs = []
    for name, path in list_presets().items():
        if (name in REPAIR_PRESETS and name not in damaged) or (args.only and name not in args.only):
            continue
        source = TAKE if name in VOICE_PRESETS else mix
        if name in REPAIR_PRESETS:
            source = damaged[name][1]
        target = args.out / f"{name}.wav"
        key = args.out / "voice.wav" if name == "podcast-duck" else None
        if key is not None:
            source = mix
            sf.write(args.out / "voice.wav", np.resize(voice, sf.info(mix).frames), 48000)
        started = time.perf_counter()
        cfx.render(source, target, cfx.load_preset(path), key=key, progress=False)
        speed = sf.info(source).duration / (time.perf_counter() - started)
        rows.append([name, source.name, "before", *row(analyze_file(source)), ""])
        rows.append(["", "", "after", *row(analyze_file(target)), f"{speed:.0f}"])
        if name in REPAIR_PRESETS:
            clean = damaged[name][0]
            extra = ""
            if name == "podcast-level":
                extra = f"  loudness spread over speech {speech_loudness_spread(source):.1f} -> " \
                        f"{speech_loudness_spread(target):.1f} LU"
            repairs.append(f"{name:15s} SNR against the clean recording {snr_db(clean, source):5.1f} -> "
                           f"{snr_db(clean, target):5.1f} dB{extra}")
            repairs.extend(stage_snrs(name, clean, source, args.out))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(
            "  ".join(
                str(c).rjust(w) if i > 2 else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print()
    for line in repairs:
        print(line)


if __name__ == "__main__":
    main()
