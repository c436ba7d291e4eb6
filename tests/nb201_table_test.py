"""The shipped NB201 table."""

import pytest

from freedarts_jax import errors
from freedarts_jax import nb201_table


def test_table_size_and_best_cell():
  table = nb201_table.load()
  assert len(table) == 15625
  row = table.row(6111)
  assert row['cifar10_test'] == pytest.approx(94.3733)
  assert table.lookup(row['arch'])['index'] == 6111
  all_none = '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
  assert table.lookup(all_none)['cifar10_test'] == pytest.approx(10.0)


def test_bad_lookups():
  table = nb201_table.load()
  with pytest.raises(errors.GenotypeError):
    table.lookup('|conv~0|')
  with pytest.raises(errors.FreeDartsError, match='out of range'):
    table.row(15625)
