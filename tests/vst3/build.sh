#!/usr/bin/env bash
# Build clarity-fx's test VST3 plugins from source with g++ and DPF (Debian
# package `dpf-source`, headers under /usr/share/dpf). No cmake, no network.
#
#   tests/vst3/build.sh [OUTDIR]      # default OUTDIR: tests/vst3/build
#
# Produces OUTDIR/<Name>.vst3/Contents/<arch>-linux/<Name>.so for each plugin
# and prints the bundle paths (one per line, stdout). Skips a plugin whose .so
# is newer than its sources and this script. Env overrides: CXX, DPF_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUTDIR="${1:-$HERE/build}"
DPF_PATH="${DPF_PATH:-/usr/share/dpf}"
CXX="${CXX:-g++}"
PLUGINS=(ClarityTestGain ClarityTestLatency ClarityTestCrash ClarityTestBlock)

if [ ! -f "$DPF_PATH/distrho/DistrhoPluginMain.cpp" ]; then
    echo "build.sh: DPF sources not found at $DPF_PATH (apt-get install dpf-source)" >&2
    exit 2
fi
if ! command -v "$CXX" >/dev/null 2>&1; then
    echo "build.sh: C++ compiler '$CXX' not found (apt-get install g++)" >&2
    exit 2
fi

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

# Serialise concurrent invocations (e.g. several pytest-xdist workers).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$OUTDIR/.build.lock"
    flock 9
fi

ARCH="$(uname -m)-linux"
CXXFLAGS_=(-std=gnu++11 -O1 -fPIC -fvisibility=hidden -DNDEBUG -DDISTRHO_PLUGIN_TARGET_VST3)
LDFLAGS_=(-shared -Wl,--gc-sections -Wl,--no-undefined)
if [ -f "$DPF_PATH/utils/symbols/vst3.version" ]; then
    LDFLAGS_+=("-Wl,--version-script=$DPF_PATH/utils/symbols/vst3.version")
fi

pids=()
names=()
for name in "${PLUGINS[@]}"; do
    src="$HERE/$name"
    so="$OUTDIR/$name.vst3/Contents/$ARCH/$name.so"
    if [ -f "$so" ] && [ -z "$(find "$src" "$HERE/build.sh" -newer "$so" -print -quit)" ]; then
        continue  # up to date
    fi
    mkdir -p "$(dirname "$so")"
    (
        tmp="$so.tmp.$$"
        "$CXX" "${CXXFLAGS_[@]}" -I"$src" -I"$DPF_PATH/distrho" \
            "$src/$name.cpp" "$DPF_PATH/distrho/DistrhoPluginMain.cpp" \
            "${LDFLAGS_[@]}" -o "$tmp" -lpthread -ldl \
            && mv -f "$tmp" "$so" || { rm -f "$tmp"; exit 1; }
    ) &
    pids+=($!)
    names+=("$name")
done

failed=()
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
done
if [ "${#failed[@]}" -ne 0 ]; then
    echo "build.sh: compilation failed for: ${failed[*]}" >&2
    exit 1
fi

for name in "${PLUGINS[@]}"; do
    echo "$OUTDIR/$name.vst3"
done
