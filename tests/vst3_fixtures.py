"""The real VST3 test plugins of tests/vst3/, built once per test session.

Make the fixture visible in a test module that uses it::

    import vst3_fixtures

    vst3_plugins = vst3_fixtures.vst3_plugins

(an assignment rather than ``from vst3_fixtures import vst3_plugins``, which
ruff reports as redefined (F811) by every test that takes the fixture).

Without g++ or DPF (Debian's ``dpf-source``) the tests that use it are
skipped, with the reason; set ``CLARITY_REQUIRE_VST3=1`` (as CI does) to make a
missing toolchain fail instead. A toolchain that is present but fails to
build the plugins always fails.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from needs import skip_or_fail

HERE = Path(__file__).resolve().parent / "vst3"
BUILD_SCRIPT = HERE / "build.sh"
#: Built into the git-ignored tests/vst3/build, which build.sh keeps up to date and locks.
BUILD_DIR = HERE / "build"
PLUGINS = {
    "gain": "ClarityTestGain",
    "latency": "ClarityTestLatency",
    "crash": "ClarityTestCrash",
    "block": "ClarityTestBlock",  # output depends on the blocks it is handed
}


def missing_toolchain() -> str | None:
    """Why the test plugins cannot be built here, or None."""
    if platform.system() != "Linux":
        return f"the VST3 test plugins build on Linux only, not {platform.system()}"
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        return f"C++ compiler {compiler!r} not found (apt-get install g++)"
    dpf = Path(os.environ.get("DPF_PATH", "/usr/share/dpf"))
    if not (dpf / "distrho" / "DistrhoPluginMain.cpp").is_file():
        return f"DPF sources not found at {dpf} (apt-get install dpf-source)"
    if shutil.which("bash") is None:
        return "bash not found"
    return None


def require_toolchain() -> None:
    """Skip the calling test, or fail it when CLARITY_REQUIRE_VST3=1, if no toolchain."""
    skip_or_fail(missing_toolchain(), "CLARITY_REQUIRE_VST3", "VST3 test plugins")


@pytest.fixture(scope="session")
def vst3_plugins() -> dict[str, Path]:
    """``{"gain": Path, "latency": Path, "crash": Path, "block": Path}``: the built ``.vst3`` bundles."""
    require_toolchain()
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(BUILD_DIR)], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        pytest.fail(f"tests/vst3/build.sh failed ({result.returncode}):\n{result.stderr}", pytrace=False)
    built = {Path(line).name for line in result.stdout.split()}
    plugins = {key: BUILD_DIR / f"{name}.vst3" for key, name in PLUGINS.items()}
    for path in plugins.values():
        if path.name not in built or not path.is_dir():
            pytest.fail(f"build.sh did not produce {path}", pytrace=False)
    return plugins
