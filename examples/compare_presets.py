"""Compare two presets on the same file with analyze: which one is cleaner, which one is louder?

Usage: python examples/compare_presets.py IN.wav OUT_DIR [PRESET_A PRESET_B]
"""

import sys
from pathlib import Path

import clarity_fx as cfx
from clarity_fx.analysis import analyze_file

source, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
presets = sys.argv[3:5] or ["vocal-clarity", "podcast-voice"]

before = analyze_file(source)
print(f"{'':<22}{'LUFS':>8}{'noise floor':>13}{'SNR dB':>8}{'true peak':>11}")
print(
    f"{'(input)':<22}{before['loudness']['integrated_lufs']:>8.1f}"
    f"{before['level']['noise_floor_dbfs']:>13.1f}{before['level']['snr_db']:>8.1f}"
    f"{before['peak']['true_peak_dbtp']:>11.1f}"
)
for name in presets:
    target = out_dir / f"{source.stem}-{name}.wav"
    cfx.render(source, target, cfx.load_preset(name))
    after = analyze_file(target)
    print(
        f"{name:<22}{after['loudness']['integrated_lufs']:>8.1f}"
        f"{after['level']['noise_floor_dbfs']:>13.1f}{after['level']['snr_db']:>8.1f}"
        f"{after['peak']['true_peak_dbtp']:>11.1f}"
    )
