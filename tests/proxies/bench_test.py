"""proxy_bench end to end: outputs, resume, 8 devices, 2 processes, errors.

One tiny configuration (C=4, one cell per stage, 16 px, 10 cells in chunks
of 4) scored with synflow, naswot (data) and params; every other run must
reproduce its scores.csv.
"""

import csv
import hashlib
import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import proxy_nb201
from freedarts_jax import data
from freedarts_jax import errors
from freedarts_jax import proxies
from freedarts_jax import runtime
from freedarts_jax.init import torch_init
from freedarts_jax.proxies import bench
from freedarts_jax.proxies import store

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = {'proxies': 'synflow,naswot,params', 'channels': 4,
        'cells_per_stage': 1, 'dataset': 'imagenet16', 'limit': 10,
        'chunk': 4, 'batch_size': 4, 'progress': False}
ARGS = [f'--config.{k}={v}' for k, v in TINY.items()]


def _config(**overrides):
  config = proxy_nb201.get_config()
  config.update({**TINY, **overrides})
  return config


def _cli(workdir, *extra, env=None, wait=True):
  cmd = [sys.executable, '-m', 'freedarts_jax.proxy_bench',
         f'--workdir={workdir}', *ARGS, *extra]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  return proc.communicate(timeout=600) + (proc.returncode,) if wait else proc


def _env(tmp_path, **extra):
  return {**os.environ, 'FREEDARTS_CACHE_DIR': str(tmp_path / 'cache'),
          'PYTHONPATH': str(ROOT), **extra}


def _scores(workdir) -> dict:
  with open(pathlib.Path(workdir) / 'scores.csv') as f:
    rows = list(csv.DictReader(f))
  return {r['index']: r for r in rows}


def _assert_same(a, b):
  assert a.keys() == b.keys()
  for i in a:
    assert a[i]['arch'] == b[i]['arch']
    for col in ('synflow', 'naswot', 'params'):
      np.testing.assert_allclose(float(a[i][col]), float(b[i][col]),
                                 rtol=1e-6, err_msg=f'{col} cell {i}')


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """One uninterrupted single-device run, in this process.

  Float64 is off around it (run_proxy_bench switches it on for its own
  duration).
  """
  workdir = tmp_path_factory.mktemp('reference')
  with jax.enable_x64(False):
    result = bench.run_proxy_bench(_config(), workdir)
    assert not jax.config.jax_enable_x64
  return workdir, result


def test_outputs(reference):
  workdir, result = reference
  scores = _scores(workdir)
  assert len(scores) == 10
  assert list(next(iter(scores.values()))) == [
      'index', 'arch', 'synflow', 'naswot', 'params']
  corr = json.loads((workdir / 'correlations.json').read_text())
  assert set(corr) == {'synflow', 'naswot', 'params'}
  for col in corr.values():
    assert set(col) == {'cifar10_test', 'cifar100_test', 'imagenet16_test'}
    for by in col.values():
      assert by['all']['n'] == 10 and by['top10']['n'] == 1
      assert -1 <= by['all']['spearman'] <= 1
  assert 'gaussian' in result['data'] and result['init'] == 'shared'
  # synflow_dtype=float64 computed in float64: not every score is a float32
  # value (a 24-bit mantissa) times a power of two.
  synflow = np.array([float(r['synflow']) for r in _scores(workdir).values()])
  mantissa = np.frexp(synflow)[0] * 2.0**24
  assert (mantissa != np.round(mantissa)).any()
  for col in ('synflow', 'naswot', 'params'):
    assert (workdir / 'plots' / f'{col}.png').stat().st_size > 1000
  assert result['timing']['p0']['synflow']['cells'] == 10
  markdown = (workdir / 'correlations.md').read_text()
  assert 'synflow' in markdown and 'weight-level proxies' in markdown
  with pytest.raises(errors.ConfigError, match='overwrite'):
    bench.run_proxy_bench(_config(), workdir)


def test_interrupted_run_resumes_to_the_same_scores(reference, tmp_path,
                                                    monkeypatch):
  append = store.Partial.append
  calls = []

  def dies_after_two(self, record):
    if len(calls) == 2:
      with self.path.open('a') as f:  # a write cut by the kill
        f.write('{"chunk": 2, "index": [1')
      raise KeyboardInterrupt
    calls.append(record['chunk'])
    append(self, record)

  monkeypatch.setattr(store.Partial, 'append', dies_after_two)
  with pytest.raises(KeyboardInterrupt):
    bench.run_proxy_bench(_config(), tmp_path)
  assert not (tmp_path / 'scores.csv').exists()
  monkeypatch.setattr(store.Partial, 'append', append)
  result = bench.run_proxy_bench(_config(), tmp_path)
  assert 0 < result['timing']['p0']['synflow']['cells'] < 10  # the rest
  assert ((tmp_path / 'scores.csv').read_text()
          == (reference[0] / 'scores.csv').read_text())


def test_cells_per_call_do_not_change_the_scores(reference, tmp_path):
  # The reference scores naswot one cell per call (vmap 1 on CPU, the
  # chunks' rest looped in Python); vmap=3 vmaps cells in calls that do not
  # divide the chunks of 4 (the last call of each padded).
  with jax.enable_x64(False):
    result = bench.run_proxy_bench(_config(vmap=3), tmp_path)
  assert result['timing']['p0']['naswot']['vmap'] == 3
  assert reference[1]['timing']['p0']['naswot']['vmap'] == 1
  _assert_same(_scores(tmp_path), _scores(reference[0]))


@pytest.mark.slow
def test_eight_devices_give_the_same_scores(reference, tmp_path):
  env = _env(tmp_path,
             XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=8')
  _, err, rc = _cli(tmp_path / 'run', env=env)
  assert rc == 0, err
  result = json.loads((tmp_path / 'run' / 'result.json').read_text())
  assert result['local_devices'] == 8
  _assert_same(_scores(tmp_path / 'run'), _scores(reference[0]))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_give_the_same_scores(reference, tmp_path):
  env = _env(tmp_path)
  address = f'localhost:{_free_port()}'
  procs = [_cli(tmp_path / 'run', f'--coordinator_address={address}',
                '--num_processes=2', f'--process_id={i}', env=env,
                wait=False) for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs
  result = json.loads((tmp_path / 'run' / 'result.json').read_text())
  assert result['processes'] == 2
  assert set(result['timing']) == {'p0', 'p1'}
  assert result['timing']['p1']['synflow']['cells'] > 0
  _assert_same(_scores(tmp_path / 'run'), _scores(reference[0]))


@pytest.mark.parametrize('flag, message', [
    ('--config.proxies=synflo,zeros', "unknown proxy 'synflo'.*te_nas"),
    ('--config.limit=20000', 'config.limit must be an integer in 0..15625'),
    ('--config.data=imagenet', "unknown data 'imagenet'.*cifar10"),
])
def test_cli_errors_are_one_line(tmp_path, flag, message):
  _, err, rc = _cli(tmp_path, flag, env=_env(tmp_path))
  assert rc == 2
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ')
  assert __import__('re').search(message, lines[0]), lines[0]


def test_select_cells_is_a_seeded_subset():
  a = bench.select_cells(_config(limit=50, seed=3))
  assert len(set(a)) == 50 and np.all(np.diff(a) > 0)
  assert np.array_equal(a, bench.select_cells(_config(limit=50, seed=3)))
  assert not np.array_equal(a, bench.select_cells(_config(limit=50)))
  assert len(bench.select_cells(_config(limit=0))) == 15625


def test_per_cell_init_folds_the_cell_index_into_the_key():
  config = _config(init='per_cell')
  setup = bench.setup_of(config)
  proxy = proxies.get('synflow')
  mesh = jax.make_mesh((1,), ('cells',), devices=jax.local_devices()[:1])
  fn = bench.make_chunk_fn(proxy, setup, 'per_cell', mesh, 2)
  index = np.array([5, 9000], np.int32)
  key = jax.random.key(7)
  x = np.zeros((2, *setup.input_shape), np.float32)
  y = np.zeros((2,), np.int32)
  cells = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('cells'))
  out = fn({}, key, jax.device_put(bench.one_hots(index), cells),
           jax.device_put(index, cells), x, y)['synflow']
  args = bench._example_args(setup)  # pylint: disable=protected-access
  score = jax.jit(proxy.make(setup))
  for i, cell in enumerate(index):
    v = torch_init(setup.model('none').init,
                   jax.random.fold_in(key, int(cell)), *args)
    alone = score(v, {'cell': bench.one_hots(index[i:i + 1])[0]}, None)
    np.testing.assert_allclose(out[i], alone['synflow'], rtol=1e-12)


def test_cifar10_not_prepared_falls_back_to_gaussian_and_says_why(
    tmp_path, monkeypatch):
  """Only without config.data_dir: tfds's default folder has no cifar10."""
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))
  setup = bench.setup_of(_config(dataset='cifar10'))
  key = jax.random.key(0)
  config = _config(data='cifar10', data_dir='')
  x, y, note = bench.data_batch(config, setup, key)
  assert note.startswith('gaussian (cifar10 not prepared: ')
  assert f'cifar10 is not prepared in {tmp_path}' in note
  assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32
  assert y.shape == (4,) and y.dtype == np.int32 and y.max() < 10
  x2, _, note2 = bench.data_batch(_config(data='synthetic'), setup, key)
  np.testing.assert_array_equal(x, x2)  # the same seeded Gaussian batch
  assert note2.startswith('gaussian (synthetic')


@pytest.mark.parametrize('folder, says', [
    ('nowhere', 'does not exist'), ('.', 'cifar10 is not prepared in')])
def test_an_explicit_data_dir_must_be_readable(tmp_path, folder, says):
  """Never replaced by Gaussian images; the CLI exits 2 before compiling."""
  data_dir = tmp_path / folder
  config = _config(data='cifar10', dataset='cifar10', data_dir=str(data_dir))
  with pytest.raises(data.Unavailable, match=says) as e:
    bench.data_batch(config, bench.setup_of(config), jax.random.key(0))
  message = str(e.value)
  assert message.startswith(f'config.data_dir={data_dir}: ')
  assert f'`tfds build cifar10 --data_dir={data_dir} ' in message
  assert '--file_format=array_record`' in message
  out, err, rc = _cli(tmp_path / 'run', '--config.data=cifar10',
                      '--config.dataset=cifar10',
                      f'--config.data_dir={data_dir}', env=_env(tmp_path))
  assert rc == 2 and err.strip().splitlines()[-1] == f'error: {message}'
  assert 'Traceback' not in err
  assert not (tmp_path / 'run' / 'result.json').exists()


def test_cifar10_batch_from_tfds_mock_data(tmp_path):
  setup = bench.setup_of(_config(dataset='cifar10'))
  config = _config(data='cifar10', data_dir=str(tmp_path))
  with tfds.testing.mock_data(num_examples=6):
    x, y, note = bench.data_batch(config, setup, jax.random.key(0))
  assert note == 'cifar10 (tfds train split, 4 images)'
  assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32
  assert y.dtype == np.int32


def test_cell_scorer_gives_the_bench_scores(reference):
  # The benchmarks' one-cell function (peer_cpu.py, proxy_dtypes.py)
  # computes what the bench records, from the bench's keys.
  workdir, _ = reference
  config = _config()
  setup = bench.setup_of(config)
  key = jax.random.key(config.seed)
  x, y, _ = bench.data_batch(config, setup, jax.random.fold_in(key, 1))
  with jax.enable_x64(False):
    variables, fn = bench.cell_scorer('naswot', setup,
                                      jax.random.fold_in(key, 0), (x, y))
    rows = list(_scores(workdir).values())[:3]
    got = [float(fn(variables, bench.one_hots(np.array([int(r['index'])]))[0]))
           for r in rows]
  np.testing.assert_allclose(got, [float(r['naswot']) for r in rows],
                             rtol=1e-6)
  with pytest.raises(errors.ConfigError, match='nope'):
    bench.cell_scorer('nope', setup, key, (x, y))


def test_data_proxies_compile_with_the_cpu_options():
  # XLA's YNNPACK fusions (jax 0.10.2's default on CPU) are off in the
  # data-dependent proxies' executables on CPU, and only there.
  assert runtime.compiler_options('gpu', 'weight_gradients') is None
  setup = proxies.Setup(dataset='imagenet16', channels=4, cells_per_stage=1)
  proxy = proxies.get('grad_norm')
  mesh = jax.make_mesh((1,), ('cells',), devices=jax.devices('cpu')[:1])
  fn = bench.make_chunk_fn(proxy, setup, 'shared', mesh, 1)
  variables = bench._variables(  # pylint: disable=protected-access
      proxy, setup, jax.random.key(0))
  cells = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('cells'))
  alphas = jax.device_put(np.zeros((1, 6, 5), np.float32), cells)
  index = jax.device_put(np.zeros((1,), np.int32), cells)
  x = np.zeros((2, *setup.input_shape), np.float32)
  hlo = fn.lower(variables, jax.random.key(0), alphas, index, x,
                 np.zeros((2,), np.int32)).compile().as_text()
  assert 'convolution' in hlo and '__ynn_fusion' not in hlo


def test_result_names_the_dtype_each_proxy_ran_in():
  auto, f64 = proxies.Setup(), proxies.Setup(data_dtype='float64')
  assert bench.dtype_of(proxies.get('snip'), auto) == 'float32'
  assert bench.dtype_of(proxies.get('grasp'), auto) == 'float64'
  assert bench.dtype_of(proxies.get('te_nas'), auto).startswith('float64 ')
  assert bench.dtype_of(proxies.get('jacob_cov'), auto).startswith(
      'float32 ')
  assert bench.dtype_of(proxies.get('snip'), f64) == 'float64'


def test_data_dtype_reaches_the_proxies_and_names_its_own_partials():
  config = proxy_nb201.get_config()
  auto_id = bench.settings_id(config)
  # The id of a run at the default is what it was before the field existed
  # (the fields listed in _SCORE_FIELDS only), so kept partials resume.
  before = {f: config[f] for f in bench._SCORE_FIELDS}  # pylint: disable=protected-access
  assert auto_id == hashlib.sha256(
      json.dumps(before, sort_keys=True).encode()).hexdigest()[:12]
  config.data_dtype = 'float32'
  assert bench.settings_id(config) != auto_id
  setup = bench.setup_of(config)
  assert setup.data_dtype == 'float32'
  assert bench.dtype_of(proxies.get('grasp'), setup) == 'float32'
