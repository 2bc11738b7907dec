"""A mastering pass over a folder, in a few lines.

Usage: python examples/master_folder.py ALBUM_DIR OUT_DIR [--album]
"""

import sys

import clarity_fx as cfx

album_dir, out_dir = sys.argv[1], sys.argv[2]
reports = cfx.master([album_dir], out_dir, "master-streaming", album="--album" in sys.argv[3:])
for r in reports:
    print(
        f"{r.output_path.name}: {r.loudness_before:.1f} -> {r.loudness_after:.1f} LUFS "
        f"(gain {r.gain_db:+.1f} dB, true peak {r.true_peak_after_dbtp:.1f} dBTP)"
    )
