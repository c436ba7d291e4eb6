#!/usr/bin/env bash
# Every GPU check and timing of the project in one run that fits a 6-minute
# window on one H100/H200 (the device tool runs it from the repository root):
#   bash benchmarks/gpu_check.sh [--small] [OUT_DIR]
# Steps run in priority order, each under its own time limit, all under one
# deadline (GPU_CHECK_BUDGET_S, default 345 s from the start, wheel install
# included): a step with too little time left is skipped and says so. Each
# step appends one JSON line to OUT_DIR/gpu_check.jsonl as soon as it ends:
# step, status (ok | failed | timeout | skipped), wall_s, limit_s, the
# command, its figures (the JSON records the benchmark wrote, in full) and
# the goal; a failed or timed-out step keeps the end of its output and the
# next step runs. Everything printed goes to OUT_DIR/gpu_check.log. Those two
# files are all that OUT_DIR receives (no subfolders: what a GPU machine can
# send back). OUT_DIR defaults to $OUT, else benchmarks/results/gpu.
# The interpreter is $PYTHON if set, else .venv/bin/python if present, else
# python3. Wheels the GPU image lacks (benchmarks/gpu_wheels.sh downloads
# them here) travel in .whl/ and are installed to /tmp/site first.
# GPU_CHECK_STEPS=a,b runs only those steps (by name, in the same order).
# --small: every step at toy sizes on the CPU (JAX_PLATFORMS=cpu), no
# deadline, GPU_CHECK_SMALL_LIMIT_S (600) a step; exits 1 if a step failed
# or timed out (the test suite runs it, so
# the script breaks in CI, not on the GPU). The PyTorch step
# (benchmarks/peer_gpu.py) is skipped, saying why, where it or torch is absent.
set -uo pipefail
small=0
if [ "${1:-}" = --small ]; then small=1; shift; fi
out=${1:-${OUT:-benchmarks/results/gpu}}
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3; fi
mkdir -p "$out"
records=$out/gpu_check.jsonl
log=$out/gpu_check.log
: > "$records"
: > "$log"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
start=$(date +%s)
budget=${GPU_CHECK_BUDGET_S:-345}
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
export FREEDARTS_WORKDIR=$scratch/notebook_runs
if [ $small = 1 ]; then
  export JAX_PLATFORMS=cpu FREEDARTS_CACHE_DIR=$scratch/cache
  budget=100000
fi
# Per step with --small: the proxies step (grasp's compile) took 211 s on an
# otherwise idle 2-core CPU, and the suite runs it beside another worker.
small_limit=${GPU_CHECK_SMALL_LIMIT_S:-600}
failures=0

# record STEP STATUS WALL LIMIT COMMAND GOAL [OUTPUT_FILE]: one JSON line.
record() {
  "$py" - "$@" <<'EOF' >> "$records"
import json, pathlib, sys
step, status, wall, limit, command, goal = sys.argv[1:7]
out = pathlib.Path(sys.argv[7]) if len(sys.argv) > 7 else None
rec = {'step': step, 'status': status, 'wall_s': float(wall),
       'limit_s': float(limit), 'command': command, 'goal': goal}
if out is not None and out.exists():
  figures = {}
  for f in sorted(out.parent.glob(out.stem + '.d/*.json')):
    try:
      figures[f.name] = json.loads(f.read_text())
    except ValueError:
      figures[f.name] = f.read_text()[-2000:]
  rec['figures'] = figures
  lines = out.read_text(errors='replace').splitlines()
  rec['output_tail'] = lines[-(5 if status == 'ok' else 30):]
print(json.dumps(rec))
EOF
  echo "== $1: $2 (${3} s of ${4} s)" | tee -a "$log"
}

# step NAME LIMIT_S GOAL COMMAND...: runs COMMAND under `timeout`, {D} in
# its arguments replaced by a fresh folder for its JSON records, and records
# the outcome.
step() {
  local name=$1 limit=$2 goal=$3
  shift 3
  selected "$name" || return 0
  local left=$(( start + budget - $(date +%s) ))
  [ $small = 1 ] && limit=$small_limit
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    record "$name" skipped 0 "$limit" "$*" "skipped: no time left"
    return
  fi
  local o=$scratch/$name.out
  local d=$scratch/$name.d
  mkdir -p "$d"
  local args=("${@//\{D\}/$d}")
  echo "== $name (limit $limit s): ${args[*]}" | tee -a "$log"
  local t0=$SECONDS rc=0
  timeout --kill-after=5 "$limit" "${args[@]}" > "$o" 2>&1 || rc=$?
  cat "$o" >> "$log"
  local status=ok
  if [ $rc = 124 ] || [ $rc = 137 ]; then status=timeout
  elif [ $rc != 0 ]; then status=failed; fi
  [ $status != ok ] && failures=$((failures + 1))
  record "$name" $status $((SECONDS - t0)) "$limit" "$*" "$goal" "$o"
}

skip() {  # skip NAME WHY
  selected "$1" && record "$1" skipped 0 0 "" "skipped: $2"
}

selected() {  # whether GPU_CHECK_STEPS (comma-separated; unset: all) has $1
  [ -z "${GPU_CHECK_STEPS:-}" ] || [[ ,$GPU_CHECK_STEPS, == *,$1,* ]]
}

if [ $small = 0 ] && compgen -G '.whl/*.whl' > /dev/null; then
  step install_wheels 60 'the wheels in .whl/' bash -c \
    "python3 -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target /tmp/site .whl/*.whl"
  export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
step devices 30 'JAX sees the GPU' bash -c "(nvidia-smi \
  --query-gpu=name,memory.total,driver_version --format=csv || true) && \
  '$py' -c 'import jax; print(jax.__version__, jax.devices())'"

b=benchmarks
if [ $small = 1 ]; then
  tiny=--tiny rep=2 nb=--small steps=1
  cells=(--config.channels=4 --config.cells_per_stage=1)
  syn=("${cells[@]}" --config.limit=24 --config.chunk=8)
  prox=("${cells[@]}" --config.limit=4 --config.chunk=2
        --config.batch_size=4)
  train=(--channels=4 --layers=3 --batch=8)
else
  tiny= rep=50 nb= steps=10
  syn=(--config.chunk=1024)
  prox=(--config.limit=128 --config.chunk=64)
  train=()
fi
step nb201_zeros 45 'float32 and float64 <= 7 ms a call' \
  "$py" $b/score_speed.py --config=nb201 --dtypes=float32,float64 \
  --repeats=$rep $tiny --out='{D}'
step darts_zeros 50 '<= 40 ms a call (dtype auto: float32_scaled)' \
  "$py" $b/score_speed.py --config=darts --dtypes=float32_scaled \
  --repeats=$rep $tiny --out='{D}'
step darts20_zeros 50 '<= 100 ms a call (float32_scaled)' \
  "$py" $b/score_speed.py --config=darts20 --dtypes=float32_scaled \
  --repeats=$rep $tiny --out='{D}'
step synflow_all 35 'all 15,625 NB201 cells <= 10 s' \
  "$py" $b/proxy_nb201.py --name=gpu_synflow --workdir='{D}/run' \
  --config.proxies=synflow --config.synflow_dtype=float32 \
  --config.progress=False "${syn[@]}" --out='{D}'
step proxies 45 'every proxy, whole space <= 5 min (per-cell rate x 15,625)' \
  "$py" $b/proxy_nb201.py --name=gpu_proxies --workdir='{D}/run' \
  --config.proxies=all --config.progress=False "${prox[@]}" --out='{D}'
step train_bf16 45 '>= 5,000 images/s (DARTS-V2, batch 96, bfloat16)' \
  "$py" $b/train_speed.py --dtype=bfloat16 --steps=$steps "${train[@]}" \
  --out='{D}'
step notebook 50 'quickstart notebook, defaults, top to bottom' \
  "$py" notebooks/execute.py notebooks/quickstart.ipynb --cwd="$PWD" $nb
if [ ! -f $b/peer_gpu.py ]; then
  skip peer_pytorch "$b/peer_gpu.py is absent"
elif ! "$py" -c 'import torch' 2> /dev/null; then
  skip peer_pytorch 'torch is not installed'
else
  step peer_pytorch 40 'PyTorch NB201 ZEROS and per-cell synflow, same GPU' \
    "$py" $b/peer_gpu.py --out='{D}' $nb
fi
echo "gpu_check: $failures step(s) failed or timed out; $(( $(date +%s) \
  - start )) s; records in $records" | tee -a "$log"
[ $small = 0 ] || [ $failures = 0 ]
