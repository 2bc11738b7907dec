"""Before/after numbers for every shipped preset, on the example take and a synthetic mix.

Usage: python benchmarks/bench_presets.py [--out benchmarks/out/presets]

Prints, per preset: integrated loudness, true peak, noise floor, SNR estimate, hum level, and the
spectral balance, before and after, plus the render speed. docs/presets.md quotes this output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

import clarity_fx as cfx
from clarity_fx.analysis import analyze_file
from clarity_fx.preset import list_presets

ROOT = Path(__file__).resolve().parent.parent
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
    for name, path in list_presets().items():
        source = TAKE if name in VOICE_PRESETS else mix
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
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(
            "  ".join(
                str(c).rjust(w) if i > 2 else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
