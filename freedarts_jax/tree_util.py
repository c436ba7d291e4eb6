"""Pytree utilities that the score, the proxies and the theory share.

Variables are Flax variable trees ({'params': ..., 'batch_stats': ...});
alpha is a dict of (edges, ops) arrays, one per alpha tensor of a space.
"""

from collections.abc import Sequence
import math

import jax
import jax.numpy as jnp
import numpy as np

Alpha = dict[str, jax.Array]  # alpha tensor name -> (edges, ops)


def cast(tree, dtype):
  """Casts every floating leaf of a pytree to dtype; others are kept.

  Args:
    tree: a pytree of arrays (variables, alpha).
    dtype: the target floating dtype.

  Returns:
    The same structure.
  """
  return jax.tree.map(
      lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating)
      else a, tree)


def linearise(variables):
  """|theta|: every parameter and BatchNorm statistic by its absolute value.

  ZEROS (Zhang, Huang & Wang 2021) and synflow (Tanaka et al. 2020) score
  the network linearised this way.
  """
  return jax.tree.map(jnp.abs, variables)


def count_params(tree) -> int:
  """Number of entries of every leaf (arrays or jax.ShapeDtypeStruct).

  Pass variables['params'] to count a network's parameters (not its
  BatchNorm statistics); `jax.eval_shape` of an init gives the shapes
  without drawing anything.
  """
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def one_hot(edge_ops: Sequence[str | Sequence[str]],
            ops: Sequence[str]) -> np.ndarray:
  """The alpha of a genotype: 1 for each op an edge keeps, 0 elsewhere.

  Args:
    edge_ops: per edge, the op it keeps (a name) or the ops it keeps (a
      sequence of names, possibly empty: DARTS edges keep 0, 1 or 2).
    ops: the space's op names in alpha's column order.

  Returns:
    float64 (edges, ops) of 0 and 1.
  """
  out = np.zeros((len(edge_ops), len(ops)))
  for e, kept in enumerate(edge_ops):
    kept = (kept,) if isinstance(kept, str) else kept
    out[e, [ops.index(op) for op in kept]] = 1
  return out


def is_kernel(path) -> bool:
  """Conv and linear kernels: the 'layers' that the published proxies sum.

  Args:
    path: a key path from `jax.tree_util.tree_flatten_with_path`.
  """
  return getattr(path[-1], 'key', None) == 'kernel'


def kernels_only(tree):
  """The tree with every leaf that is not a kernel set to zero.

  As a tangent or a mask it restricts a derivative to the conv and linear
  kernels (synflow's jvp, GraSP's Hessian-vector product).
  """
  return jax.tree_util.tree_map_with_path(
      lambda p, t: t if is_kernel(p) else jnp.zeros_like(t), tree)


def kernel_leaves(tree) -> list[jax.Array]:
  """The kernel leaves of a tree, in flattening order."""
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return [leaf for path, leaf in flat if is_kernel(path)]
