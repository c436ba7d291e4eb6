"""The NTKs against closed forms, jax.jacrev and neural-tangents.

A Jacobian from jax.jacrev and neural-tangents' empirical_ntk_fn.
"""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import ntk as shared_ntk
from freedarts_jax import tree_util
from freedarts_jax import zeros
from freedarts_jax.spaces import nb201
from theory import experiments
from theory import nt_compat
from theory import ntk as ntk_lib

SHAPE = (4, 4, 3)


def _relu_ntk_closed_form(x: np.ndarray) -> np.ndarray:
  """Infinite-width NTK of Dense(W_std=1) -> ReLU -> Dense(W_std=1)."""
  d = x.shape[1]
  dot = x @ x.T / d
  norm = np.sqrt(np.diag(dot))
  cos = np.clip(dot / np.outer(norm, norm), -1.0, 1.0)
  theta = np.arccos(cos)
  nngp = np.outer(norm, norm) / (2 * np.pi) * (
      np.sin(theta) + (np.pi - theta) * cos)
  return nngp + dot * (np.pi - theta) / (2 * np.pi)


def test_stax_two_layer_ntk_matches_closed_form():
  stax = nt_compat.load().stax
  x = np.random.default_rng(0).normal(size=(6, 5))
  _, _, kernel_fn = stax.serial(stax.Dense(512), stax.Relu(), stax.Dense(1))
  got = np.asarray(kernel_fn(jnp.asarray(x, jnp.float64), None, 'ntk'))
  # arccos near cos = 1 (the diagonal) costs nt ~1e-9 of relative accuracy
  np.testing.assert_allclose(got, _relu_ntk_closed_form(x), rtol=1e-8)


def test_empirical_two_layer_ntk_matches_closed_form():
  """f(x) = v . relu(W x): Theta = h.h' + sum_j v_j^2 1[.]1[.] x.x'."""
  nt = nt_compat.load()
  rng = np.random.default_rng(1)
  w = jnp.asarray(rng.normal(size=(7, 5)), jnp.float64)
  v = jnp.asarray(rng.normal(size=(7,)), jnp.float64)
  x = jnp.asarray(rng.normal(size=(6, 5)), jnp.float64)
  f = lambda p, x: (jax.nn.relu(x @ p['w'].T) @ p['v'])[:, None]  # (n, 1)
  got = np.asarray(nt.empirical_ntk_fn(f, trace_axes=(-1,))(
      x, None, {'w': w, 'v': v}))
  h = np.maximum(np.asarray(x @ w.T), 0)
  on = (h > 0).astype(np.float64)
  xx = np.asarray(x @ x.T)
  want = h @ h.T + (on * np.asarray(v) ** 2) @ on.T * xx
  np.testing.assert_allclose(got, want, rtol=1e-12)


def _supernet(bn_mode):
  model = nb201.Network(10, 4, 1, bn_mode)
  init = zeros.make_init_fn(model, SHAPE, nb201.alpha_shapes(), 'normal', 1.0)
  variables, alpha = init(jax.random.key(0))
  x = ntk_lib.gaussian_inputs(jax.random.key(1), 4, SHAPE)
  return model, variables, alpha, x


def test_supernet_ntk_equals_jacrev_jjt():
  # BatchNorm removed here, eval below and in the full config: both modes
  # are checked against a reference, each compile costing ~30 s on 2 cores.
  model, variables, alpha, x = _supernet('none')
  theta = ntk_lib.gram(ntk_lib.make_ntk_fn(model), variables, alpha, x,
                       block=2)
  v64 = tree_util.cast(variables, jnp.float64)
  a64 = tree_util.cast(alpha, jnp.float64)
  flat, unravel = jax.flatten_util.ravel_pytree(v64['params'])
  rest = {k: v for k, v in v64.items() if k != 'params'}
  f = lambda p: model.apply({'params': unravel(p), **rest}, x, a64)  # (n, K)
  jac = np.asarray(jax.jit(jax.jacrev(f))(flat))  # (n, K, P)
  # neural-tangents' trace_axes average over the K logits
  want = np.einsum('ikp,jkp->ij', jac, jac) / model.num_classes
  np.testing.assert_allclose(theta, want, rtol=1e-10)
  assert np.allclose(theta, theta.T, rtol=1e-12)


@pytest.mark.parametrize('bn_mode, per_sample', [('none', True),
                                                  ('train', False)])
def test_shared_ntk_equals_neural_tangents(bn_mode, per_sample):
  """freedarts_jax.ntk against nt.

  Theory's per-sample kernel, and TE-NAS's whole-batch one, whose
  train-mode BatchNorm couples the samples.
  """
  nt = nt_compat.load()
  model, variables, alpha, x = _supernet(bn_mode)
  v64 = tree_util.cast(variables, jnp.float64)
  a64 = tree_util.cast(alpha, jnp.float64)
  rest = {k: v for k, v in v64.items() if k != 'params'}
  f = lambda p, x: model.apply({'params': p, **rest}, x, a64)  # (n, K)
  x1, x2 = x[:3], x[1:]
  got = jax.jit(functools.partial(shared_ntk.empirical_ntk, f,
                                  per_sample=per_sample))(v64['params'], x1,
                                                          x2)
  want = nt.empirical_ntk_fn(f, trace_axes=(-1,),
                             vmap_axes=0 if per_sample else None)(
                                 x1, x2, v64['params'])
  assert got.shape == (3, 3) and got.dtype == jnp.float64
  np.testing.assert_allclose(got, want, rtol=1e-12)


def test_one_hot_supernet_ntk_equals_discrete_network_ntk():
  model, variables, _, x = _supernet('eval')
  genotype = ('nor_conv_3x3', 'skip_connect', 'none', 'avg_pool_3x3',
              'nor_conv_1x1', 'nor_conv_3x3')
  discrete = nb201.Network(10, 4, 1, 'eval', genotype)
  shapes = jax.eval_shape(discrete.init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, *SHAPE), jnp.float32))
  flat = flax.traverse_util.flatten_dict(variables)
  subset = flax.traverse_util.unflatten_dict(
      {k: flat[k] for k in flax.traverse_util.flatten_dict(shapes)})
  one_hot = {'cell': jnp.asarray(experiments._one_hot(genotype))}
  theta_super = ntk_lib.gram(ntk_lib.make_ntk_fn(model), variables, one_hot,
                             x, block=4)
  theta_discrete = ntk_lib.gram(ntk_lib.make_ntk_fn(discrete), subset, None,
                                x, block=4)
  np.testing.assert_allclose(theta_super, theta_discrete, rtol=1e-10)


def test_bound_quantities_on_a_diagonal_kernel():
  theta = np.diag([1.0, 2.0, 4.0, 8.0])
  y = np.eye(2)[[0, 1, 0, 1]] - 0.5
  q = ntk_lib.bound_quantities(theta, y, rel_ridge=0.0)
  want = np.sqrt(np.sum(0.5 * (1 / 1 + 1 / 2 + 1 / 4 + 1 / 8)) / 4)
  assert q['B'] == pytest.approx(want, rel=1e-12)
  assert q['lambda_min'] == 1.0 and q['cond'] == 8.0


def test_train_mode_is_refused():
  with pytest.raises(Exception, match='couples'):
    ntk_lib.make_ntk_fn(nb201.Network(10, 4, 1, 'train'))
