"""The infinite-width view: a BatchNorm-free NB201-style network in nt.stax.

Mirrors `nb201.Network(bn_mode='none')` with one cell per stage: stem conv,
cell, [ResBlock (stride 2), cell] x 2, ReLU, global average pool, Dense. In
the cell, edge e computes sum_o alpha[e, o] op_o(x) with op_o one of skip
(identity), nor_conv_kxk (ReLU, conv k x k) and avg_pool_3x3 (average over
the window); 'none' and masked ops are left out. alpha
scales a branch through a constant `DotGeneral` (a scalar product), so the
branch kernels scale by alpha^2.

Approximation, stated: `stax.FanInSum` adds the kernels of its branches, i.e.
it treats the branches as independent. That is exact for branches that end
in a freshly initialised convolution (zero-mean weights make the cross
covariance vanish at infinite width) and is the assumption behind the
split Theta = Theta_rest + sum_o alpha_o^2 Theta_o; it drops the cross terms
between parameter-free paths (skip and pooling of the same node). Because of
it, the cell's DAG can be unrolled into a tree (a node used twice is
recomputed in each branch) without changing the kernel.

Padding: `stax` uses 'SAME' padding, which for the stride-2 convolution pads
(0, 1) where PyTorch pads (1, 1); the 3x3 average pool counts the zero
padding at the border (PyTorch's NB201 excludes it): stax's
`normalize_edges=True` builds a constant that XLA spends minutes
constant-folding under jit. The kernels are otherwise the same family.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax.spaces import nb201
from theory import nt_compat

_RELU_W_STD = math.sqrt(2.0)  # He scaling: keeps the variance after ReLU


def _op(stax, op: str, a: float, channels: int):
  """The layer alpha * op(x) of one candidate op."""
  scale = stax.DotGeneral(rhs=a)
  if op == 'skip_connect':
    return scale
  if op == 'avg_pool_3x3':
    return stax.serial(
        stax.AvgPool((3, 3), (1, 1), 'SAME'), scale)
  k = int(op[-1])
  return stax.serial(stax.Relu(), stax.Conv(
      channels, (k, k), padding='SAME', W_std=_RELU_W_STD), scale)


def _sum(stax, branches: list):
  if len(branches) == 1:
    return branches[0]
  return stax.serial(stax.FanOut(len(branches)), stax.parallel(*branches),
                     stax.FanInSum())


def _node(stax, i: int, alpha: np.ndarray, channels: int):
  """The layer node_0 -> node_i of the cell.

  Every op other than 'none' is present; a masked op has alpha = 0, which
  removes its kernel exactly, so one compiled kernel serves every mask.
  """
  if i == 0:
    return stax.Identity()
  branches = []
  for e, (to, frm) in enumerate(nb201.EDGES):
    if to != i:
      continue
    ops = [_op(stax, op, alpha[e, o], channels)
           for o, op in enumerate(nb201.OPS) if op != 'none']
    branches.append(stax.serial(_node(stax, frm, alpha, channels),
                                _sum(stax, ops)))
  return _sum(stax, branches)


def network(alpha: np.ndarray, channels: int, num_classes: int):
  """(init_fn, apply_fn, kernel_fn) of the NB201-style network.

  Args:
    alpha: (6, 5) architecture weights (may be traced); 0 removes an op.
    channels: C of the first stage (irrelevant to the infinite-width kernel,
      used by init_fn / apply_fn).
    num_classes: outputs of the final Dense layer.
  """
  stax = nt_compat.load().stax
  cell = lambda c: _node(stax, nb201.NUM_NODES - 1, alpha, c)
  layers = [stax.Conv(channels, (3, 3), padding='SAME'), cell(channels)]
  c = channels
  for _ in range(2):
    c *= 2
    residual = stax.serial(
        stax.Relu(), stax.Conv(c, (3, 3), (2, 2), 'SAME', W_std=_RELU_W_STD),
        stax.Relu(), stax.Conv(c, (3, 3), padding='SAME', W_std=_RELU_W_STD))
    shortcut = stax.serial(stax.AvgPool((2, 2), (2, 2)),
                           stax.Conv(c, (1, 1)))
    layers += [_sum(stax, [residual, shortcut]), cell(c)]
  layers += [stax.Relu(), stax.GlobalAvgPool(),
             stax.Dense(num_classes, W_std=_RELU_W_STD)]
  return stax.serial(*layers)


@functools.partial(jax.jit, static_argnames='num_classes')
def _ntk(alpha: jax.Array, x: jax.Array, num_classes: int) -> jax.Array:
  _, _, kernel_fn = network(alpha, 16, num_classes)
  return kernel_fn(x, None, 'ntk')


def ntk(alpha: np.ndarray, x: np.ndarray, num_classes: int) -> np.ndarray:
  """The analytic infinite-width NTK (n, n) on inputs x (n, H, W, C).

  Jitted with alpha as an argument: one compilation per input shape serves
  every alpha and mask (eagerly, the kernel runs op by op, ~10x slower).
  """
  return np.asarray(_ntk(jnp.asarray(alpha, jnp.float64),
                         jnp.asarray(x, jnp.float64), num_classes),
                    np.float64)
