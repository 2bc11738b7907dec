"""A regular install (a wheel, as pip, pipx and users make) ships everything ``clarity`` needs.

The wheel is built from a copy of the source tree, so the checkout's ``build/`` is not touched,
and installed with ``pip install --target`` beside the test venv's dependencies. The commands
then run from outside the repository, so nothing can come from the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _source_copy(dest: Path) -> Path:
    """The files git tracks (links kept as links), as a clean clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell the tracked files")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source, target = REPO / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, a folder holding the installed package)."""
    root = tmp_path_factory.mktemp("wheel")
    source = _source_copy(root / "src")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "-w", str(root / "dist"), str(source)],
        capture_output=True, text=True, check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("clarity_fx-*.whl")
    target = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return wheel, target


def _clarity(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CONFIG_HOME": str(cwd / "config")}
    return subprocess.run(
        [sys.executable, "-m", "clarity_fx", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_wheel_holds_every_shipped_preset_byte_for_byte(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            Path(name).name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("clarity_fx/presets/") and name.endswith(".yaml")
        }
    sources = {path.name: path.read_bytes() for path in (REPO / "presets").glob("*.yaml")}
    assert sources, "the top-level presets/ folder is empty"
    assert shipped == sources


def test_wheel_metadata_has_an_spdx_license(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert "License-Expression: MIT" in text


def test_installed_package_lists_and_applies_presets_from_outside_the_repository(installed, tmp_path):
    _, site = installed
    listed = _clarity(site, tmp_path, "presets", "list")
    assert listed.returncode == 0, listed.stderr
    for name in (path.stem for path in (REPO / "presets").glob("*.yaml")):
        assert name in listed.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import clarity_fx, sys; print(clarity_fx.__file__)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True, text=True, check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)  # not the source tree
    out = tmp_path / "take-clean.flac"
    applied = _clarity(site, tmp_path, "apply", "vocal-clarity", str(REPO / "examples" / "take.wav"),
                       "-o", str(out))
    assert applied.returncode == 0, applied.stderr
    import soundfile

    assert soundfile.info(str(out)).frames == soundfile.info(str(REPO / "examples" / "take.wav")).frames
