"""The search driver's scoring run.

One call per round, round 0 as the guard's baseline, guards named by
seed, and the compile cache.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import spaces
from freedarts_jax import zeros
from freedarts_jax.search import driver
from freedarts_jax.search import guards
from freedarts_jax.search import scoring
from tests.conftest import tiny_config

SPACE = spaces.get('nb201')


def _fake_score(calls: list):
  """A stand-in compiled score that records the alpha of every call.

  R = sum(alpha * mask), ZEROS = alpha * mask, per seed.
  """

  def compiled(variables, alpha, masks):
    del variables
    calls.append(alpha)
    eff = {k: alpha[k] * masks[k] for k in alpha}
    r = jnp.sum(eff['cell'], axis=(1, 2))  # (K,)
    return zeros.Score(r, jnp.zeros_like(r), jnp.zeros(r.shape, jnp.int32),
                       eff)

  return compiled


def _alpha(num: int):
  rng = np.random.default_rng(0)
  return {'cell': jnp.asarray(rng.uniform(0.5, 1.0, (num, 6, 5)))}


@pytest.mark.parametrize('num', [1, 3])
def test_round_zero_is_the_guards_baseline(num):
  alpha = _alpha(num)
  probe = {'cell': alpha['cell'] * 1.5}
  calls = []
  run = scoring.ScoringRun(_fake_score(calls), {}, alpha, probe, 'float64',
                           SPACE, list(range(num)), 'eval')
  outcome = run.run('iterative_edge')
  assert len(outcome.rounds) == 4  # 5 ops -> 1
  assert len(calls) == len(outcome.rounds) + 1  # the probe is the one extra
  assert [c is probe for c in calls] == [False, True, False, False, False]
  r0 = np.asarray(jnp.sum(alpha['cell'], axis=(1, 2)))
  np.testing.assert_array_equal(outcome.rounds[0]['r'], r0)
  assert outcome.rounds[0]['scores']['cell'].shape == (num, 6, 5)


def test_a_tripped_guard_names_its_seed_and_stops_the_run():
  alpha = _alpha(2)
  calls = []
  run = scoring.ScoringRun(_fake_score(calls), {}, alpha, alpha, 'float64',
                           SPACE, [3, 4], 'eval')
  with pytest.raises(guards.Tripped, match='seed 3: R = ') as e:
    run.run('iterative_edge')
  assert e.value.reason == 'r_constant'
  assert len(calls) == 2  # round 0 and the probe, nothing after


def test_a_second_search_of_the_same_shapes_does_not_recompile():
  driver.run_search(tiny_config(seed=3, dtype='float32'))
  before = scoring.compiled_score.cache_info()
  result = driver.run_search(tiny_config(seed=4, dtype='float32'))
  after = scoring.compiled_score.cache_info()
  assert after.misses == before.misses and after.hits == before.hits + 1
  assert after.maxsize == scoring.CACHE_SIZE
  assert result['timing']['guard_s'] > 0
