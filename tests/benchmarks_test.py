"""benchmarks/gpu_check.sh --small runs every step on the CPU at toy sizes.

So that the GPU check breaks here, in CI, and not on a lent GPU machine:
every step writes its JSON line with the figures its benchmark recorded,
OUT_DIR holds at most 8 files and no folder, and a failed or timed-out step
is logged while the next one still runs.
"""

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
STEPS = ('devices', 'nb201_zeros', 'darts_zeros', 'darts20_zeros',
         'synflow_all', 'proxies', 'train_bf16', 'notebook', 'peer_pytorch')


def _run(out: pathlib.Path, tmp_path: pathlib.Path, **env):
  env = {**os.environ, 'PYTHON': sys.executable,
         'FREEDARTS_CACHE_DIR': str(tmp_path / 'cache'), **env}
  done = subprocess.run(['bash', 'benchmarks/gpu_check.sh', '--small',
                         str(out)], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=1800, check=False)
  lines = (out / 'gpu_check.jsonl').read_text().splitlines()
  return done, {r['step']: r for r in map(json.loads, lines)}


def _figure(record: dict, name: str) -> dict:
  return record['figures'][name]


@pytest.mark.slow
def test_small_check_runs_every_step(tmp_path):
  out = tmp_path / 'out'
  done, records = _run(out, tmp_path)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  assert tuple(records) == STEPS
  for name in STEPS[:-1]:
    assert records[name]['status'] == 'ok', records[name]
    assert records[name]['wall_s'] <= records[name]['limit_s'] + 6
  peer = records['peer_pytorch']
  assert peer['status'] in ('ok', 'skipped'), peer
  nb201 = _figure(records['nb201_zeros'], 'score_speed_nb201.json')
  assert nb201['float32']['median_s'] > 0 and nb201['float64']['median_s'] > 0
  for step, config in (('darts_zeros', 'darts'), ('darts20_zeros', 'darts20')):
    speed = _figure(records[step], f'score_speed_{config}.json')
    assert speed['tiny'] and speed['float32_scaled']['median_s'] > 0
  synflow = _figure(records['synflow_all'], 'proxy_nb201_gpu_synflow.json')
  assert synflow['timing']['p0']['synflow']['cells'] == 24
  proxies = _figure(records['proxies'], 'proxy_nb201_gpu_proxies.json')
  assert 'zeros' in proxies['timing']['p0'] and 'snip' in proxies['timing'][
      'p0']
  train = _figure(records['train_bf16'], 'train_speed_cpu_bfloat16.json')
  assert train['images_per_s'] > 0
  assert any('ran top to bottom' in line
             for line in records['notebook']['output_tail'])
  files = list(out.iterdir())
  assert len(files) <= 8 and all(f.is_file() for f in files), files


def _fake_python(tmp_path: pathlib.Path) -> pathlib.Path:
  """A fake interpreter for the benchmark runner.

  The NB201 benchmark hangs on it, the DARTS one fails and the training one
  succeeds at once.
  """
  fake = tmp_path / 'python'
  fake.write_text(f"""#!/usr/bin/env bash
case "$1 $2" in
  'benchmarks/score_speed.py --config=nb201') sleep 60 ;;
  'benchmarks/score_speed.py --config=darts') echo broken >&2; exit 3 ;;
  'benchmarks/train_speed.py '*) echo trained; exit 0 ;;
esac
exec {sys.executable} "$@"
""")
  fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
  return fake


def test_a_failed_or_hung_step_is_logged_and_the_next_runs(tmp_path):
  out = tmp_path / 'out'
  done, records = _run(out, tmp_path, PYTHON=str(_fake_python(tmp_path)),
                       GPU_CHECK_STEPS='nb201_zeros,darts_zeros,train_bf16',
                       GPU_CHECK_SMALL_LIMIT_S='10')
  assert done.returncode == 1
  assert tuple(records) == ('nb201_zeros', 'darts_zeros', 'train_bf16')
  assert records['nb201_zeros']['status'] == 'timeout'
  assert records['nb201_zeros']['wall_s'] <= 16
  assert records['darts_zeros']['status'] == 'failed'
  assert 'broken' in records['darts_zeros']['output_tail']
  assert records['train_bf16']['status'] == 'ok'
  assert 'trained' in records['train_bf16']['output_tail']
  assert sorted(f.name for f in out.iterdir()) == ['gpu_check.jsonl',
                                                   'gpu_check.log']
