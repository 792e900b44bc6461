#!/usr/bin/env bash
# One session on a single lent GPU, within 9 minutes (GPU_SESSION_SECONDS, default 540):
#   1. the CUDA tests (the ones skipped on a CPU-only machine);
#   2. the default `vmieval report` on CUDA against the CPU, same numbers within stderr, for a 64x64 model
#      (the committed sprites fixture on the generated `sprites` split, always present) and JointVAE's
#      published MNIST checkpoint (only where JOINTVAE and MNIST_DIR point at files: the GPU machine
#      gets only the repository's working tree, so it skips what is absent and says so);
#   3. paper-protocol models (`*-paper` presets) in the time left, PAPER_PARALLEL at once on the one GPU,
#      each stopped cleanly (SIGTERM: it checkpoints, then exits) when the time is up.
# Everything it measures goes to benchmarks/results/gpu_session/ (device.txt, compare.json, paper.json, logs).
#
#   bash benchmarks/gpu_session.sh                 # the session
#   bash benchmarks/gpu_session.sh --dry-run       # the plan, paths checked; stops before any CUDA call
#   JOINTVAE=/path/jointvae-mnist MNIST_DIR=/path/mnist bash benchmarks/gpu_session.sh
#
# Environment: PYTHON (default .venv/bin/python), GPU_SESSION_SECONDS (540), REPORT_SECONDS (120: the
# limit of each report, CPU and CUDA side by side), PAPER_PARALLEL (4),
# PAPER_PRESET (sample-joint-paper; mnist-joint-paper when MNIST_DIR exists), OUT (results folder).
set -euo pipefail

DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "gpu_session.sh: unknown argument $arg (use --dry-run)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
VMIEVAL=("$PYTHON" -m vmieval.cli.main)
BUDGET="${GPU_SESSION_SECONDS:-540}"
PARALLEL="${PAPER_PARALLEL:-4}"
OUT="${OUT:-$ROOT/benchmarks/results/gpu_session}"
SPRITES_MODEL="$ROOT/fixtures/models/sprites-gauss10-mi.pt"
JOINTVAE="${JOINTVAE:-}"
MNIST_DIR="${MNIST_DIR:-}"
START=$(date +%s)

left() { echo $((BUDGET - ($(date +%s) - START))); }
say() { echo "[gpu_session $(($(date +%s) - START))s] $*"; }
run() {  # run (or, in a dry run, print) a command
    if [ "$DRY" = 1 ]; then printf '  would run:' >&3; printf ' %q' "$@" >&3; echo >&3; else "$@"; fi
}
to() {  # where a command's output goes: the file, or nowhere in a dry run
    if [ "$DRY" = 1 ]; then echo /dev/null; else echo "$1"; fi
}
exec 3>&1

if [ -n "$MNIST_DIR" ] && [ -d "$MNIST_DIR" ]; then
    PRESET="${PAPER_PRESET:-mnist-joint-paper}"
    DATA_ARGS=(--data-dir "$MNIST_DIR")
else
    PRESET="${PAPER_PRESET:-sample-joint-paper}"
    DATA_ARGS=()
    [ -n "$MNIST_DIR" ] && say "MNIST_DIR=$MNIST_DIR is absent: paper models on the embedded MNIST sample"
fi
HAVE_JOINTVAE=0
if [ -n "$JOINTVAE" ] && [ -e "$JOINTVAE" ] && [ -n "$MNIST_DIR" ] && [ -d "$MNIST_DIR" ]; then
    HAVE_JOINTVAE=1
else
    say "JointVAE comparison skipped: JOINTVAE (${JOINTVAE:-unset}) and MNIST_DIR (${MNIST_DIR:-unset}) must both exist"
fi
[ -x "$PYTHON" ] || { echo "gpu_session.sh: no Python at $PYTHON (set PYTHON)" >&2; exit 2; }
[ -e "$SPRITES_MODEL" ] || { echo "gpu_session.sh: missing $SPRITES_MODEL" >&2; exit 2; }

say "budget ${BUDGET}s, results in $OUT, paper preset $PRESET x $PARALLEL at once"
if [ "$DRY" = 1 ]; then
    say "dry run: the commands below would run; nothing touches CUDA"
else
    mkdir -p "$OUT/logs"
    "$PYTHON" - "$OUT/device.txt" <<'EOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_session.sh: torch sees no CUDA device here")
p = torch.cuda.get_device_properties(0)
text = f"{torch.cuda.get_device_name(0)}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}"
open(sys.argv[1], "w").write(text + "\n")
print(text)
EOF
fi

# 1. the CUDA tests
say "CUDA tests"
run timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_device.py tests/test_paper_presets.py \
    -k "cuda" -rs || say "CUDA tests failed (see above)"

# 2. default report, CPU against CUDA (the CPU side runs beside the GPU side, on its own cores)
report_pair() {  # name, checkpoint, report args...
    local name="$1" model="$2"; shift 2
    local limit=$(( $(left) - 60 ))
    [ "$limit" -le "${REPORT_SECONDS:-120}" ] || limit="${REPORT_SECONDS:-120}"
    [ "$limit" -gt 30 ] || { say "no time left for the $name reports"; return 0; }
    say "$name: default report on cpu and cuda (at most ${limit}s each)"
    run env OMP_NUM_THREADS=8 timeout "$limit" "${VMIEVAL[@]}" report "$model" "$@" --device cpu --json \
        --out "$OUT/reports/$name-cpu" --force > "$(to "$OUT/$name-cpu.json")" 2> "$(to "$OUT/logs/$name-cpu.log")" &
    local cpu=$!
    run timeout "$limit" "${VMIEVAL[@]}" report "$model" "$@" --device cuda --json --out "$OUT/reports/$name-cuda" \
        --force > "$(to "$OUT/$name-cuda.json")" 2> "$(to "$OUT/logs/$name-cuda.log")" || true
    wait "$cpu" || true
}
report_pair sprites "$SPRITES_MODEL" --data sprites
if [ "$HAVE_JOINTVAE" = 1 ]; then
    report_pair jointvae "$JOINTVAE" --data mnist --data-dir "$MNIST_DIR"
fi
run "$PYTHON" "$ROOT/benchmarks/gpu_compare.py" "$OUT" sprites jointvae

# 3. paper-protocol models, several at once, until the budget is spent
budget=$(( $(left) - 45 ))
if [ "$DRY" = 1 ] || [ "$budget" -gt 60 ]; then
    say "$PARALLEL x $PRESET for ${budget}s on the GPU"
    pids=()
    for seed in $(seq 1 "$PARALLEL"); do
        objective=$([ $((seed % 2)) = 1 ] && echo mi || echo elbo)
        run timeout -s TERM -k 40 "$budget" "$PYTHON" benchmarks/reproduce_paper.py train --preset "$PRESET" \
            --objective "$objective" --seed "$seed" --device cuda --threads 1 --checkpoint-every 1000 \
            --runs-dir "$OUT/paper-runs" "${DATA_ARGS[@]}" > "$(to "$OUT/logs/paper-$seed.log")" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    [ "$DRY" = 1 ] && { say "dry run: stopped before any CUDA call"; exit 0; }
    run "$PYTHON" "$ROOT/benchmarks/gpu_compare.py" --paper "$OUT" "$budget" "$PARALLEL"
else
    say "no time left for paper-protocol models"
fi
say "done; results in $OUT"
