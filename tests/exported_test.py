"""Calls and variable structures kept on disk (freedarts_jax/exported.py).

A kept call computes exactly what the traced one does, a repeat is not
traced, a different key or shape is a different file, and an unreadable file
is traced again and replaced; a repeat search reads everything it needs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import exported
from freedarts_jax import init
from freedarts_jax import spaces
from freedarts_jax import zeros
from freedarts_jax.search import driver
from freedarts_jax.search import scoring
from tests.conftest import tiny_config

SHAPE = (8, 8, 3)


def _score_and_args():
  """A tiny NB201 supernet's float32 ZEROS, its arguments, a trace count."""
  config = tiny_config()
  model = spaces.get('nb201').build(config, 10)
  variables, alpha = zeros.make_init_fn(
      model, SHAPE, spaces.get('nb201').alpha_shapes, 'normal',
      1e-3)(jax.random.key(0))
  score = zeros.make_score_fn(model, SHAPE, jnp.float32)
  traces = []

  def fn(*args):
    traces.append(1)  # runs once per trace
    return score(*args)

  masks = jax.tree.map(jnp.ones_like, alpha)
  return fn, (variables, alpha, masks), traces


def _small_and_args():
  """A cheap function returning a zeros.Score, its arguments, a trace count."""
  traces = []

  def fn(x, alpha):
    traces.append(1)
    r = jnp.sum(jnp.tanh(x) * alpha['cell'].sum())
    return zeros.Score(r, r * 0, jnp.int32(0), {'cell': alpha['cell'] * r})

  return fn, (jnp.linspace(0.0, 1.0, 12).reshape(3, 4),
              {'cell': jnp.ones((6, 5), jnp.float32)}), traces


def _assert_identical(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.dtype == y.dtype
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_kept_call_equals_the_traced_one_and_is_not_traced_again(
    tmp_path):
  # float32, the default search's dtype (the repeat search below is too).
  fn, args, traces = _score_and_args()
  first = exported.compile(fn, args, 'zeros', where=tmp_path)
  assert len(traces) == 1
  want = jax.jit(fn)(*args)
  _assert_identical(first(*args), want)
  assert isinstance(first(*args), zeros.Score)
  again = exported.compile(fn, args, 'zeros', where=tmp_path)
  assert len(traces) == 1  # read from the file
  _assert_identical(again(*args), want)
  assert len(list(tmp_path.glob(f'*{exported.SUFFIX}'))) == 1


def test_another_key_or_shape_is_another_file(tmp_path):
  fn, (x, alpha), traces = _small_and_args()
  exported.compile(fn, (x, alpha), 'a', where=tmp_path)
  exported.compile(fn, (x, alpha), 'b', where=tmp_path)
  exported.compile(fn, (x[:2], alpha), 'a', where=tmp_path)
  exported.compile(fn, (x.astype(jnp.float32), alpha), 'a', where=tmp_path)
  assert len(traces) == 3  # 'b' reuses JAX's trace in memory
  assert len(list(tmp_path.glob(f'*{exported.SUFFIX}'))) == 4


def test_an_unreadable_file_is_traced_again_and_replaced(tmp_path):
  fn, args, _ = _small_and_args()
  want = exported.compile(fn, args, 'zeros', where=tmp_path)(*args)
  (path,) = tmp_path.glob(f'*{exported.SUFFIX}')
  path.write_bytes(b'not an exported call')
  got = exported.compile(fn, args, 'zeros', where=tmp_path)(*args)
  _assert_identical(got, want)
  jax.export.deserialize(bytearray(path.read_bytes()))  # replaced


def test_without_a_folder_nothing_is_exported(monkeypatch):
  fn, args, _ = _small_and_args()
  want = jax.jit(fn)(*args)
  monkeypatch.setattr(exported, 'folder', lambda: None)
  monkeypatch.setattr(exported.jax.export, 'export', _fail)
  _assert_identical(exported.compile(fn, args, 'zeros')(*args), want)


def test_a_call_that_cannot_be_exported_is_compiled_directly(
    tmp_path, monkeypatch):
  fn, args, _ = _small_and_args()
  want = jax.jit(fn)(*args)

  def unsupported(*args, **kwargs):
    raise NotImplementedError('a host callback')

  monkeypatch.setattr(exported.jax.export, 'export', unsupported)
  got = exported.compile(fn, args, 'zeros', where=tmp_path)
  _assert_identical(got(*args), want)
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('kept', ['no folder', 'new file', 'read back'])
def test_compiler_options_reach_xla_on_every_path(kept, tmp_path,
                                                  monkeypatch):
  fn, args, _ = _small_and_args()
  where = tmp_path
  if kept == 'no folder':
    monkeypatch.setattr(exported, 'folder', lambda: None)
    where = None
  elif kept == 'read back':
    exported.compile(fn, args, 'zeros', where=where)
  with pytest.raises(Exception, match='NOT_A_PRESET'):
    exported.compile(fn, args, 'zeros', where=where, compiler_options={
        'xla_cpu_opt_preset': 'NOT_A_PRESET'})


def _fail(*args, **kwargs):
  raise AssertionError('traced or exported')


def test_the_variable_structure_is_read_back_without_tracing(
    tmp_path, monkeypatch):
  monkeypatch.setattr(exported, 'folder', lambda: tmp_path)
  model = spaces.get('nb201').build(tiny_config(), 10)
  x = jax.ShapeDtypeStruct((1, *SHAPE), jnp.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((6, 5), jnp.float32)}
  init._structure.cache_clear()
  traced = init._structure(*_structure_args(model, x, alpha))
  want = init.torch_init(model.init, jax.random.key(3), x, alpha)
  assert len(list(tmp_path.glob('*.structure.json'))) == 1
  init._structure.cache_clear()
  monkeypatch.setattr(init.jax, 'eval_shape', _fail)
  assert init._structure(*_structure_args(model, x, alpha)) == traced
  _assert_identical(init.torch_init(model.init, jax.random.key(3), x, alpha),
                    want)
  init._structure.cache_clear()


def _structure_args(model, *args):
  leaves, treedef = jax.tree.flatten(args)
  return model.init, treedef, tuple(
      (tuple(x.shape), jnp.dtype(x.dtype)) for x in leaves)


def test_a_repeat_search_reads_what_it_kept_and_chooses_the_same(
    tmp_path, monkeypatch):
  monkeypatch.setattr(exported, 'folder', lambda: tmp_path)
  config = tiny_config(dtype='float32', seed=5)
  scoring.compiled_score.cache_clear()
  init._structure.cache_clear()
  first = driver.run_search(config)
  scoring.compiled_score.cache_clear()
  init._structure.cache_clear()
  monkeypatch.setattr(exported.jax.export, 'export', _fail)
  monkeypatch.setattr(init.jax, 'eval_shape', _fail)
  second = driver.run_search(config)
  assert second['rounds'] == first['rounds']
  assert second['arch'] == first['arch']
  scoring.compiled_score.cache_clear()
  init._structure.cache_clear()
