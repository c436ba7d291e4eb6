"""The proxy benchmark's correlations rank non-finite scores, never drop them.

The all-'none' cell's output ignores its input: jacob_cov is NaN there,
naswot -inf and te_nas NaN (a zero NTK). The report ranks NaN and -inf
last, +inf first, and says how many cells each correlation used and ranked
last.
"""

import jax
import numpy as np
from scipy import stats

from freedarts_jax import nb201_table
from freedarts_jax import proxies
from freedarts_jax.init import torch_init
from freedarts_jax.proxies import report
from freedarts_jax.spaces import nb201

ALL_NONE = '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
SETUP = proxies.Setup(dataset='imagenet16', channels=4, cells_per_stage=1)


def test_nan_and_minus_inf_rank_last_plus_inf_first():
  r, last, first = report.ranks(np.array([2.0, np.nan, -np.inf, np.inf,
                                          -5.0]))
  np.testing.assert_array_equal(r, [4.0, 1.5, 1.5, 5.0, 3.0])
  assert (last, first) == (2, 1)


def test_correlation_keeps_every_cell_and_counts_the_last():
  score = np.array([np.nan, 1.0, 2.0, 3.0, -np.inf, 4.0])
  acc = np.array([10.0, 60.0, 70.0, 80.0, 10.0, 90.0])
  c = report.correlation(score, acc)
  assert (c['n'], c['ranked_last'], c['ranked_first']) == (6, 2, 0)
  want = stats.spearmanr([1.5, 3, 4, 5, 1.5, 6], acc).statistic
  assert c['spearman'] == want == 1.0
  finite = np.isfinite(score)  # what dropping them gave: the same order
  assert stats.spearmanr(score[finite], acc[finite]).statistic == 1.0
  flat = report.correlation(np.array([np.nan, np.nan, -np.inf]),
                            np.array([1.0, 2.0, 3.0]))
  assert flat['spearman'] is None and flat['ranked_last'] == 3


def _score_all_none(name: str) -> float:
  proxy = proxies.get(name)
  x = jax.ShapeDtypeStruct((1, *SETUP.input_shape), np.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((6, 5), np.float32)}
  variables = torch_init(SETUP.model('train').init, jax.random.key(0), x,
                         alpha)
  images = jax.random.normal(jax.random.key(1), (4, *SETUP.input_shape))
  labels = np.arange(4, dtype=np.int32)
  one_hot = np.zeros((6, 5), np.float32)
  one_hot[:, nb201.OPS.index('none')] = 1
  with jax.enable_x64(True):
    out = proxy.make(SETUP)(variables, {'cell': one_hot}, (images, labels))
  return float(out[name])


def test_the_all_none_cell_is_ranked_last_not_dropped():
  dead = {name: _score_all_none(name)
          for name in ('jacob_cov', 'naswot', 'te_nas')}
  assert np.isnan(dead['jacob_cov']) and np.isnan(dead['te_nas'])
  assert dead['naswot'] == -np.inf
  table = nb201_table.load()
  cells = np.array([table.archs.index(ALL_NONE), 0, 1, 2, 3])
  scores = {name: {int(i): float(k) for k, i in enumerate(cells)}
            for name in dead}
  for name, value in dead.items():
    scores[name][int(cells[0])] = value
  corr = report.correlations(cells, scores)
  for name in dead:
    c = corr[name]['cifar10_test']['all']
    assert (c['n'], c['ranked_last']) == (5, 1)
  md = report.markdown(corr, {'cells': 5, 'init': 'shared', 'data': None,
                              'processes': 1, 'local_devices': 1}, {})
  assert '| jacob_cov | 5 (1 last) |' in md
