"""Empirical NTK of the Flax NB201 networks and the bound quantities.

Theta(x, x') = (1/K) sum_k J_k(x) J_k(x')^T, J_k the Jacobian of logit k with
respect to the network parameters theta (not alpha), computed by
`freedarts_jax.ntk.empirical_ntk` (per-sample Jacobians, contracted; tests
check it against neural-tangents' `empirical_ntk_fn`, whose other
implementations fail on current JAX or need more memory on CPU) on the pure
apply function, in float64. BatchNorm must be in eval mode or removed: in
train mode the statistics couple the samples and a per-sample kernel is
ill-defined.

Memory: the contraction holds the Jacobians of both arguments,
n * K * P * 8 bytes each (P parameters); `gram` cuts the inputs into blocks
of `block` samples so that at most two blocks' Jacobians are alive at once.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import errors
from freedarts_jax import ntk as ntk_lib
from freedarts_jax import tree_util

NtkFn = Callable[..., jax.Array]


def make_ntk_fn(model: nn.Module) -> NtkFn:
  """Returns jitted `ntk(variables, alpha, x1, x2) -> (n1, n2)` in float64.

  Args:
    model: a Flax network called as `model.apply(variables, x, alpha)`, with
      `bn_mode` 'eval' or 'none'.

  Returns:
    A function of float32 or float64 variables (cast to float64; only the
    'params' collection is differentiated, the rest is held fixed), alpha
    (a dict of (edges, ops) arrays, or None for a discrete network) and two
    input batches (B, H, W, C); x2 may be None for x2 = x1. The kernel is
    the mean over the K logits (as neural-tangents' `trace_axes`).
  """
  if getattr(model, 'bn_mode', 'none') == 'train':
    raise errors.ConfigError(
        'the NTK needs bn_mode eval or none: train-mode BatchNorm couples '
        'the samples, so a per-sample kernel is ill-defined.')

  @jax.jit
  def ntk(variables, alpha, x1, x2):
    variables = tree_util.cast(variables, jnp.float64)
    rest = {k: v for k, v in variables.items() if k != 'params'}
    alpha = None if alpha is None else tree_util.cast(alpha, jnp.float64)

    def f(params, x):
      return model.apply({'params': params, **rest}, x, alpha)  # (B, K)

    return ntk_lib.empirical_ntk(
        f, variables['params'], x1.astype(jnp.float64),
        None if x2 is None else x2.astype(jnp.float64), per_sample=True)

  return ntk


def gram(ntk: NtkFn, variables, alpha, x: jax.Array,
         block: int) -> np.ndarray:
  """Theta on the n inputs x, computed in blocks of `block` samples.

  Args:
    ntk: from `make_ntk_fn`.
    variables: the network's variables.
    alpha: architecture weights (or None).
    x: (n, H, W, C) inputs; n must be at most `block` or a multiple of it.
    block: samples per block.

  Returns:
    The symmetric (n, n) float64 Gram matrix as numpy.
  """
  n = x.shape[0]
  if n <= block:
    return np.asarray(ntk(variables, alpha, x, None), np.float64)
  if n % block:
    raise errors.ConfigError(
        f'the number of inputs ({n}) must be a multiple of the NTK block '
        f'size ({block}) when it exceeds it.')
  out = np.zeros((n, n), np.float64)
  for i in range(0, n, block):
    for j in range(i, n, block):
      b = np.asarray(ntk(variables, alpha, x[i:i + block], x[j:j + block]))
      out[i:i + block, j:j + block] = b
      out[j:j + block, i:i + block] = b.T
  return out


def gaussian_inputs(key: jax.Array, n: int,
                    shape: tuple[int, ...]) -> jax.Array:
  """n i.i.d. standard normal images (n, H, W, C), float64."""
  return jax.random.normal(key, (n, *shape), jnp.float64)


def centred_one_hot(key: jax.Array, n: int, classes: int) -> np.ndarray:
  """Random labels as centred one-hot rows (n, K): e_y - 1/K.

  The inputs are Gaussian noise, so the labels carry no signal: B then
  measures how well the kernel can fit arbitrary labels (its capacity at
  this n), which is what the bound's y^T Theta^-1 y term does here.
  """
  labels = np.asarray(jax.random.randint(key, (n,), 0, classes))
  y = np.eye(classes, dtype=np.float64)[labels]
  return y - 1.0 / classes


def bound_quantities(theta: np.ndarray, y: np.ndarray,
                     rel_ridge: float) -> dict[str, float]:
  """B, lambda_min, lambda_max and the condition number of Theta.

  B = sqrt(sum_k y_k^T (Theta + r I)^-1 y_k / n), the data-dependent term of
  the NTK generalisation bound (without its factor sqrt(2)), with the ridge
  r = rel_ridge * trace(Theta) / n (relative, so it follows the kernel's
  scale). The eigenvalues are those of Theta itself, without the ridge.

  Args:
    theta: (n, n) symmetric Gram matrix.
    y: (n, K) centred one-hot labels.
    rel_ridge: ridge relative to the mean eigenvalue.
  """
  n = theta.shape[0]
  theta = 0.5 * (theta + theta.T)
  eig = np.linalg.eigvalsh(theta)
  ridge = rel_ridge * np.trace(theta) / n
  w, v = np.linalg.eigh(theta + ridge * np.eye(n))
  proj = v.T @ y  # (n, K)
  b = float(np.sqrt(np.sum(proj ** 2 / w[:, None]) / n))
  lmin, lmax = float(eig[0]), float(eig[-1])
  return {'B': b, 'lambda_min': lmin, 'lambda_max': lmax,
          'cond': lmax / lmin if lmin > 0 else float('inf'),
          'ridge': float(ridge)}
