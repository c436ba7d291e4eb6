"""The dtype policy: one rule for float32_scaled, in the check and in auto."""

import importlib
import itertools

import ml_collections
import numpy as np
import pytest

from freedarts_jax import dtypes
from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax.search import checks
from freedarts_jax.search import driver
from tests.conftest import tiny_config


def _allowed(config) -> bool:
  """Whether the config check accepts dtype=float32_scaled."""
  scaled = ml_collections.ConfigDict({**config.to_dict(),
                                      'dtype': dtypes.SCALED})
  try:
    checks.check(scaled)
  except errors.ConfigError as e:
    assert 'float32_scaled' in str(e)
    return False
  return True


@pytest.mark.parametrize('name', ['nb201', 'darts', 'mobilenet'])
def test_the_check_and_auto_agree_where_float32_scaled_applies(name):
  base = importlib.import_module(f'configs.{name}').get_config().to_dict()
  penalties = ('none', 'mul#log') if name == 'mobilenet' else ('none',)
  seen = set()
  for bn_mode, objective, zeros_input, penalty in itertools.product(
      layers.BN_MODES, ('zeros', 'snip', 'grasp'), ('ones', 'data'),
      penalties):
    if objective != 'zeros' and (zeros_input, penalty) != ('ones', 'none'):
      continue  # refused for another reason
    config = ml_collections.ConfigDict({
        **base, 'dtype': 'auto', 'bn_mode': bn_mode, 'objective': objective,
        'zeros_input': zeros_input, 'flops_penalty': penalty,
        'data': 'synthetic'})
    if (name, bn_mode, objective) == ('darts', 'train', 'zeros'):
      with pytest.raises(errors.ConfigError, match='exactly zero'):
        checks.check(config)  # R cannot depend on alpha there
      continue
    space = checks.check(config)
    allowed = _allowed(config)
    assert (dtypes.attempts(config, space)[0] == dtypes.SCALED) == allowed
    assert allowed == (dtypes.scaled_refusal(config, space) is None)
    seen.add(allowed)
  # MobileNet's supernet has no rescaled path.
  assert seen == ({False} if name == 'mobilenet' else {True, False})


def test_float32_scaled_takes_a_batch_of_images_but_not_a_cross_entropy():
  batch = {'bn_mode': 'eval', 'data': 'synthetic'}
  assert _allowed(tiny_config(zeros_input='data', **batch))
  assert dtypes.attempts(tiny_config(zeros_input='data', **batch),
                         checks.check(tiny_config())) == [dtypes.SCALED,
                                                          'float64']
  for objective in ('snip', 'grasp'):
    with pytest.raises(errors.ConfigError, match='cross-entropy'):
      checks.check(tiny_config(dtype=dtypes.SCALED, objective=objective,
                               **batch))
  assert dtypes.attempts(tiny_config(dtype='float32'),
                         checks.check(tiny_config())) == ['float32']


def test_float32_scaled_on_a_batch_gives_the_float64_scores():
  results = {}
  for dtype in (dtypes.SCALED, 'float64'):
    # Seed 0: with data.gaussian_batch's images, seed 1's R moves by only
    # 2.6e-6 relative when alpha moves by 50%, and the r_constant guard
    # (dtypes.R_RTOL, 1e-5 in float32) rightly stops float32_scaled there.
    results[dtype] = driver.run_search(tiny_config(
        dtype=dtype, bn_mode='eval', zeros_input='data', data='synthetic',
        batch_size=2, seed=0))
    assert results[dtype]['dtype'] == dtype
  scaled, ref = results[dtypes.SCALED], results['float64']
  assert scaled['arch'] == ref['arch']
  assert scaled['r'] == pytest.approx(ref['r'], rel=1e-5)
  assert len(scaled['rounds']) == len(ref['rounds']) == 4
  for got, want in zip(scaled['rounds'], ref['rounds']):
    assert got['mask'] == want['mask']
    np.testing.assert_allclose(got['scores']['cell'], want['scores']['cell'],
                               rtol=1e-4)
