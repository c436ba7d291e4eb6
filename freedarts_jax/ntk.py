"""The empirical neural tangent kernel, by Jacobian contraction.

    Theta(x, x') = (1/K) sum_k J_k(x) J_k(x')^T,  J_k = d f_k / d params,

K the outputs per sample (the mean over them, as neural-tangents'
`trace_axes` does). TE-NAS's trainability proxy (proxies/jacobian.py) and the
NTK check of ZEROS (theory/ntk.py) both use it; tests/theory/ntk_test.py
checks it against neural-tangents' `empirical_ntk_fn` (its default
implementation, JACOBIAN_CONTRACTION).
"""

from collections.abc import Callable
import math

import jax
import jax.numpy as jnp


def _jacrev_rows(f: Callable, params, x: jax.Array):
  """jax.jacrev(f)(params, x): per leaf (outputs..., leaf...).

  One backward pass per output on CPU (`lax.map`): vmapped, as jacrev does,
  the kernel gradients become grouped convolutions, which XLA CPU runs
  slowly (benchmarks/RESULTS.md, data-dependent proxies); all at once
  elsewhere.
  """
  out, vjp = jax.vjp(lambda p: f(p, x), params)
  basis = jnp.eye(out.size, dtype=out.dtype).reshape((out.size,) + out.shape)
  batch_size = 1 if jax.default_backend() == 'cpu' else out.size
  rows = jax.lax.map(lambda e: vjp(e)[0], basis, batch_size=batch_size)
  return jax.tree.map(lambda r: r.reshape(out.shape + r.shape[1:]), rows)


def empirical_ntk(f: Callable, params, x1: jax.Array,
                  x2: jax.Array | None = None, *,
                  per_sample: bool = False) -> jax.Array:
  """Theta (n1, n2) in float64 of f on two batches.

  Args:
    f: `f(params, x) -> (n, ...)`: outputs of the n samples of x.
    params: the pytree the Jacobian is taken with respect to.
    x1: (n1, ...) inputs.
    x2: (n2, ...) inputs; None: x1 (its Jacobian is computed once).
    per_sample: take each sample's Jacobian alone (`jax.vmap` over the
      samples: cheaper, and right only when samples do not interact, e.g.
      BatchNorm in eval mode or removed; neural-tangents' vmap_axes=0).
      False: the Jacobian of the whole batch's outputs (train-mode BatchNorm
      couples the samples, as TE-NAS scores them).

  Returns:
    float64 (n1, n2). The Jacobians are computed in the dtype of f and cast
    to float64 before the contraction.
  """
  outputs = jax.eval_shape(f, params, x1).shape[1:]

  def jacobian(x):  # per leaf of params: (n, K * leaf size) float64
    if per_sample:
      jac = jax.vmap(lambda xi: jax.jacrev(f)(params, xi[None]))(x)
    else:
      jac = _jacrev_rows(f, params, x)
    n = x.shape[0]
    return [j.reshape(n, -1).astype(jnp.float64)
            for j in jax.tree.leaves(jac)]

  j1 = jacobian(x1)
  j2 = j1 if x2 is None else jacobian(x2)
  theta = sum(jnp.einsum('np,mp->nm', a, b) for a, b in zip(j1, j2))
  return theta / math.prod(outputs)
