"""Registry of search spaces: name -> Space.

Each space's module defines its own `SPACE`; the record's fields are
documented in space.py.
"""

from freedarts_jax import errors
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import mobilenet
from freedarts_jax.spaces import nb201
from freedarts_jax.spaces.space import Space

SPACES = {s.name: s for s in (nb201.SPACE, darts.SPACE, mobilenet.SPACE)}


def get(name: str) -> Space:
  """The Space called `name`; ConfigError naming the valid ones otherwise."""
  if name not in SPACES:
    raise errors.ConfigError(
        'config.space: ' + errors.one_of('search space', name, SPACES))
  return SPACES[name]
