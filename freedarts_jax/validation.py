"""Config checks every CLI shares: one line per bad value, before any compile.

Each helper reads `config[field]` and raises errors.ConfigError with one line
that names the field, the bad value and what is valid, e.g.

    config.dtype: unknown dtype 'float16'; valid values: float32, float64.
    config.seed must be an integer >= 0, got -1.

The CLIs (`cli.run`) print it after 'error: ' and exit with status 2. bool is
never taken for a number (True would pass as 1).
"""

from collections.abc import Iterable
import numbers

from freedarts_jax import errors


def _fail(field: str, value, expected: str):
  raise errors.ConfigError(
      f'config.{field} must be {expected}, got {value!r}.')


def _is(value, kind) -> bool:
  return not isinstance(value, bool) and isinstance(value, kind)


def choice(config, field: str, valid: Iterable, note: str = '') -> None:
  """config[field] must be one of `valid`.

  Args:
    config: a ConfigDict (or any mapping).
    field: the field's name.
    valid: the valid values, listed in the error in this order.
    note: appended to the error, e.g. why the others are not valid.

  Raises:
    errors.ConfigError: naming the field, the value and the valid values.
  """
  value = config[field]
  valid = tuple(valid)
  if not any(value == v and isinstance(value, bool) == isinstance(v, bool)
             for v in valid):
    raise errors.ConfigError(f'config.{field}: ' +
                             errors.one_of(field, value, valid) + note)


def choices(config, field: str, valid: Iterable) -> tuple[str, ...]:
  """config[field] is a comma-separated list of values from `valid`.

  Returns:
    The listed values in order, empty entries dropped.

  Raises:
    errors.ConfigError: an entry not in `valid`, named with the valid values.
  """
  valid = tuple(valid)
  chosen = tuple(v.strip() for v in str(config[field]).split(',')
                 if v.strip())
  for v in chosen:
    if v not in valid:
      raise errors.ConfigError(f'config.{field}: ' +
                               errors.one_of(field, v, valid))
  return chosen


def integer(config, field: str, low: int | None = None,
            high: int | None = None, note: str = '') -> None:
  """config[field] must be an int in low..high (either bound optional).

  Raises:
    errors.ConfigError: e.g. 'config.limit must be an integer in 0..15625,
      got 20000.'; `note` follows the range (e.g. ' (0: automatic)').
  """
  value = config[field]
  if _is(value, numbers.Integral) and (low is None or value >= low) and (
      high is None or value <= high):
    return
  if low is not None and high is not None:
    _fail(field, value, f'an integer in {low}..{high}{note}')
  bound = (f' >= {low}' if low is not None else
           f' <= {high}' if high is not None else '')
  _fail(field, value, f'an integer{bound}{note}')


def positive(config, field: str, kind: type = int) -> None:
  """config[field] must be a `kind` (int or float) above 0.

  Raises:
    errors.ConfigError: e.g. 'config.channels must be an integer > 0, got 0.'
  """
  value = config[field]
  if _is(value, kind) and value > 0:
    return
  _fail(field, value, 'an integer > 0' if kind is int else 'a number > 0')


def number(config, field: str, low: float | None = None,
           below: float | None = None, strict: bool = False) -> None:
  """config[field] must be a real number >= low (> low if strict), < below.

  Raises:
    errors.ConfigError: e.g. 'config.drop_path must be a number >= 0 and
      < 1, got 1.5.'
  """
  value = config[field]
  if _is(value, numbers.Real) and (
      low is None or (value > low if strict else value >= low)) and (
          below is None or value < below):
    return
  parts = []
  if low is not None:
    parts.append(f'{">" if strict else ">="} {low:g}')
  if below is not None:
    parts.append(f'< {below:g}')
  _fail(field, value, ' '.join(['a number', ' and '.join(parts)]).strip())


def boolean(config, field: str) -> None:
  """config[field] must be True or False (not 0 or 1)."""
  if not isinstance(config[field], bool):
    _fail(field, config[field], 'True or False')
