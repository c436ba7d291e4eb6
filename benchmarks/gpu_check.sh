#!/usr/bin/env bash
# Every GPU check and timing of the project, in one run on a lent GPU machine
# (the device tool runs it from the repository root):
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# Wheels the GPU image lacks (ml_collections, and nbclient, nbformat,
# ipykernel and their dependencies for the notebook step; download them here
# with benchmarks/gpu_wheels.sh) travel in .whl/ and are installed to
# /tmp/site first. Writes each
# benchmark's JSON record and gpu_check.log to OUT_DIR (default $OUT, else
# benchmarks/results/gpu); copy them into benchmarks/results/ afterwards.
set -euo pipefail
out=${1:-${OUT:-benchmarks/results/gpu}}
mkdir -p "$out"
if compgen -G '.whl/*.whl' >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  python3 -c 'import jax; print(jax.devices())'
  # Issue 2: ZEROS per call on the NB201 supernet, float32 and float64.
  python3 benchmarks/score_speed.py --out="$out"
  # Issue 7: the quickstart notebook with its defaults (NB201 search, 32
  # seeds vmapped in one call) from this checkout, in a kernel on this
  # interpreter; the wall time goes to notebook_quickstart.txt, the executed
  # notebook beside it. A failure is logged and the other checks still run.
  FREEDARTS_WORKDIR="$out/notebook_runs" python3 notebooks/execute.py \
    notebooks/quickstart.ipynb --cwd="$PWD" \
    --output="$out/quickstart_executed.ipynb" \
    | tee "$out/notebook_quickstart.txt" \
    || echo 'quickstart notebook FAILED' | tee -a "$out/notebook_quickstart.txt"
  # Issue 5: synflow over all 15,625 NB201 cells (target <= 10 s), then
  # every proxy over the whole space (target <= 5 minutes).
  python3 benchmarks/proxy_nb201.py --out="$out" --name=gpu_synflow_full \
    --config.proxies=synflow --config.synflow_dtype=float32 \
    --config.chunk=1024 --config.progress=False
  python3 benchmarks/proxy_nb201.py --out="$out" --name=gpu_all_full \
    --config.proxies=all --config.chunk=256 --config.progress=False
  # Issue 4: images/s of a DARTS-V2 training step (C=36, 20 cells, batch 96);
  # goal >= 5,000 images/s in bfloat16 on one H100/H200.
  python3 benchmarks/train_speed.py --dtype=bfloat16 --steps=20 --out="$out"
  python3 benchmarks/train_speed.py --dtype=float32 --steps=20 --out="$out"
} 2>&1 | tee "$out/gpu_check.log"
