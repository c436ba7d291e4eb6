"""Errors that the CLI turns into a one-paragraph message and non-zero exit."""


class FreeDartsError(Exception):
  """Base class: a user-facing error whose message says what to change."""


class ConfigError(FreeDartsError, ValueError):
  """A config value is unknown or out of range."""


class GenotypeError(FreeDartsError, ValueError):
  """A genotype string or structure is malformed."""


class GuardError(FreeDartsError, FloatingPointError):
  """A numerical guard tripped: the scores cannot be trusted to choose ops."""


class DataError(FreeDartsError, FileNotFoundError):
  """A data file or data set is missing."""


def one_of(what: str, value, valid) -> str:
  """Formats 'unknown <what> <value>; valid: a, b, c' for error messages."""
  names = ', '.join(map(str, valid))
  return f'unknown {what} {value!r}; valid values: {names}.'
