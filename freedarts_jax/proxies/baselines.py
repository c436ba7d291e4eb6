"""The two baselines every proxy must beat: parameter count and FLOPs.

Both are closed forms of the cell, written as functions of its one-hot alpha
so that they vmap like the other proxies. Only the conv ops differ between
cells: a k x k conv on a stage with C_s channels at H_s x H_s has
k^2 C_s^2 weights (plus 2 C_s of BatchNorm affine in NB201's evaluation
network) and k^2 C_s^2 H_s^2 multiply-adds.
"""

import jax
import jax.numpy as jnp

from freedarts_jax import tree_util
from freedarts_jax.proxies import Proxy
from freedarts_jax.proxies import Setup
from freedarts_jax.spaces import nb201

_KERNELS = {'nor_conv_1x1': 1, 'nor_conv_3x3': 3}


def _stages(setup: Setup):
  """(C_s, H_s) of the three stages."""
  c, h = setup.channels, setup.input_shape[0]
  return [(c * 2**s, h // 2**s) for s in range(3)]


def _per_cell(setup: Setup, alpha_cell, per_conv) -> jax.Array:
  """sum over stages, cells and chosen conv ops of per_conv(k, C_s, H_s)."""
  total = jnp.zeros((), jnp.float64)
  for op, k in _KERNELS.items():
    count = jnp.sum(alpha_cell[:, nb201.OPS.index(op)].astype(jnp.float64))
    weight = sum(per_conv(k, c, h) for c, h in _stages(setup))
    total = total + setup.cells_per_stage * weight * count
  return total


def fixed_params(setup: Setup) -> int:
  """Parameters outside the cells: stem, reduction blocks, classifier."""
  model = nb201.Network(setup.num_classes, setup.channels,
                        setup.cells_per_stage, 'train',
                        genotype=('none',) * len(nb201.EDGES))
  x = jax.ShapeDtypeStruct((1, *setup.input_shape), jnp.float32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  return tree_util.count_params(shapes['params'])


def fixed_flops(setup: Setup) -> int:
  """Multiply-adds outside the cells (convs and the classifier)."""
  (c0, h0), *rest = _stages(setup)
  total = h0 * h0 * 9 * 3 * c0  # stem
  prev = c0
  for c, h in rest:  # conv_a (stride 2), conv_b, 1x1 downsample
    total += h * h * (9 * prev * c + 9 * c * c + prev * c)
    prev = c
  return total + prev * setup.num_classes


def make_params(setup: Setup):
  """Parameter count of the cell's NB201 network.

  BatchNorm affine in the cells included, as in NB201's evaluation network.
  """
  base = fixed_params(setup)

  def score(variables, alpha, batch):
    del variables, batch
    per = _per_cell(setup, alpha['cell'], lambda k, c, h: k * k * c * c + 2 * c)
    return {'params': base + per}

  return score


def make_flops(setup: Setup):
  """Multiply-adds of the cell's network on one image.

  Conv and linear layers; pooling, BatchNorm and additions not counted.
  """
  base = fixed_flops(setup)

  def score(variables, alpha, batch):
    del variables, batch
    per = _per_cell(setup, alpha['cell'], lambda k, c, h: k * k * c * c * h * h)
    return {'flops': base + per}

  return score


PROXIES = (
    Proxy('params', ('params',), needs_data=False, weight_grads=False,
          bn_mode=lambda s: None, make=make_params,
          reference='baseline (Abdelfattah et al. 2021, table 1)'),
    Proxy('flops', ('flops',), needs_data=False, weight_grads=False,
          bn_mode=lambda s: None, make=make_flops,
          reference='baseline (Abdelfattah et al. 2021, table 1)'),
)
