"""Tests of freedarts_jax.notebook, the helpers behind notebooks/."""

import numpy as np
import pytest

from freedarts_jax import nb201_table
from freedarts_jax import notebook as nb
from freedarts_jax.search import report

TPU = nb.Backend('TPU', 'TPU v2', 8, float64=False)
CPU = nb.Backend('CPU', 'cpu', 1, float64=True)


def _ensemble_result():
  """A 3-seed NB201 result with the fields the helpers read."""
  ops = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3',
         'avg_pool_3x3']
  edges = ['1<-0', '2<-0', '2<-1', '3<-0', '3<-1', '3<-2']
  wins = np.zeros((6, 5), int)
  wins[:, 3] = 2
  wins[:, 1] = 1
  scores = np.zeros((6, 5))
  scores[:, 3] = 1e-2
  stats = {c: {'mean': 90.0 + i, 'std': 0.5}
           for i, (_, c) in enumerate(nb201_table.ACCURACIES.values())}
  return {'ops': ops, 'edges': {'cell': edges},
          'scores': {'cell': scores.tolist()},
          'benchmark': {c: 91.0 for _, c in nb201_table.ACCURACIES.values()},
          'ensemble': {'seeds': [0, 1, 2], 'wins': {'cell': wins.tolist()},
                       'benchmark_stats': stats}}


@pytest.mark.parametrize('value,expected', [
    ('1', True), ('true', True), ('YES', True), ('0', False), ('', False)])
def test_small_reads_the_environment(monkeypatch, value, expected):
  monkeypatch.setenv(nb.SMALL_ENV, value)
  assert nb.small() is expected


def test_small_is_off_without_the_variable(monkeypatch):
  monkeypatch.delenv(nb.SMALL_ENV, raising=False)
  assert not nb.small()


@pytest.mark.parametrize('name,expected', [
    ('tpu', 'TPU'), ('gpu', 'GPU'), ('cuda', 'GPU'), ('rocm', 'GPU'),
    ('cpu', 'CPU')])
def test_platform_names(name, expected):
  assert nb._platform(name) == expected  # pylint: disable=protected-access


def test_backend_on_this_machine_is_cpu_with_float64():
  be = nb.backend()
  assert be.platform == 'CPU' and be.float64 and be.count >= 1
  assert 'CPU' in be.describe() and 'auto' in be.describe()


def test_tpu_says_float32_and_uses_it():
  text = TPU.describe()
  assert 'TPU' in text and 'no float64' in text and 'guards' in text
  nb201 = nb.nb201_search_config(TPU, is_small=False)
  darts = nb.darts_search_config(TPU, is_small=False)
  assert nb201.dtype == 'float32'  # bn_mode=train: plain float32
  assert darts.dtype == 'float32_scaled'  # bn_mode=eval: exact rescaling
  proxies = nb.proxy_bench_config(TPU, is_small=False)
  assert proxies.synflow_dtype == proxies.zeros_dtype == 'float32'
  assert nb.nb201_search_config(CPU, is_small=False).dtype == 'auto'
  assert nb.proxy_bench_config(CPU, False).zeros_dtype == 'float64'


def test_quickstart_defaults_and_small_setting():
  full = nb.nb201_search_config(CPU, is_small=False)
  assert (full.num_seeds, full.channels, full.cells_per_stage) == (32, 16, 5)
  tiny = nb.nb201_search_config(CPU, is_small=True)
  assert (tiny.num_seeds, tiny.channels, tiny.cells_per_stage) == (3, 4, 1)
  darts = nb.darts_search_config(CPU, is_small=True)
  assert (darts.channels, darts.layers) == (4, 3)
  assert nb.darts_search_config(CPU, False).layers == 8


def test_training_configs():
  small = nb.train_config_for('DARTS_V2', is_small=True)
  assert small.dataset == 'synthetic' and small.channels == 4
  assert small.synthetic_examples // small.batch_size == 2
  full = nb.train_config_for('DARTS_V2', is_small=False,
                             data_dir='/nonexistent/tfds')
  assert full.dataset == 'synthetic'  # cifar10 is not prepared there
  assert (full.channels, full.layers, full.epochs) == (36, 20, 1)
  command = nb.full_training_command('runs/x/result.json')
  assert 'configs/train_cifar10.py' in command
  assert '--config.genotype=runs/x/result.json' in command


@pytest.mark.parametrize('is_small', [True, False])
def test_training_batches_split_over_eight_tpu_cores(is_small):
  c = nb.train_config_for('DARTS_V2', is_small, '/nonexistent/tfds',
                          num_devices=8)
  assert c.batch_size % 8 == 0 and c.eval_batch_size % 8 == 0
  assert c.synthetic_examples >= 2 * c.batch_size
  from freedarts_jax.train import loop  # pylint: disable=g-import-not-at-top
  loop.check(c, 8)  # the training run accepts it on 8 devices
  assert nb.train_config_for('DARTS_V2', is_small, num_devices=1
                             ).eval_batch_size == (8 if is_small else 500)


def test_theory_config_runs_only_the_op_level():
  for is_small in (True, False):
    c = nb.theory_config(is_small)
    assert c.experiments == 'op' and c.op_seeds == 1
  assert nb.theory_config(True).channels < nb.theory_config(False).channels


def test_workdir_is_new_every_time(monkeypatch, tmp_path):
  monkeypatch.setenv(nb.WORKDIR_ENV, str(tmp_path))
  first = nb.workdir('x')
  first.mkdir()
  second = nb.workdir('x')
  assert first.parent == tmp_path and first.name.startswith('x-')
  assert second != first and not second.exists()


def test_score_table_and_plots():
  result = _ensemble_result()
  table = report.score_table(result, 'cell')  # what the notebook prints
  assert len(table) == 7 and 'nor_conv_3x3' in table[0]
  assert table[1].lstrip().startswith('1<-0') and '1.0000e-02' in table[1]
  freq = nb.win_frequencies(result)
  np.testing.assert_allclose(freq.sum(axis=1), 1.0)
  np.testing.assert_allclose(freq[:, 3], 2 / 3)
  fig = nb.plot_scores(result)
  assert fig.axes[0].get_title().startswith('Scores')
  fig = nb.plot_wins(result)
  assert len(fig.axes[0].patches) == 6 * 5  # one bar per edge and op
  assert '3 seeds' in fig.axes[0].get_title()


def test_compare_with_release_lists_every_data_set():
  text = nb.compare_with_release(_ensemble_result())
  lines = text.splitlines()
  assert '3 seeds' in lines[0]
  assert lines[1].startswith('CIFAR-10') and '90.00 +- 0.50' in lines[1]
  assert '93.52 +- 0.16' in lines[1] and '94.37' in lines[1]
  assert '44.29 +- 2.43' in lines[3]


def test_size_comparison():
  text = nb.size_comparison({'eval_network': 'net', 'eval_params': 5_000_000,
                             'darts_v2_params': 2_500_000})
  assert text == 'net: 5,000,000 parameters; DARTS-V2: 2,500,000 (2.00x)'


def test_theory_verdict():
  corr = {'n': 24, 'expected_sign': 1, 'verdict': 'holds',
          'kendall': {'tau': 0.35, 'p': 0.017}}
  report = {'op': {'correlations': {
      'zeros_vs_dB/pooled': corr,
      'zeros_vs_dlambda_min/pooled': {**corr, 'expected_sign': -1,
                                      'verdict': 'inconclusive'}}}}
  lines = nb.theory_verdict(report).splitlines()
  assert lines[0].endswith('expected sign +1): holds')
  assert 'tau +0.35' in lines[0] and 'n = 24' in lines[0]
  assert lines[1].endswith('inconclusive')


def test_plot_images(tmp_path):
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  paths = []
  for name in ('a', 'b'):
    paths.append(tmp_path / f'{name}.png')
    matplotlib.image.imsave(paths[-1], np.zeros((4, 4, 3)))
  fig = nb.plot_images(paths)
  assert [ax.get_title() for ax in fig.axes] == ['a', 'b']
