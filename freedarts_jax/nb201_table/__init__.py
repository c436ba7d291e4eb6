"""The NAS-Bench-201 ground-truth table shipped with the package.

All 15,625 cells with their 200-epoch accuracies (provenance in
data/PROVENANCE.md): `lookup` by cell string, `row` by index.
"""

import csv
import functools
from importlib import resources
from typing import NamedTuple

from freedarts_jax import errors
from freedarts_jax.spaces import nb201

COLUMNS = ('cifar10_valid', 'cifar10_test', 'cifar100_valid', 'cifar100_test',
           'imagenet16_valid', 'imagenet16_test', 'cifar10valid_test')
SIZE = 15625


class Accuracy(NamedTuple):
  """Where a data set's reported test accuracy is in the table."""

  label: str  # the data set as NB201's paper names it
  column: str  # the table column FreeDARTS reports as its test accuracy


# config.dataset -> its accuracy column, in the order reports show them.
ACCURACIES = {'cifar10': Accuracy('CIFAR-10', 'cifar10_test'),
              'cifar100': Accuracy('CIFAR-100', 'cifar100_test'),
              'imagenet16': Accuracy('ImageNet16-120', 'imagenet16_test')}


class Table:
  """Rows of the table; index i is the benchmark's `api.arch(i)`."""

  def __init__(self, archs: list[str], values: list[tuple[float, ...]]):
    self.archs = archs
    self.values = values
    self._index = {a: i for i, a in enumerate(archs)}

  def __len__(self) -> int:
    return len(self.archs)

  def index(self, arch: str) -> int:
    """Benchmark index of a cell string (validated first)."""
    arch = nb201.to_string(nb201.from_string(arch))
    return self._index[arch]

  def row(self, index: int) -> dict:
    """{'index', 'arch', column: accuracy...} of one cell."""
    if not 0 <= index < len(self):
      raise errors.FreeDartsError(
          f'NB201 index {index} is out of range 0..{len(self) - 1}.')
    return {'index': index, 'arch': self.archs[index],
            **dict(zip(COLUMNS, self.values[index]))}

  def lookup(self, arch: str) -> dict:
    """The row of a cell string."""
    return self.row(self.index(arch))


@functools.cache
def load() -> Table:
  """Reads the shipped CSV once per process."""
  path = resources.files('freedarts_jax.nb201_table') / 'data' / (
      'nb201_accuracy.csv')
  try:
    with path.open(newline='') as f:
      rows = list(csv.DictReader(f))
  except FileNotFoundError as e:
    raise errors.DataError(
        f'the NB201 table {path} is missing: reinstall freedarts_jax '
        '(pip install -e .) from a full checkout.') from e
  archs = [r['arch'] for r in rows]
  values = [tuple(float(r[c]) for c in COLUMNS) for r in rows]
  if len(archs) != SIZE:
    raise errors.DataError(f'{path} has {len(archs)} rows, expected {SIZE}.')
  return Table(archs, values)
