"""Checks a search config before anything runs; errors name the valid values."""

import ml_collections

from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax.search import budget
from freedarts_jax.search import objectives
from freedarts_jax.search import penalties
from freedarts_jax.search import schedule
from freedarts_jax import spaces

DTYPES = ('float32', 'float64', 'auto', 'float32_scaled')
ALPHA_INITS = ('normal', 'ones')
ZEROS_INPUTS = ('ones', 'data')


def _choice(config, field: str, valid) -> None:
  value = config[field]
  if value not in valid:
    raise errors.ConfigError(f'config.{field}: ' +
                             errors.one_of(field, value, valid))


def _positive(config, field: str, kind=int) -> None:
  value = config[field]
  if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
    raise errors.ConfigError(
        f'config.{field} must be a positive {kind.__name__}, got {value!r}.')


def _at_least(config, field: str, minimum: int, note: str = '') -> None:
  value = config[field]
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise errors.ConfigError(
        f'config.{field} must be an integer >= {minimum}{note}, got '
        f'{value!r}.')


def check(config: ml_collections.ConfigDict) -> spaces.Space:
  """Validates a search config; returns its Space."""
  space = spaces.get(config.space)
  _choice(config, 'dataset', space.datasets)
  _choice(config, 'dtype', DTYPES)
  _choice(config, 'bn_mode', layers.BN_MODES)
  _choice(config, 'alpha_init', ALPHA_INITS)
  _choice(config, 'schedule', schedule.SCHEDULES)
  if config.dtype == 'float32_scaled' and config.bn_mode == 'train':
    raise errors.ConfigError(
        'config.dtype=float32_scaled rescales the state before every cell, '
        'which leaves the scores exact only where the network is positively '
        'homogeneous: bn_mode=eval or none. With bn_mode=train BatchNorm '
        'renormalises every conv output instead; use dtype float32, float64 '
        'or auto there.')
  _choice(config, 'objective', objectives.OBJECTIVES)
  _choice(config, 'zeros_input', ZEROS_INPUTS)
  _choice(config, 'flops_penalty', penalties.PENALTIES)
  if config.flops_penalty != 'none' and space.flops_table is None:
    raise errors.ConfigError(
        f'config.flops_penalty={config.flops_penalty!r} needs the FLOPs of '
        'every candidate op, which only the mobilenet space models; in the '
        f'{space.name} space the only valid value is \'none\' (valid values '
        f'in the mobilenet space: {", ".join(penalties.PENALTIES)}).')
  if config.objective != 'zeros':
    for field, default in (('zeros_input', 'ones'), ('flops_penalty', 'none')):
      if config[field] != default:
        raise errors.ConfigError(
            f'config.{field}={config[field]!r} changes the ZEROS score, and '
            f'objective={config.objective} does not use it; set {field} to '
            f'{default!r} or objective to zeros.')
  if objectives.needs_batch(config):
    _choice(config, 'data', objectives.DATA)
    _positive(config, 'batch_size')
    if config.dtype == 'float32_scaled':
      raise errors.ConfigError(
          f'config.dtype=float32_scaled does not apply to objective='
          f'{config.objective}: it scales the logits by a power of two, and '
          'a cross-entropy needs the logits themselves. Use dtype float32, '
          'float64 or auto.')
  if config.dtype == 'float32_scaled' and not space.scalable:
    raise errors.ConfigError(
        f'config.dtype=float32_scaled is not available in the {space.name} '
        'space (its supernet has no rescaled path); use dtype float32, '
        'float64 or auto.')
  _at_least(config, 'seed', 0)
  _positive(config, 'alpha_scale', float)
  for field, valid in space.choice_fields.items():
    _choice(config, field, valid)
  for field in space.size_fields:
    _positive(config, field)
  _positive(config, 'num_seeds')
  _at_least(config, 'ensemble_batch', 0, ' (0: automatic)')
  budget.check(config, space)
  return space
