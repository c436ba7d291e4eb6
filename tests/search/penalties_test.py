"""The mul#log FLOPs penalty: formula, FLOPs at one-hot alpha, gradient."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import errors
from freedarts_jax.search import driver
from freedarts_jax.search import penalties
from freedarts_jax.spaces import mobilenet
from tests.conftest import tiny_config


def test_factor_is_the_proxylessnas_formula_by_hand():
  # One edge, two candidates of 100 and 500 FLOPs, alpha (1, 3): p = (1/4,
  # 3/4), F = 100 + 25 + 375 = 500.
  factor = penalties.make_factor('mul#log', 100.0,
                                 {'e': np.array([[100.0, 500.0]])})
  g = factor({'e': jnp.array([[1.0, 3.0]], jnp.float64)})
  assert float(g) == pytest.approx(
      0.2 * (math.log(500.0) / math.log(475e6)) ** 0.3, rel=1e-12)
  assert float(penalties.mul_log(jnp.float64(475e6))) == pytest.approx(0.2)
  assert penalties.make_factor('none', 0.0, {}) is None


def test_one_hot_alpha_gives_the_genotype_flops():
  base, table = mobilenet.flops_table()
  rng = np.random.default_rng(0)
  picks = rng.integers(0, len(mobilenet.OPS), mobilenet.NUM_BLOCKS)
  genotype = tuple(mobilenet.OPS[i] for i in picks)
  one_hot = np.eye(len(mobilenet.OPS))[picks] * 1e-3  # scale-free
  flops = penalties.expected_flops({'blocks': jnp.asarray(one_hot)}, base,
                                   {'blocks': table})
  assert float(flops) == mobilenet.cost(genotype)[1]
  # And at another width, size and class count.
  base, table = mobilenet.flops_table(10, 32, 0.25)
  flops = penalties.expected_flops({'blocks': jnp.asarray(one_hot)}, base,
                                   {'blocks': table})
  assert float(flops) == mobilenet.cost(genotype, 10, 32, 0.25)[1]


def test_factor_gradient_matches_a_finite_difference():
  base, table = mobilenet.flops_table()
  factor = penalties.make_factor('mul#log', base, {'blocks': table})
  alpha = jnp.asarray(np.abs(np.random.default_rng(1).normal(
      0, 1e-3, (mobilenet.NUM_BLOCKS, len(mobilenet.OPS)))))
  grad = np.asarray(jax.grad(factor)({'blocks': alpha})['blocks'])
  f = jax.jit(lambda a: factor({'blocks': a}))
  h = 1e-9
  for b, o in [(0, 0), (5, 3), (20, 5)]:
    step = jnp.zeros_like(alpha).at[b, o].set(h)
    fd = (f(alpha + step) - f(alpha - step)) / (2 * h)
    assert grad[b, o] == pytest.approx(float(fd), rel=1e-5)
  assert np.abs(grad).min() > 0


@pytest.mark.parametrize('overrides,match', [
    ({'flops_penalty': 'mul#log'}, "only the mobilenet space.*'none'"),
    ({'flops_penalty': 'mul#lin'}, 'none, mul#log'),
    ({'zeros_input': 'image'}, 'ones, data'),
    ({'objective': 'snip', 'zeros_input': 'data', 'data': 'synthetic'},
     'objective to zeros'),
    ({'zeros_input': 'data', 'data': 'cifar'}, 'tfds, synthetic'),
    ({'zeros_input': 'data', 'batch_size': 0}, 'batch_size'),
])
def test_bad_settings_are_config_errors(overrides, match):
  with pytest.raises(errors.ConfigError, match=match):
    driver.run_search(tiny_config(**overrides))


def test_zeros_on_data_without_data_says_what_to_do(tmp_path):
  with pytest.raises(errors.DataError, match='zeros_input=data needs'):
    driver.run_search(tiny_config(zeros_input='data',
                                      data_dir=str(tmp_path)))
