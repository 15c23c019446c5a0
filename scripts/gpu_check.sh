#!/usr/bin/env bash
# Measure this machine's NVIDIA GPU on every Keras backend installed: calibrate, seed, factorizations.
#
#   bash scripts/gpu_check.sh RESULTS_DIR        e.g. docs/results/nvidia-h200
#
# Writes RESULTS_DIR/<backend>/ for each of tensorflow, jax and torch that imports (one results
# folder per backend: a folder never mixes backends) and the log RESULTS_DIR/gpu_check.log.
# Uses the preset `gpu` (python -m validate ... --preset gpu --device gpu), sized so that all of
# it ends within 5 minutes.  Installs nothing from the network: wheels in .whl/ at the repository
# root (bash scripts/fetch_gpu_wheels.sh, run where there is network) are installed with
# pip --no-index into a private folder put on PYTHONPATH.
#
# Exit status: 0 when every backend present measured the GPU and passed its cross-checks;
# 1 when no GPU is seen (by nvidia-smi or by a backend), a step failed, or no backend ran.
#
# GPU_CHECK_DRY_RUN=1 checks the script itself where there is no GPU: the GPU checks are
# skipped and each backend measures the quick profile on the CPU instead.
set -uo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: bash scripts/gpu_check.sh RESULTS_DIR" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="$1"
PYTHON="${PYTHON:-python3}"
SITE="${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/gpu_check_site}"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
LOG="$RESULTS/gpu_check.log"
: >"$LOG"

log() { echo "gpu_check: $*" | tee -a "$LOG" >&2; }
fail() { log "FAILED: $*"; exit 1; }
joined() { local text; printf -v text '%s; ' "$@"; echo "${text%; }"; }

log "started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), results in $RESULTS"
if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
    DEVICE=cpu PRESET=quick
    log "dry run: no GPU checks, the quick profile on the CPU"
else
    DEVICE=gpu PRESET=gpu
    # 1. The driver sees a GPU.
    command -v nvidia-smi >/dev/null || fail "no nvidia-smi on PATH: no NVIDIA driver, so no GPU to measure"
    gpus="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>>"$LOG")"
    [ -n "$gpus" ] || fail "nvidia-smi sees no GPU"
    log "nvidia-smi: $gpus"
fi

# 2. Keras and what it needs, from .whl/ only (the GPU machine has no network).
if compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$ROOT"/.whl/*.whl >>"$LOG" 2>&1 || fail "pip could not install .whl/*.whl (see $LOG)"
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    log "installed $(cd "$ROOT/.whl" && ls *.whl | tr '\n' ' ')into $SITE"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the project, run from its checkout
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
# Keras's numpy backend needs no framework: this asks only whether Keras itself imports.
if ! problem="$(KERAS_BACKEND=numpy "$PYTHON" -c "import keras" 2>&1)"; then
    echo "$problem" >>"$LOG"
    fail "keras does not import ($(echo "$problem" | tail -n 1)); bring its wheels in .whl/" \
        "(bash scripts/fetch_gpu_wheels.sh where there is network)"
fi

# 3. Each backend present: it must see the GPU, then calibrate, then the sweep (seed, factorizations).
failures=()
measured=()
for backend in tensorflow jax torch; do
    if ! "$PYTHON" -c "import $backend" >/dev/null 2>&1; then
        log "$backend: not installed, skipped"
        continue
    fi
    seen="$("$PYTHON" -c "from validate.frameworks.backends import get_backend
print('; '.join(get_backend('$backend').gpu_names()))" 2>>"$LOG")"
    if [ -z "$seen" ] && [ "$DEVICE" = gpu ]; then
        log "$backend: sees no GPU (nvidia-smi does: its CUDA build or driver is missing)"
        failures+=("$backend sees no GPU")
        continue
    fi
    log "$backend: sees ${seen:-no GPU}"
    out="$RESULTS/$backend"
    for experiment in calibrate sweep; do  # sweep: seed and factorizations in the same workers
        start=$SECONDS
        # --resume: a second run continues what the first left (calibrate ignores it).
        "$PYTHON" -m validate "$experiment" --backend "$backend" --preset "$PRESET" \
            --device "$DEVICE" --out "$out" --resume >>"$LOG" 2>&1
        status=$?
        log "$backend $experiment: exit $status after $((SECONDS - start)) s"
        if [ "$status" -ne 0 ]; then
            failures+=("$backend $experiment (exit $status)")
        fi
    done
    measured+=("$backend")
done

[ "${#measured[@]}" -gt 0 ] ||
    fail "no backend measured the $DEVICE: $(joined "${failures[@]:-none of tensorflow, jax, torch imports}")"
[ "${#failures[@]}" -eq 0 ] || fail "$(joined "${failures[@]}") after $SECONDS s; see $LOG"
log "done in $SECONDS s: ${measured[*]} measured the $DEVICE; results in $RESULTS/<backend>/"
