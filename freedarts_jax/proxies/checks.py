"""Checks a proxy benchmark config before anything runs."""

import ml_collections

from freedarts_jax import dtypes
from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax import nb201_table
from freedarts_jax import proxies
from freedarts_jax import validation
from freedarts_jax.spaces import nb201

DATA = ('synthetic', 'cifar10')
INITS = ('shared', 'per_cell')


def check(config: ml_collections.ConfigDict) -> tuple:
  """Validates a proxy benchmark config, before anything is built.

  Returns:
    The chosen proxies, in order.

  Raises:
    errors.ConfigError: the first bad field, in one line naming the field,
      its value and the valid values.
  """
  chosen = proxies.parse(config.proxies)
  validation.integer(config, 'limit', 0, nb201_table.SIZE)
  validation.integer(config, 'seed', 0)
  validation.integer(config, 'batch_size', 2)
  validation.integer(config, 'vmap', 0, note=' (0: automatic)')
  for field in ('chunk', 'channels', 'cells_per_stage'):
    validation.positive(config, field)
  for field in ('routed', 'progress'):
    validation.boolean(config, field)
  validation.number(config, 'merge_wait_s', 0, strict=True)
  validation.choice(config, 'data', DATA)
  validation.choice(config, 'init', INITS)
  validation.choice(config, 'dataset', nb201.DATASETS)
  validation.choice(config, 'synflow_dtype', dtypes.COMPUTE)
  validation.choice(config, 'zeros_dtype', dtypes.COMPUTE)
  validation.choice(config, 'zeros_bn_mode', layers.BN_MODES)
  validation.choice(config, 'data_dtype', ('auto', *dtypes.COMPUTE))
  if config.data == 'cifar10' and config.dataset != 'cifar10':
    raise errors.ConfigError(
        'config.data=cifar10 needs config.dataset=cifar10 (the network '
        f'must take 32 px images and 10 classes), got {config.dataset!r}.')
  return chosen
