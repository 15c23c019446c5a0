#!/usr/bin/env bash
# Download into .whl/ the wheels a GPU machine without network needs to run scripts/gpu_check.sh.
#
#   bash scripts/fetch_gpu_wheels.sh          (here, with network to PyPI)
#
# The GPU machine (see docs/cli.md) has Python 3.12 with JAX, PyTorch, NumPy, pandas and
# matplotlib, but no Keras 3.  Keras needs, besides what that machine has (absl-py, numpy,
# rich, h5py, ml-dtypes, packaging), namex and optree: those three wheels are fetched, for
# CPython 3.12 on manylinux x86_64, at the versions this checkout's .venv runs (so the GPU
# measures with the Keras the tests ran), or the newest where there is no .venv.
# gpu_check.sh installs them there with pip --no-index into a private folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.whl"
PYTHON="${PYTHON:-python3}"
WANTED=(keras namex optree)
# Keras's requirements that the GPU machine already has (its package list, KINDS.md), and
# optree's (typing-extensions): a requirement outside these and WANTED stops the script.
PRESENT=(absl-py numpy rich h5py ml-dtypes packaging typing-extensions)

pinned() {  # NAME==VERSION from the project's .venv, or NAME alone
    local name="$1" version=""
    if [ -x "$ROOT/.venv/bin/python" ]; then
        version="$("$ROOT/.venv/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" \
            2>/dev/null || true)"
    fi
    if [ -n "$version" ]; then echo "$name==$version"; else echo "$name"; fi
}

mkdir -p "$DEST"
rm -f "$DEST"/*.whl  # two versions of one package would stop the install there
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
           manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
requirements=()
for name in "${WANTED[@]}"; do requirements+=("$(pinned "$name")"); done
echo "fetch_gpu_wheels: ${requirements[*]}"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$DEST" "${requirements[@]}"

# Every requirement of what was fetched must be fetched too or be on the GPU machine already.
normalise() { tr '[:upper:]_.' '[:lower:]--'; }
known=" $(printf '%s ' "${WANTED[@]}" "${PRESENT[@]}" | normalise) "
missing=()
for wheel in "$DEST"/*.whl; do
    while read -r requirement; do
        name="$(echo "$requirement" | sed -E 's/^Requires-Dist: *([A-Za-z0-9_.-]+).*/\1/' | normalise)"
        [[ "$known" == *" $name "* ]] || missing+=("$name (for $(basename "$wheel"))")
    done < <(unzip -p "$wheel" '*.dist-info/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' || true)
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "fetch_gpu_wheels: the GPU machine may lack: ${missing[*]}; add them to WANTED" >&2
    exit 1
fi
ls -l "$DEST"
echo "fetch_gpu_wheels: $(du -sh "$DEST" | cut -f1) in $DEST; carry .whl to the GPU machine"
