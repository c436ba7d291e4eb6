"""Checks a search config before anything runs; errors name the valid values."""

import ml_collections

from freedarts_jax import dtypes
from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax import spaces
from freedarts_jax import validation
from freedarts_jax import zeros
from freedarts_jax.search import budget
from freedarts_jax.search import objectives
from freedarts_jax.search import penalties
from freedarts_jax.search import schedule

ZEROS_INPUTS = ('ones', 'data')


def _check_objective(config, space) -> None:
  """The objective, its input and the FLOPs penalty fit together."""
  validation.choice(config, 'objective', objectives.OBJECTIVES)
  validation.choice(config, 'zeros_input', ZEROS_INPUTS)
  validation.choice(config, 'flops_penalty', penalties.PENALTIES)
  if config.flops_penalty != 'none' and space.flops_table is None:
    raise errors.ConfigError(
        f'config.flops_penalty={config.flops_penalty!r} needs the FLOPs of '
        'every candidate op, which only the mobilenet space models; in the '
        f"{space.name} space the only valid value is 'none' (valid values "
        f'in the mobilenet space: {", ".join(penalties.PENALTIES)}).')
  if (config.objective == 'zeros' and config.bn_mode == 'train'
      and space.train_bn_blind):
    raise errors.ConfigError(
        f'config.bn_mode=train with objective=zeros cannot score the '
        f'{space.name} space: train-mode BatchNorm without affine parameters '
        "makes every op's output zero-mean over the batch and the image, so "
        'R is the batch size times the sum of |classifier bias| and '
        'dR/dalpha is exactly zero (in any dtype, for one image or a batch). '
        'Use bn_mode=eval or none, or objective=snip or grasp (a '
        'cross-entropy, which train mode does not cancel).')
  if config.objective != 'zeros':
    for field, default in (('zeros_input', 'ones'), ('flops_penalty', 'none')):
      if config[field] != default:
        raise errors.ConfigError(
            f'config.{field}={config[field]!r} changes the ZEROS score, and '
            f'objective={config.objective} does not use it; set {field} to '
            f'{default!r} or objective to zeros.')
  validation.choice(config, 'data', objectives.DATA)
  validation.positive(config, 'batch_size')


def check(config: ml_collections.ConfigDict) -> spaces.Space:
  """Validates a search config; returns its Space.

  Raises:
    errors.ConfigError: the first bad field, in one line naming the field,
      its value and the valid values.
  """
  space = spaces.get(config.space)
  validation.choice(config, 'dataset', space.datasets)
  validation.choice(config, 'dtype', dtypes.DTYPES)
  validation.choice(config, 'bn_mode', layers.BN_MODES)
  validation.choice(config, 'alpha_init', zeros.ALPHA_INITS)
  validation.choice(config, 'schedule', schedule.SCHEDULES)
  _check_objective(config, space)
  if config.dtype == dtypes.SCALED:
    refusal = dtypes.scaled_refusal(config, space)
    if refusal:
      raise errors.ConfigError(refusal)
  validation.integer(config, 'seed', 0)
  validation.positive(config, 'alpha_scale', float)
  for field, valid in space.choice_fields.items():
    validation.choice(config, field, valid)
  for field in space.size_fields:
    validation.positive(config, field)
  validation.positive(config, 'num_seeds')
  validation.integer(config, 'ensemble_batch', 0, note=' (0: automatic)')
  budget.check(config, space)
  return space
