"""Guards: every trip reason, its threshold, and the float64 fallback."""

import numpy as np
import pytest

from freedarts_jax import errors
from freedarts_jax.search import driver
from freedarts_jax.search import guards
from tests.conftest import tiny_config

OPS = ('none', 'a', 'b')
LABELS = {'cell': ('1<-0', '2<-0')}


def _check(rows, r=1.0, mask=None, dtype='float32'):
  scores = {'cell': np.array(rows, np.float64)}
  mask = {'cell': np.ones((2, 3)) if mask is None else np.array(mask)}
  guards.check_scores(r, scores, mask, OPS, LABELS, dtype)


def test_good_scores_pass():
  _check([[0, 1e-3, 2e-3], [0, 0.5, 0]])  # one zero among live ops is fine


@pytest.mark.parametrize('rows,r', [
    ([[0, np.nan, 1], [0, 1, 1]], 1.0),
    ([[0, np.inf, 1], [0, 1, 1]], 1.0),
    ([[0, 1, 1], [0, 1, 1]], np.inf),
])
def test_nonfinite(rows, r):
  with pytest.raises(guards.Tripped, match='nonfinite') as e:
    _check(rows, r)
  assert e.value.reason == 'nonfinite'
  assert isinstance(e.value, errors.FreeDartsError)


def test_zero_row_names_the_edge():
  with pytest.raises(guards.Tripped, match='edge 2<-0') as e:
    _check([[0, 1, 1], [0, 0, 0]])
  assert e.value.reason == 'zero_row'


def test_zero_row_counts_only_live_candidates():
  _check([[0, 1, 0], [0, 0, 2]], mask=[[1, 1, 0], [0, 0, 1]])
  with pytest.raises(guards.Tripped):
    _check([[0, 0, 5], [0, 1, 1]], mask=[[1, 1, 0], [1, 1, 1]])


def test_subnormal_is_underflow_in_its_dtype_only():
  tiny32 = np.finfo(np.float32).tiny
  with pytest.raises(guards.Tripped) as e:
    _check([[0, tiny32 / 4, 1], [0, 1, 1]])
  assert e.value.reason == 'underflow'
  _check([[0, tiny32 / 4, 1], [0, 1, 1]], dtype='float64')


def test_r_constant_threshold():
  guards.check_r_depends_on_alpha(10.0, 10.0 * (1 + 2e-5), 'float32', 'eval')
  with pytest.raises(guards.Tripped, match='alpha_scale') as e:
    guards.check_r_depends_on_alpha(10.0, 10.0 * (1 + 5e-6), 'float32', 'eval')
  assert e.value.reason == 'r_constant'
  guards.check_r_depends_on_alpha(10.0, 10.0 * (1 + 1e-12), 'float64', 'none')


def test_r_constant_advice_follows_the_batchnorm_mode():
  with pytest.raises(guards.Tripped) as e:
    guards.check_r_depends_on_alpha(1.0, 1.0, 'float64', 'train')
  assert 'bn_mode=eval or none' in str(e.value)
  assert 'alpha_scale' not in str(e.value)
  with pytest.raises(guards.Tripped) as e:  # exact in train mode: no hint
    guards.check_r_depends_on_alpha(1.0, 1.0, 'float32', 'train')
  assert not e.value.float64_helps and 'float64' not in str(e.value)
  with pytest.raises(guards.Tripped) as e:
    guards.check_r_depends_on_alpha(1.0, 1.0, 'float32', 'eval')
  assert e.value.float64_helps and 'may recover it' in str(e.value)


def test_auto_reruns_in_float64_and_says_why():
  # Without BatchNorm every path crosses the three cells, so the cells'
  # share of R scales like alpha_scale ** 3: about 3e-7 of R at 3e-5, below
  # the float32 threshold (1e-5), far above the float64 one (1e-13).
  config = tiny_config(bn_mode='none', alpha_scale=3e-5, dtype='auto',
                       schedule='oneshot')
  result = driver.run_search(config)
  assert result['dtype'] == 'float64'
  assert result['dtype_requested'] == 'auto'
  assert result['dtype_fallback']['reason'] == 'r_constant'
  with pytest.raises(errors.GuardError, match='r_constant'):
    driver.run_search(tiny_config(bn_mode='none', alpha_scale=3e-5,
                                      dtype='float32', schedule='oneshot'))


def test_release_failing_run_never_gives_the_all_none_cell():
  config = tiny_config(alpha_init='ones', dtype='float32', channels=16,
                       cells_per_stage=5)
  try:
    result = driver.run_search(config)
  except errors.GuardError as e:
    assert 'Refusing' in str(e)
  else:
    assert 'none' not in result['genotype']
    assert result['connected']


def test_r_probe_that_overflowed_is_nonfinite_not_r_constant():
  with pytest.raises(guards.Tripped) as e:
    guards.check_r_depends_on_alpha(np.inf, np.inf, 'float32', 'none')
  assert e.value.reason == 'nonfinite'


def test_float32_scaled_underflow_threshold_is_float32s():
  tiny32 = np.finfo(np.float32).tiny
  with pytest.raises(guards.Tripped) as e:
    _check([[0, tiny32 / 4, 1], [0, 1, 1]], dtype='float32_scaled')
  assert e.value.reason == 'underflow'
