"""Seed ensembles: K seeds scored together equal K single runs."""

import ml_collections
import numpy as np
import pytest

from configs import darts as darts_config
from freedarts_jax.search import driver
from freedarts_jax.search import report
from tests.conftest import tiny_config


@pytest.mark.parametrize('batch', [1, 3])
def test_ensemble_equals_single_runs(batch):
  ens = driver.run_search(tiny_config(seed=5, num_seeds=3,
                                          ensemble_batch=batch))
  cells = ens['ensemble']['cells']
  assert [c['seed'] for c in cells] == [5, 6, 7]
  for cell in cells:
    single = driver.run_search(tiny_config(seed=cell['seed']))
    assert cell['arch'] == single['arch']
    assert cell['r'] == pytest.approx(single['r'], rel=1e-5)
  first = driver.run_search(tiny_config(seed=5))
  np.testing.assert_allclose(ens['scores']['cell'], first['scores']['cell'],
                             rtol=1e-4, atol=1e-9)


def test_ensemble_summary_counts_and_consensus():
  ens = driver.run_search(tiny_config(num_seeds=4, schedule='oneshot'))
  e = ens['ensemble']
  wins = np.array(e['wins']['cell'])
  assert (wins.sum(axis=1) == 4).all()
  assert (wins[:, 0] == 0).all()  # 'none' never wins
  majority = [ens['ops'][i] for i in np.argmax(wins, axis=1)]
  assert ens['genotype'] == majority
  assert e['agree'] == sum(c['genotype'] == majority for c in e['cells'])
  accs = [c['benchmark']['cifar10_test'] for c in e['cells']]
  assert e['benchmark_stats']['cifar10_test']['mean'] == pytest.approx(
      np.mean(accs))
  assert f'chosen by {e["agree"]} of them' in report.format_result(ens)


@pytest.mark.slow  # two compiles of a 3-cell DARTS supernet
def test_darts_ensemble_equals_single_runs():
  """Two seeds vmapped together and one at a time agree.

  Vmapped is the GPU setting; both on the overflow-safe float32 path: same
  genotypes, same scores.
  """
  config = darts_config.get_config()
  config.update(channels=4, layers=3, schedule='oneshot',
                dtype='float32_scaled', depthwise='conv')  # faster compile
  ens = driver.run_search(
      ml_collections.ConfigDict({**config.to_dict(), 'seed': 1,
                                 'num_seeds': 2, 'ensemble_batch': 2}))
  for cell in ens['ensemble']['cells']:
    config.seed = cell['seed']
    single = driver.run_search(config)
    assert cell['arch'] == single['arch']
    assert cell['r'] == pytest.approx(single['r'], rel=1e-5)
    if cell['seed'] == 1:
      for kind in ('normal', 'reduce'):
        np.testing.assert_allclose(ens['scores'][kind], single['scores'][kind],
                                   rtol=1e-4)
