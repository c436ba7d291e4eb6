"""snip and grasp on alpha: definitions, the Hessian-vector product, config."""

import os
import pathlib
import subprocess
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import data
from freedarts_jax import errors
from freedarts_jax import spaces
from freedarts_jax.search import driver
from freedarts_jax.search import guards
from freedarts_jax.search import objectives
from freedarts_jax.search import schedule
from tests.conftest import tiny_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASSES = 3


class Toy(nn.Module):
  """Two mixed edges (ops: none, tanh-dense, dense) and a classifier."""

  @nn.compact
  def __call__(self, x, alpha):  # x (B, 4); alpha {'cell': (2, 3)}
    a = alpha['cell']
    for e in range(2):
      dense = nn.Dense(4, param_dtype=jnp.float32, dtype=x.dtype,
                       name=f'dense{e}')(x)
      conv = nn.Dense(4, param_dtype=jnp.float32, dtype=x.dtype,
                      name=f'tanh{e}')(x)
      x = a[e, 1] * jnp.tanh(conv) + a[e, 2] * dense  # 'none' adds 0
    return nn.Dense(CLASSES, param_dtype=jnp.float32, dtype=x.dtype,
                    name='head')(x)


@pytest.fixture(scope='module')
def toy():
  model = Toy()
  key = jax.random.key(0)
  batch = data.gaussian_batch(key, 8, (4,), CLASSES)
  alpha = {'cell': jax.random.uniform(jax.random.key(1), (2, 3),
                                      jnp.float64, 0.5, 1.5)}
  variables = model.init(key, batch[0], alpha)
  images = batch[0].astype(jnp.float64)

  def loss(a):
    logits = model.apply(variables, images, a)
    return objectives.cross_entropy(logits, batch[1])

  return model, batch, variables, alpha, loss


def test_hvp_equals_a_central_difference_of_the_gradient(toy):
  model, batch, variables, alpha, loss = toy
  grad = jax.grad(loss)
  g = grad(alpha)
  _, hg = objectives.hvp(loss, alpha, g)
  eps = 1e-5
  plus = grad(jax.tree.map(lambda a, v: a + eps * v, alpha, g))
  minus = grad(jax.tree.map(lambda a, v: a - eps * v, alpha, g))
  fd = (plus['cell'] - minus['cell']) / (2 * eps)  # (2, 3)
  assert np.abs(fd).max() > 1e-4  # a non-trivial Hessian
  np.testing.assert_allclose(hg['cell'], fd, rtol=1e-6, atol=1e-10)
  # The grasp score is alpha * (H g), signed, in float64 as requested.
  mask = {'cell': jnp.ones((2, 3), jnp.float32)}
  score = objectives.make_objective_fn('grasp', model, batch,
                                       jnp.float64)(variables, alpha, mask)
  np.testing.assert_allclose(score.scores['cell'], alpha['cell'] * fd,
                             rtol=1e-6, atol=1e-10)
  assert score.scores['cell'].dtype == jnp.float64
  assert float(score.r) == pytest.approx(float(loss(alpha)), rel=1e-12)


def test_snip_is_alpha_times_the_loss_derivative_entry_by_entry(toy):
  model, batch, variables, alpha, loss = toy
  mask = np.ones((2, 3), np.float32)
  mask[1, 2] = 0  # a pruned op scores 0 and is absent from the loss
  score_fn = objectives.make_objective_fn('snip', model, batch, jnp.float64)
  got = np.asarray(score_fn(variables, alpha, {'cell': jnp.asarray(mask)})
                   .scores['cell'])
  a = np.asarray(alpha['cell']) * mask
  h = 1e-6
  want = np.zeros((2, 3))
  for e in range(2):
    for o in range(3):
      step = np.zeros((2, 3))
      step[e, o] = h
      up = float(loss({'cell': jnp.asarray(a + step)}))
      down = float(loss({'cell': jnp.asarray(a - step)}))
      want[e, o] = abs(a[e, o] * (up - down) / (2 * h))
  assert want[:, 1:][mask[:, 1:] > 0].min() > 0
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
  assert got[:, 0].max() == 0 and got[1, 2] == 0
  # The guards accept snip's scores and refuse an all-zero row.
  guards.check_scores(1.0, {'cell': got}, {'cell': mask}, ('none', 'a', 'b'),
                      {'cell': ('e0', 'e1')}, 'float64')
  with pytest.raises(guards.Tripped, match='zero_row'):
    guards.check_scores(1.0, {'cell': got * [[1], [0]]}, {'cell': mask},
                        ('none', 'a', 'b'), {'cell': ('e0', 'e1')}, 'float64')


def test_snip_search_on_synthetic_data_says_it_is_not_meaningful():
  # grasp takes the same path through the search driver (only the score function
  # differs, tested above); its forward-over-reverse compile of the NB201
  # supernet costs minutes on a loaded CI machine, so this runs snip.
  config = tiny_config(objective='snip', data='synthetic', batch_size=4,
                       dataset='imagenet16', schedule='oneshot',
                       dtype='float32')
  result = driver.run_search(config)
  assert result['objective'] == 'snip' and result['data'] == 'synthetic'
  assert result['objective_level'] == 'op (alpha)'  # not the proxy snip
  assert result['meaningful'] is False and 'mean nothing' in result['warning']
  scores = np.asarray(result['scores']['cell'])  # (6, 5)
  assert (scores >= 0).all() and scores[:, 0].max() == 0
  best = np.argmax(np.where(np.arange(5) > 0, scores, -np.inf), axis=1)
  assert list(result['genotype']) == [config_op(o) for o in best]
  # R is the batch's mean cross-entropy: near log(120) at initialisation.
  assert 0.5 * np.log(120) < result['r'] < 2 * np.log(120)


def test_signed_scores_prune_the_most_negative_op():
  # grasp scores are alpha * (H g), negative ones included: the schedule
  # removes the smallest, the genotype keeps the largest.
  scores = {'cell': np.array([[0.0, -3.0, 2.0, -1.0, 0.5]] * 6)}
  mask = {'cell': np.ones((6, 5))}
  mask['cell'][:, 0] = 0  # 'none' already gone
  assert schedule.removals('iterative_edge', scores, mask) == [
      ('cell', e, 1) for e in range(6)]
  genotype = spaces.get('nb201').choose(scores, mask)
  assert genotype == ('nor_conv_1x1',) * 6


def config_op(o: int) -> str:
  return ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3',
          'avg_pool_3x3')[o]


@pytest.mark.parametrize('overrides, match', [
    ({'objective': 'synflow'}, 'zeros, snip, grasp'),
    ({'objective': 'snip', 'data': 'cifar'}, 'tfds, synthetic'),
    ({'objective': 'grasp', 'dtype': 'float32_scaled', 'bn_mode': 'eval'},
     'cross-entropy'),
    ({'objective': 'snip', 'batch_size': 0}, 'batch_size'),
])
def test_bad_objective_settings_are_config_errors(overrides, match):
  with pytest.raises(errors.ConfigError, match=match):
    driver.run_search(tiny_config(**overrides))


def test_missing_data_fails_at_once_with_what_to_do(tmp_path):
  t = time.perf_counter()
  with pytest.raises(errors.DataError, match='tfds build cifar10') as e:
    driver.run_search(tiny_config(objective='snip',
                                      data_dir=str(tmp_path)))
  assert f'--data_dir={tmp_path} --file_format=array_record`' in str(e.value)
  with pytest.raises(errors.DataError, match='no builder') as e:
    driver.run_search(tiny_config(objective='grasp',
                                      dataset='imagenet16'))
  assert 'tfds build' not in str(e.value)  # what works instead:
  assert '--config.data=synthetic' in str(e.value)
  assert '--config.zeros_input=ones' in str(e.value)
  assert time.perf_counter() - t < 30


def test_zeros_ignores_data():
  # make search's default needs no data, whatever `data` says.
  assert tiny_config().objective == 'zeros'
  assert not objectives.needs_batch(tiny_config(data='tfds'))


def test_cli_without_data_exits_2_with_the_message(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'freedarts_jax.search',
       f'--config={ROOT / "configs" / "darts.py"}', '--config.objective=snip',
       f'--config.data_dir={tmp_path}', f'--workdir={tmp_path / "run"}'],
      cwd=tmp_path, env={**os.environ, 'PYTHONPATH': str(ROOT)},
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 2, proc.stderr
  assert 'data=synthetic' in proc.stderr and 'Traceback' not in proc.stderr
