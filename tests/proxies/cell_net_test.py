"""The data-dependent proxies on the cell's own network (cell_net.py).

(1) Each proxy on the cell's network equals its value on the one-hot
supernet for the same cell and weights, each in its own dtype: 1e-5
relative in float32, 1e-9 in float64 (grasp, te_nas). (2) Where a proxy runs
in float32, float32 is within 1e-5 of float64 (a non-finite value
non-finite in both). Cells are scored one
at a time under jax.lax.map, as bench.py does on CPU (the switch then runs
one branch), in one compiled call per (network, dtype).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import proxies
from freedarts_jax.init import torch_init
from freedarts_jax.proxies import cell_net
from freedarts_jax.spaces import nb201

SETUP = proxies.Setup(dataset='imagenet16', channels=4, cells_per_stage=1)
NAMES = ('snip', 'grasp', 'grad_norm', 'fisher', 'jacob_cov', 'naswot',
         'te_nas')
FLOAT64 = ('grasp', 'te_nas')  # their own dtype (Setup.data_dtype 'auto')
FLOAT32 = tuple(n for n in NAMES if n not in FLOAT64)
CELLS = [
    ('nor_conv_3x3', 'skip_connect', 'nor_conv_1x1', 'avg_pool_3x3',
     'nor_conv_3x3', 'none'),
    ('skip_connect', 'none', 'avg_pool_3x3', 'nor_conv_1x1', 'none',
     'skip_connect'),
    ('nor_conv_1x1', 'nor_conv_3x3', 'nor_conv_3x3', 'none', 'nor_conv_1x1',
     'nor_conv_3x3'),
    ('none', 'nor_conv_3x3', 'none', 'avg_pool_3x3', 'none', 'none'),
]


def _alphas():
  a = np.zeros((len(CELLS), 6, 5), np.float32)
  for i, cell in enumerate(CELLS):
    a[i, np.arange(6), [nb201.OPS.index(op) for op in cell]] = 1
  return jnp.asarray(a)


def _batch(n=6):
  x = jax.random.normal(jax.random.key(5), (n, *SETUP.input_shape),
                        jnp.float32)
  return x, jnp.arange(n, dtype=jnp.int32) % SETUP.num_classes


@functools.cache
def _scores(routed: bool, dtype: str, names=NAMES) -> dict[str, np.ndarray]:
  setup = dataclasses.replace(SETUP, routed=routed, data_dtype=dtype)
  fns = [proxies.get(n).make(setup) for n in names]
  x = jax.ShapeDtypeStruct((1, *SETUP.input_shape), jnp.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((6, 5), jnp.float32)}
  variables = torch_init(SETUP.model('train').init, jax.random.key(0), x,
                         alpha)

  def one(a):
    return {k: t for f in fns
            for k, t in f(variables, {'cell': a}, _batch()).items()}

  out = jax.jit(lambda alphas: jax.lax.map(one, alphas))(_alphas())
  return {k: np.asarray(t, np.float64) for k, t in out.items()}


@pytest.mark.parametrize('name', NAMES)
def test_the_cell_network_equals_the_one_hot_supernet(name):
  got, want = _scores(True, 'auto')[name], _scores(False, 'auto')[name]
  np.testing.assert_allclose(got, want, rtol=1e-9 if name in FLOAT64
                             else 1e-5, err_msg=name)
  assert len(set(got.tolist())) == len(CELLS), 'cells must differ'


@pytest.mark.parametrize('name', FLOAT32)
def test_float32_is_within_1e_5_of_float64(name):
  f32 = _scores(True, 'auto')[name]
  f64 = _scores(True, 'float64', FLOAT32)[name]
  assert np.array_equal(np.isfinite(f32), np.isfinite(f64)), name
  ok = np.isfinite(f64)
  np.testing.assert_allclose(f32[ok], f64[ok], rtol=1e-5, err_msg=name)


def test_probe_zeros_cover_every_conv_and_the_classifier():
  setup = SETUP
  x = jnp.zeros((2, *SETUP.input_shape))
  probes = cell_net.probe_zeros(setup, 2, jnp.float32)
  convs = 1 + 3 * 2 + 6 * 3 * setup.cells_per_stage  # stem, blocks, edges
  assert len(jax.tree.leaves(probes)) == convs + 1
  assert all(q.shape[0] == x.shape[0] for q in jax.tree.leaves(probes))


@pytest.mark.parametrize('bn_mode', ['train', 'eval'])
@pytest.mark.parametrize('op', range(len(nb201.OPS)))
def test_the_edge_switch_vjp_equals_autodiff_of_the_switch(op, bn_mode):
  # pylint: disable=protected-access
  # float64 (conftest): the lean VJP reruns the op; only rounding may differ.
  keys = jax.random.split(jax.random.key(op), 8)
  h = jax.random.normal(keys[0], (3, 5, 5, 2), jnp.float64)
  e = {'probe': jax.random.normal(keys[1], (3, 1, 1, 2), jnp.float64)}
  for i, (conv, k) in enumerate((('nor_conv_1x1', 1), ('nor_conv_3x3', 3))):
    e[conv] = {'kernel': jax.random.normal(keys[2 + i], (k, k, 2, 2),
                                           jnp.float64),
               'mean': jax.random.normal(keys[4 + i], (2,), jnp.float64),
               'var': jnp.exp(jax.random.normal(keys[6 + i], (2,),
                                                jnp.float64))}
  g = jnp.cos(jnp.arange(h.size, dtype=jnp.float64)).reshape(h.shape)
  assert h.dtype == jnp.float64
  lean, lean_vjp = jax.vjp(
      lambda h, e: cell_net._switch(bn_mode, jnp.int32(op), h, e), h, e)
  plain, plain_vjp = jax.vjp(
      lambda h, e: cell_net._plain_switch(bn_mode, op, h, e), h, e)
  np.testing.assert_array_equal(lean, plain)
  for got, want in zip(jax.tree.leaves(lean_vjp(g)),
                       jax.tree.leaves(plain_vjp(g))):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
