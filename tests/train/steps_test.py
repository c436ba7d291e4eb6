"""The per-epoch schedules of train/steps.py against their closed forms."""

import itertools

import numpy as np
import pytest

from configs import train_cifar10
from freedarts_jax.train import steps as steps_lib

STEPS_PER_EPOCH = 3


def _closed_form(kind, e, epochs, lr, lr_min, rate, every, warm):
  """DARTS's per-epoch rates in float64 (the formulas optax now computes)."""
  if kind == 'cosine':
    value = lr_min + 0.5 * (lr - lr_min) * (1 + np.cos(np.pi * e / epochs))
  elif kind == 'linear':
    value = np.maximum(lr * (1 - e / epochs), lr_min)
  else:
    value = lr * rate ** np.floor(e / every)
  if warm:
    value = value * np.minimum((e + 1) / warm, 1.0)
  return value


@pytest.mark.parametrize('kind,warm', list(itertools.product(
    steps_lib.SCHEDULES, (0, 1, 4))))
def test_learning_rate_equals_the_closed_form_at_every_epoch(kind, warm):
  for epochs, lr, lr_min in ((7, 0.3, 0.0), (600, 0.025, 0.001),
                             (50, 0.1, 0.02)):
    config = train_cifar10.get_config()
    config.update(lr_schedule=kind, warmup_epochs=warm, epochs=epochs,
                  learning_rate=lr, lr_min=lr_min, lr_decay_rate=0.97,
                  lr_decay_epochs=2)
    recipe = steps_lib.Recipe.from_config(config, STEPS_PER_EPOCH)
    steps = np.arange(epochs * STEPS_PER_EPOCH)  # every step of every epoch
    got = np.asarray(steps_lib.learning_rate(recipe, steps))
    assert got.dtype == np.float32
    want = _closed_form(kind, steps // STEPS_PER_EPOCH, epochs, lr, lr_min,
                        0.97, 2, warm)
    # float32: a few ulps of lr, more of rate ** k at large k.
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=3e-7 * lr)


def test_drop_path_ramps_linearly_over_the_epochs():
  config = train_cifar10.get_config()
  config.update(epochs=600, drop_path=0.2)
  recipe = steps_lib.Recipe.from_config(config, STEPS_PER_EPOCH)
  steps = np.arange(600 * STEPS_PER_EPOCH)
  got = np.asarray(steps_lib.drop_path_rate(recipe, steps))
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, 0.2 * (steps // STEPS_PER_EPOCH) / 600,
                             rtol=0, atol=3e-8)
