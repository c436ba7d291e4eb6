"""routed.py: only each cell's ops, the same scores as the one-hot supernet."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import proxies
from freedarts_jax.init import torch_init
from freedarts_jax.proxies import routed

SETUP = proxies.Setup(dataset='imagenet16', channels=4, cells_per_stage=1)

def _alphas(n, seed=0):
  ops = np.random.default_rng(seed).integers(0, 5, (n, 6))
  a = np.zeros((n, 6, 5), np.float32)
  a[np.arange(n)[:, None], np.arange(6)[None], ops] = 1
  a[-1] = 0  # a padding row (no cell)
  return a, ops


@pytest.mark.parametrize('name, bn_mode, dtype', [
    ('synflow', 'none', 'float64'), ('synflow', 'none', 'float32'),
    ('zeros', 'train', 'float64')])
def test_routed_equals_the_vmapped_supernet(name, bn_mode, dtype):
  setup = dataclasses.replace(SETUP, synflow_dtype=dtype, zeros_dtype=dtype)
  a, ops = _alphas(7)
  real = ops[:-1]
  cap = max(int((real == o).sum(axis=0).max()) for o in routed.GATHERED)
  assert cap < len(real)  # some rows are really left out of some blocks
  x = jax.ShapeDtypeStruct((1, *setup.input_shape), jnp.float32)
  v = torch_init(setup.model(bn_mode).init, jax.random.key(3), x,
                 {'cell': jnp.asarray(a[0])})
  vmapped = jax.jit(jax.vmap(proxies.get(name).make(setup),
                             in_axes=(None, 0, None)))(v, {'cell': a}, None)
  got = jax.jit(routed.BATCHED[name](setup, cap=cap))(v, jnp.asarray(a), None)
  for col, want in vmapped.items():
    assert got[col].dtype == jnp.float64
    np.testing.assert_allclose(got[col][:-1], want[:-1],
                               rtol=1e-6 if dtype == 'float32' else 1e-11)
  if name == 'synflow':  # the padding row has no path through the cells
    assert got['synflow'][-1] == vmapped['synflow'][-1]


def test_plan_groups_respects_the_capacity_and_keeps_every_cell():
  _, ops = _alphas(500, seed=1)
  cap = routed.capacity(40)
  groups = routed.plan_groups(ops, 40, cap)
  rows = np.concatenate([g[g >= 0] for g in groups])
  assert sorted(rows) == list(range(500))
  for g in groups:
    assert len(g) == 40
    real = ops[g[g >= 0]]
    for o in routed.GATHERED:
      assert (real == o).sum(axis=0).max() <= cap
  assert len(groups) <= 500 // 40 + 2  # packing wastes little
