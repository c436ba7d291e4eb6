"""The mini-batch of the data-dependent proxies.

CIFAR-10 through tensorflow-datasets when it is installed and prepared
(`tfds.data_source(..., download=False)`: nothing is downloaded), else
Gaussian images; the returned description says which, and why.
"""

import jax
import jax.numpy as jnp
import numpy as np

# Per-channel mean and standard deviation of the CIFAR-10 training images.
_CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
_CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def gaussian(key: jax.Array, batch_size: int, input_shape, num_classes: int):
  """N(0, 1) images (B, H, W, 3) float32 and uniform labels (B,) int32."""
  kx, ky = jax.random.split(key)
  x = jax.random.normal(kx, (batch_size, *input_shape), jnp.float32)
  y = jax.random.randint(ky, (batch_size,), 0, num_classes, jnp.int32)
  return np.asarray(x), np.asarray(y)


def cifar10(seed: int, batch_size: int, data_dir: str | None):
  """A seeded random batch of CIFAR-10 training images, normalised.

  Raises:
    Exception: whatever tfds raises when it is missing or not prepared.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  source = tfds.data_source('cifar10', split='train', data_dir=data_dir,
                            download=False)
  rng = np.random.default_rng(seed)
  picks = rng.choice(len(source), batch_size, replace=False)
  rows = [source[int(i)] for i in picks]
  x = np.stack([np.asarray(r['image'], np.float32) / 255 for r in rows])
  x = (x - _CIFAR10_MEAN) / _CIFAR10_STD  # (B, 32, 32, 3)
  y = np.array([int(r['label']) for r in rows], np.int32)
  return x.astype(np.float32), y


def make_batch(data: str, key: jax.Array, seed: int, batch_size: int,
               input_shape, num_classes: int, data_dir: str = ''):
  """(images, labels, description) for config.data 'synthetic' | 'cifar10'."""
  if data == 'cifar10':
    try:
      x, y = cifar10(seed, batch_size, data_dir or None)
      return x, y, f'cifar10 (tfds train split, {batch_size} images)'
    except Exception as e:  # pylint: disable=broad-except
      reason = f'{type(e).__name__}: {e}'.splitlines()[0][:200]
      x, y = gaussian(key, batch_size, input_shape, num_classes)
      return x, y, f'gaussian (cifar10 not prepared: {reason})'
  x, y = gaussian(key, batch_size, input_shape, num_classes)
  return x, y, 'gaussian (synthetic N(0, 1) images, uniform labels)'
