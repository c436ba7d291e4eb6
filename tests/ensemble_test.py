"""Seed ensembles: K seeds scored together equal K single runs."""

import numpy as np
import pytest

from freedarts_jax import report
from tests.conftest import tiny_config
from freedarts_jax import search_lib


@pytest.mark.parametrize('batch', [1, 3])
def test_ensemble_equals_single_runs(batch):
  ens = search_lib.run_search(tiny_config(seed=5, num_seeds=3,
                                          ensemble_batch=batch))
  cells = ens['ensemble']['cells']
  assert [c['seed'] for c in cells] == [5, 6, 7]
  for cell in cells:
    single = search_lib.run_search(tiny_config(seed=cell['seed']))
    assert cell['arch'] == single['arch']
    assert cell['r'] == pytest.approx(single['r'], rel=1e-5)
  first = search_lib.run_search(tiny_config(seed=5))
  np.testing.assert_allclose(ens['scores']['cell'], first['scores']['cell'],
                             rtol=1e-4, atol=1e-9)


def test_ensemble_summary_counts_and_consensus():
  ens = search_lib.run_search(tiny_config(num_seeds=4, schedule='oneshot'))
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
