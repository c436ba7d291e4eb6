"""The search CLI end to end on its smallest config, and its error paths."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from freedarts_jax import nb201_table

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ['--config.channels=4', '--config.cells_per_stage=1']
FIELDS = ('space', 'dataset', 'seed', 'dtype', 'dtype_requested', 'bn_mode',
          'alpha_init', 'alpha_scale', 'schedule', 'arch', 'scores', 'rounds',
          'benchmark', 'timing', 'device', 'versions')


def _cli(tmp_path, *args):
  env = {**os.environ, 'FREEDARTS_CACHE_DIR': str(tmp_path / 'cache')}
  return subprocess.run(
      [sys.executable, '-m', 'freedarts_jax.search',
       f'--config={ROOT / "configs" / "nb201.py"}', *args],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('search')
  proc = _cli(tmp, *TINY, f'--workdir={tmp / "run"}')
  return tmp, proc


def test_cli_writes_result_json_with_the_fields(first_run):
  tmp, proc = first_run
  assert proc.returncode == 0, proc.stderr
  result = json.loads((tmp / 'run' / 'result.json').read_text())
  for field in FIELDS:
    assert field in result, field
  assert len(result['scores']['cell']) == 6
  assert len(result['rounds']) == 4  # iterative_edge: 5 ops -> 1
  assert result['timing']['compile_s'] > 0
  assert result['benchmark'] == nb201_table.load().lookup(result['arch'])
  assert result['arch'] in proc.stdout
  assert 'CIFAR-10' in proc.stdout and '1<-0' in proc.stdout


def test_cli_never_overwrites_unless_asked(first_run):
  tmp, _ = first_run
  path = tmp / 'run' / 'result.json'
  before = path.read_bytes()
  proc = _cli(tmp, *TINY, '--config.seed=1', f'--workdir={tmp / "run"}')
  assert proc.returncode != 0
  assert '--overwrite' in proc.stderr and 'Traceback' not in proc.stderr
  assert path.read_bytes() == before
  proc = _cli(tmp, *TINY, '--config.seed=1', f'--workdir={tmp / "run"}',
              '--overwrite')
  assert proc.returncode == 0, proc.stderr
  assert json.loads(path.read_text())['seed'] == 1


@pytest.mark.parametrize('override,named', [
    ('--config.dataset=cifar11', 'imagenet16'),
    ('--config.space=darts9', 'nb201'),
    ('--config.dtype=float16', 'float64'),
    ('--config.bn_mode=batch', 'eval'),
    ('--config.schedule=twice', 'iterative_global'),
    ('--config.alpha_init=zeros', 'ones'),
    ('--config.alpha_scale=-1.0', 'config.alpha_scale must be a number > 0'),
    ('--config.channels=0', 'config.channels must be an integer > 0'),
    ('--config.seed=-1', '>= 0'),
    ('--config.num_seeds=0', 'config.num_seeds must be an integer > 0'),
    ('--config.ensemble_batch=-2', 'automatic'),
])
def test_bad_values_give_one_clear_error(tmp_path, override, named):
  proc = _cli(tmp_path, override, f'--workdir={tmp_path / "run"}')
  assert proc.returncode == 2
  assert named in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not (tmp_path / 'run' / 'result.json').exists()


def test_misspelt_field_is_an_error(tmp_path):
  proc = _cli(tmp_path, '--config.sead=3')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: unknown config field 'sead' (did you mean seed?); the config "
      'file lists the valid fields, one per line with a comment.')


def test_missing_config_file_is_an_error(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'freedarts_jax.search',
       f'--config={tmp_path / "nope.py"}'],
      cwd=tmp_path, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 2
  assert 'nope.py' in proc.stderr and 'Traceback' not in proc.stderr
