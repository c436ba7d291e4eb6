"""ZEROS: finite differences, 'none', compile-once, float32 vs float64."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import darts as darts_config
from freedarts_jax import errors
from freedarts_jax import exported
from freedarts_jax import runtime
from freedarts_jax import spaces
from freedarts_jax import tree_util
from freedarts_jax import zeros
from freedarts_jax.search import driver
from freedarts_jax.search import scoring
from freedarts_jax.spaces import nb201
from tests import conftest
from tests.conftest import assert_scaled_equals_plain
from tests.conftest import tiny_config

SHAPE = (8, 8, 3)


def _tiny(bn_mode='train'):
  model = nb201.Network(10, channels=4, cells_per_stage=1, bn_mode=bn_mode)
  init = zeros.make_init_fn(model, SHAPE, nb201.alpha_shapes(), 'normal', 1e-3)
  variables, alpha = init(jax.random.key(0))
  return model, variables, alpha


@pytest.mark.parametrize('bn_mode', ['train', 'eval', 'none'])
def test_score_equals_central_finite_difference(bn_mode):
  model, variables, alpha = _tiny(bn_mode)
  mask = {'cell': jnp.ones((6, 5), jnp.float32)}
  score = zeros.make_score_fn(model, SHAPE, jnp.float64)
  r, scores, _, _ = zeros.to_numpy(score(variables, alpha, mask))

  theta = tree_util.linearise(tree_util.cast(variables, jnp.float64))
  x = jnp.ones((1, *SHAPE), jnp.float64)
  r_of = jax.jit(lambda a: jnp.sum(model.apply(theta, x, {'cell': a})))
  a64 = alpha['cell'].astype(jnp.float64)
  assert r_of(a64) == pytest.approx(float(r), rel=1e-12)
  h = 1e-7
  fd = np.zeros((6, 5))
  for e in range(6):
    for o in range(5):
      step = jnp.zeros((6, 5), jnp.float64).at[e, o].set(h)
      fd[e, o] = (r_of(a64 + step) - r_of(a64 - step)) / (2 * h)
  expected = np.abs(np.asarray(a64) * fd)
  np.testing.assert_allclose(scores['cell'], expected, rtol=1e-5,
                             atol=1e-9 * expected.max())
  assert expected[:, 1:].min() > 0  # the test compares non-trivial numbers


def test_none_scores_exactly_zero_and_masked_ops_too():
  model, variables, alpha = _tiny()
  mask = np.ones((6, 5), np.float32)
  mask[2, 3] = 0
  score = zeros.make_score_fn(model, SHAPE, jnp.float32)
  scores = score(variables, alpha, {'cell': jnp.asarray(mask)}).scores
  s = np.asarray(scores['cell'])
  assert np.all(s[:, nb201.NONE] == 0)
  assert s[2, 3] == 0
  assert np.all(s[:, 1:][mask[:, 1:] > 0] > 0)


def test_score_compiles_once():
  model, variables, alpha = _tiny()
  score = zeros.make_score_fn(model, SHAPE, jnp.float32)
  for i in range(3):
    a = {'cell': alpha['cell'] * (i + 1)}
    m = {'cell': jnp.ones((6, 5), jnp.float32).at[i, 1].set(0)}
    jax.block_until_ready(score(variables, a, m))
  assert score._cache_size() == 1  # pylint: disable=protected-access


def test_shapes_are_checked_when_traced():
  model, variables, alpha = _tiny()
  score = zeros.make_score_fn(model, SHAPE, jnp.float32)
  row = {'cell': jnp.ones((1, 5), jnp.float32)}  # would broadcast silently
  with pytest.raises(AssertionError):
    score(variables, alpha, row)
  with pytest.raises(AssertionError):
    zeros.make_score_fn(model, SHAPE, jnp.float32,
                        images=jnp.ones((2, 4, 4, 3), jnp.float32))


# Prints, per alpha_init, the most float32 ulps by which make_seeds_fn's
# variables, alpha and probe alpha differ from the per-seed calls.
_SEEDS_CHECK = """
import json
import jax
import numpy as np
from freedarts_jax import exported
from freedarts_jax import runtime
from freedarts_jax import zeros
from freedarts_jax.spaces import nb201
runtime.enable_compilation_cache()  # in FREEDARTS_CACHE_DIR, set below
model = nb201.Network(10, channels=4, cells_per_stage=1)
seeds = [0, 1, 2, 3, 4, 5, 2**31 + 5]
out = {}
with jax.enable_x64(True):
  for alpha_init in ('normal', 'ones'):
    args = (model, (8, 8, 3), nb201.alpha_shapes(), alpha_init, 0.7)
    # Twice: once exporting the call, once from the kept file (the CLIs').
    got, again = (zeros.make_seeds_fn(*args)(seeds) for _ in range(2))
    assert list(exported.folder().glob('*' + exported.SUFFIX))
    init = zeros.make_init_fn(*args)
    ulps = [0, 0, 0]
    for k, seed in enumerate(seeds):
      init_key, probe_key = jax.random.split(jax.random.key(seed))
      variables, alpha = init(init_key)
      want = (variables, alpha, zeros.perturb(alpha, probe_key))
      assert jax.tree.structure(want) == jax.tree.structure(got)
      for i in range(3):
        for g, a, w in zip(jax.tree.leaves(got[i]), jax.tree.leaves(again[i]),
                           jax.tree.leaves(want[i])):
          g, w = np.asarray(g[k]), np.asarray(w)
          np.testing.assert_array_equal(g, a[k])
          assert g.dtype == w.dtype == np.float32
          d = np.abs(g.view(np.int32).astype(np.int64) - w.view(np.int32))
          ulps[i] = max(ulps[i], int(d.max()))
    out[alpha_init] = ulps
print(json.dumps(out))
"""


@pytest.mark.parametrize('flags', ['package', 'tests'])
def test_seeds_fn_draws_what_init_and_perturb_draw_per_seed(flags, tmp_path):
  # The search draws every seed in one executable; per seed it equals the
  # per-seed calls it replaced, bit for bit under the package's compile
  # options (so the recorded seeds choose the same cells). Under the tests'
  # unoptimised compile (conftest) XLA fuses the normal draw of alpha
  # differently inside the larger executable: a few ulps (2 seen), the
  # uniform draw of the variables still exact.
  env = {**os.environ, 'FREEDARTS_CACHE_DIR': str(tmp_path)}
  if flags == 'package':
    fast = conftest.FAST_COMPILE.split()
    env['XLA_FLAGS'] = ' '.join(
        f for f in env['XLA_FLAGS'].split() if f not in fast)
  done = subprocess.run([sys.executable, '-c', _SEEDS_CHECK], env=env,
                        capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  ulps = json.loads(done.stdout.splitlines()[-1])
  most = 0 if flags == 'package' else 4
  assert set(ulps) == {'normal', 'ones'}
  for variables, alpha, probe in ulps.values():
    assert variables == 0 and alpha <= most and probe <= most, ulps


def test_same_seed_same_scores_other_seed_other_scores():
  r0 = driver.run_search(tiny_config(seed=3, dtype='float32'))
  r1 = driver.run_search(tiny_config(seed=3, dtype='float32'))
  r2 = driver.run_search(tiny_config(seed=4, dtype='float32'))
  assert r0['scores'] == r1['scores']
  assert r0['scores'] != r2['scores']


def test_float32_and_float64_choose_the_same_cell_on_seeds_0_to_4():
  """Full-size NB201 supernet, the default schedule, one draw cast twice."""
  for seed in range(5):
    cells = {}
    for dtype in ('float32', 'float64'):
      config = tiny_config(seed=seed, dtype=dtype, channels=16,
                           cells_per_stage=5)
      result = driver.run_search(config)
      assert result['dtype'] == dtype
      cells[dtype] = result['arch']
    assert cells['float32'] == cells['float64'], seed


# --- the overflow-safe float32 path (dtype=float32_scaled) -------------------


@pytest.mark.parametrize('factor', [1e4, 1e-8])
def test_float32_scaled_equals_float64_where_float32_breaks(factor):
  """The scaled float32 path matches float64 where float32 overflows.

  Weights times 1e4 overflow float32 (about 1e56 at the output), times
  1e-8 underflow it; the scaled float32 path matches float64 in both.
  """
  plain = nb201.Network(10, 4, 1, 'eval')
  scaled = nb201.Network(10, 4, 1, 'eval', scaled=True)
  init = zeros.make_init_fn(plain, SHAPE, nb201.alpha_shapes(), 'normal', 1e-3)
  variables, alpha = init(jax.random.key(0))
  variables = jax.tree.map(lambda v: v * factor, variables)
  mask = {'cell': jnp.ones((6, 5), jnp.float32)}
  out = {name: zeros.to_numpy(
      zeros.make_score_fn(model, SHAPE, dtype)(variables, alpha, mask))[:2]
         for name, model, dtype in (('f64', plain, jnp.float64),
                                    ('f32', plain, jnp.float32),
                                    ('scaled', scaled, jnp.float32))}
  ref = out['f64'][1]['cell'][:, 1:]
  broken = out['f32'][1]['cell'][:, 1:]
  assert not np.isfinite(broken).all() or (broken == 0).any()
  np.testing.assert_allclose(out['scaled'][0], out['f64'][0], rtol=1e-5)
  np.testing.assert_allclose(out['scaled'][1]['cell'][:, 1:], ref, rtol=1e-4)


def test_scaled_network_is_exact_where_positively_homogeneous():
  """In float64, the scaled network's logits are the plain ones."""
  for bn_mode in ('eval', 'none'):
    assert_scaled_equals_plain(
        nb201.Network(10, 4, 1, bn_mode),
        nb201.Network(10, 4, 1, bn_mode, scaled=True), SHAPE,
        nb201.alpha_shapes())


def test_float32_scaled_search_picks_the_float64_cell():
  cells = {}
  for dtype in ('float32_scaled', 'float64'):
    result = driver.run_search(
        tiny_config(dtype=dtype, bn_mode='eval', seed=2))
    assert result['dtype'] == dtype
    cells[dtype] = result['arch']
  assert cells['float32_scaled'] == cells['float64']


def test_float32_scaled_with_train_mode_batchnorm_is_refused():
  with pytest.raises(errors.ConfigError, match='bn_mode=eval or none'):
    driver.run_search(tiny_config(dtype='float32_scaled'))


def test_a_batch_and_a_factor_enter_r_before_the_gradient():
  # A batch of copies of the all-ones image (train-mode BatchNorm sees the
  # same statistics) sums B copies of R: R and ZEROS scale by B. A factor
  # g(alpha) gives |alpha * (g dR/dalpha + R dg/dalpha)| and leaves r = R.
  model, variables, alpha = _tiny()
  mask = {'cell': jnp.ones((6, 5), jnp.float32)}
  one = zeros.make_score_fn(model, SHAPE, jnp.float64)(variables, alpha, mask)
  r1, s1, _, _ = zeros.to_numpy(one)
  batch = jnp.ones((3, *SHAPE), jnp.float32)
  r3, s3, _, _ = zeros.to_numpy(zeros.make_score_fn(
      model, SHAPE, jnp.float64, images=batch)(variables, alpha, mask))
  assert r3 == pytest.approx(3 * r1, rel=1e-10)
  np.testing.assert_allclose(s3['cell'], 3 * s1['cell'], rtol=1e-8)

  weights = jnp.arange(30, dtype=jnp.float64).reshape(6, 5)
  g = lambda a: 2.0 + jnp.sum(weights * a['cell'])
  r_g, s_g, _, _ = zeros.to_numpy(zeros.make_score_fn(
      model, SHAPE, jnp.float64, factor=g)(variables, alpha, mask))
  assert r_g == r1
  theta = tree_util.linearise(tree_util.cast(variables, jnp.float64))
  a64 = {'cell': alpha['cell'].astype(jnp.float64)}
  dr = jax.grad(lambda a: jnp.sum(model.apply(
      theta, jnp.ones((1, *SHAPE), jnp.float64), a)))(a64)['cell']
  expected = np.abs(np.asarray(a64['cell'] * (g(a64) * dr + r1 * weights)))
  np.testing.assert_allclose(s_g['cell'], expected, rtol=1e-8)
  assert not np.allclose(s_g['cell'], float(g(a64)) * s1['cell'], rtol=1e-3)


def test_scaled_r_of_a_batch_counts_the_classifier_bias_per_image():
  """zeros_input=data on the scaled path.

  R sums the logits of B images, so the classifier bias enters B times
  (float64, so exactly).
  """
  plain = nb201.Network(10, 4, 1, 'eval')
  scaled = nb201.Network(10, 4, 1, 'eval', scaled=True)
  variables, alpha = zeros.make_init_fn(
      plain, SHAPE, nb201.alpha_shapes(), 'normal', 1e-3)(jax.random.key(0))
  fc = variables['params']['classifier']['fc']
  variables['params']['classifier']['fc'] = {
      **fc, 'bias': jnp.linspace(0.5, 1.0, 10, dtype=jnp.float32)}
  images = jax.random.normal(jax.random.key(1), (3, *SHAPE), jnp.float32)
  mask = {'cell': jnp.ones((6, 5), jnp.float32)}
  got, want = (zeros.to_numpy(zeros.make_score_fn(
      model, SHAPE, jnp.float64, images=images)(variables, alpha, mask))
               for model in (scaled, plain))
  assert int(got.log2_scale) != 0  # the test exercises the scaling
  # The bias counted once would be 2 * 7.5 off.
  assert abs(float(want.r)) < 1e6
  assert float(got.r) == pytest.approx(float(want.r), rel=1e-12)
  np.testing.assert_allclose(got.scores['cell'], want.scores['cell'],
                             rtol=1e-10)


@pytest.mark.parametrize('space', ['nb201', 'darts'])
def test_the_fast_compile_preset_keeps_the_score(space):
  """The score under runtime's CPU options ('zeros') equals XLA's default's.

  float64, to rounding: R and every score (issue 17's preset changes how XLA
  compiles, not what the supernet computes).
  """
  config = tiny_config()
  if space == 'darts':
    config = darts_config.get_config()
    config.update(channels=4, layers=3)
  s = spaces.get(space)
  model = s.build(config, 10)
  variables, alpha = zeros.make_init_fn(
      model, SHAPE, s.alpha_shapes, 'normal', 1e-3)(jax.random.key(0))
  mask = jax.tree.map(jnp.ones_like, alpha)
  fn = zeros.make_score_fn(model, SHAPE, jnp.float64)
  options = runtime.compiler_options('cpu', 'zeros')
  assert options == {'xla_cpu_opt_preset': 'CPU_OPT_PRESET_FAST_COMPILE'}
  want, got = (zeros.to_numpy(exported.compile_directly(
      fn, (variables, alpha, mask), o)(variables, alpha, mask))
               for o in (None, options))
  assert float(got.r) == pytest.approx(float(want.r), rel=1e-13)
  for name in alpha:
    np.testing.assert_allclose(got.scores[name], want.scores[name],
                               rtol=1e-11, atol=1e-13 * np.abs(
                                   want.scores[name]).max())


def test_the_search_compiles_its_score_with_runtime_options(monkeypatch):
  # An option XLA refuses shows that the search's compiled score passes
  # runtime's CPU options to XLA.
  model, variables, alpha = _tiny('eval')
  stacked = jax.tree.map(lambda x: x[None], (variables, alpha))
  monkeypatch.setitem(runtime.CPU_COMPILER_OPTIONS, 'zeros',
                      {'xla_cpu_opt_preset': 'NOT_A_PRESET'})
  with pytest.raises(Exception, match='NOT_A_PRESET'):
    scoring.compiled_score(model, SHAPE, 'float32', scoring.spec(stacked[0]),
                           scoring.spec(stacked[1]), 1)
