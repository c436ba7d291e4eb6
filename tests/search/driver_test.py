"""The search driver's scoring run.

One call per round, round 0 as the guard's baseline, guards named by
seed, the compile cache, and no executable per leaf shape when the seeds
are drawn.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import init
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


def _lowerings(fn):
  """fn's result and the jit lowerings it caused (jax.monitoring events)."""
  events = []
  listener = lambda event, *_, **__: events.append(event)
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    out = fn()
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  return out, events.count('/jax/core/compile/jaxpr_to_mlir_module_duration')


def test_drawing_seeds_lowers_nothing_per_leaf_shape():
  # Shapes no other test uses: jnp.asarray / jnp.stack would lower one
  # executable per shape (34 of make search's 42 did).
  shapes = ((3, 5, 7), (11,), (2, 13))
  rules = (('uniform', 0.5), ('constant', 1.0), ('uniform', 2.0))
  key = jax.random.key(0)
  # pylint: disable-next=protected-access
  jax.block_until_ready(init._draw(key, ((1,),), (('uniform', 1.0),)))
  # pylint: disable-next=protected-access
  drawn, count = _lowerings(lambda: init._draw(key, shapes, rules))
  assert count <= 1  # the one U(-1, 1) draw of a new total size
  assert [x.shape for x in drawn] == list(shapes)
  assert all(isinstance(x, jax.Array) for x in drawn)
  np.testing.assert_array_equal(drawn[1], np.ones((11,), np.float32))


def test_all_seeds_are_drawn_by_one_executable():
  # The draw of a search's seeds lowers one function, however many leaves
  # and seeds: the per-seed calls lowered seven small ones.
  space = spaces.get('nb201')
  draw = zeros.make_seeds_fn(space.build(tiny_config(), 10), (8, 8, 3),
                             space.alpha_shapes, 'normal', 1.0)
  with jax.enable_x64(True):
    (variables, alpha, probe), count = _lowerings(lambda: draw([5, 6, 7]))
  assert count == 1
  leaves = jax.tree.leaves((variables, alpha, probe))
  assert all(x.shape[0] == 3 for x in leaves)
