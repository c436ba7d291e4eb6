"""The DARTS candidate ops, applied together for every edge that reads a node.

Design: docs/design.md section 4.2. Each op's variables are declared
by a small module named after its edge and op (`edge3_1_sep_conv_5x5`), so the
supernet and a discrete network share names. The ops are applied per input
node and per op kind, fused over the edges that read that node: the n
depthwise convs become one depthwise conv over the input tiled n times, the n
pointwise convs one batched matmul, and BatchNorm (per channel) runs once over
the concatenation. Pools are computed once per node; each edge keeps its own
BatchNorm statistics.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from freedarts_jax import layers

# op -> (kernel, dilation, number of (ReLU, depthwise, 1x1, BN) stages)
CONV_OPS = {
    'sep_conv_3x3': (3, 1, 2),
    'sep_conv_5x5': (5, 1, 2),
    'dil_conv_3x3': (3, 2, 1),
    'dil_conv_5x5': (5, 2, 1),
}
POOLS = {'max_pool_3x3': layers.max_pool, 'avg_pool_3x3': layers.avg_pool}


class _Kernel(nn.Module):
  """One conv kernel, HWIO (its values come from init.torch_init)."""

  shape: tuple[int, ...]

  @nn.compact
  def __call__(self) -> jax.Array:
    return self.param('kernel', nn.initializers.lecun_normal(), self.shape,
                      jnp.float32)


class _BNVars(nn.Module):
  """The statistics (and affine parameters) of one BatchNorm."""

  channels: int
  bn_mode: str
  affine: bool

  @nn.compact
  def __call__(self) -> tuple:
    if self.bn_mode == 'none':
      return None, None, None, None
    mean, var = layers.bn_stats(self, self.channels, self.bn_mode)
    scale = bias = None
    if self.affine:
      scale = self.param('scale', nn.initializers.ones, (self.channels,),
                         jnp.float32)
      bias = self.param('bias', nn.initializers.zeros, (self.channels,),
                        jnp.float32)
    return mean, var, scale, bias

  def update(self, y: jax.Array) -> None:
    """Running statistics from this BatchNorm's input (training only)."""
    layers.update_running_stats(self, y, self.bn_mode)


def _bn_module(channels: int, bn_mode: str, affine: bool,
               name: str) -> _BNVars:
  """A _BNVars with its variables declared (called once)."""
  bn = _BNVars(channels, bn_mode, affine, name=name)
  bn()
  return bn


class ConvOpVars(nn.Module):
  """The variables of one sep_conv or dil_conv op, stage by stage.

  Stage s has `dw{s}` (depthwise k x k, one input channel per group),
  `pw{s}` (1x1) and `bn{s}`; returned per stage as (dw, pw, the _BNVars).
  """

  op: str
  channels: int
  bn_mode: str
  affine: bool

  @nn.compact
  def __call__(self) -> list[tuple]:
    """Per stage (dw (k, k, 1, C), pw (1, 1, C, C) float32, its _BNVars)."""
    k, _, stages = CONV_OPS[self.op]
    c = self.channels
    return [(_Kernel((k, k, 1, c), name=f'dw{s}')(),
             _Kernel((1, 1, c, c), name=f'pw{s}')(),
             _bn_module(c, self.bn_mode, self.affine, f'bn{s}'))
            for s in range(1, stages + 1)]


def _cat(parts):
  return None if parts[0] is None else jnp.concatenate(parts, axis=-1)


def _bn(y: jax.Array, bn_mode: str, bns) -> jax.Array:
  """BatchNorm of the concatenation, with the ops' statistics concatenated.

  bns: the ops' _BNVars modules, in the order of y's channel blocks; in a
  training step each one's running statistics follow its own block.
  """
  mean, var, scale, bias = (_cat(p) for p in zip(*(bn() for bn in bns)))
  c = y.shape[-1] // len(bns)
  for i, bn in enumerate(bns):
    bn.update(y[..., i * c:(i + 1) * c])
  return layers.batch_norm(
      y, bn_mode, mean, var, scale, bias,
      reverse_only=layers.updates_running_stats(bns[0], bn_mode))


def _fused_stage(x: jax.Array, n: int, stage, stride: int, dilation: int,
                 bn_mode: str, depthwise: str) -> jax.Array:
  """ReLU, depthwise, 1x1, BN for n ops at once; x is (B, H, W, n * C)."""
  dws, pws, bns = zip(*stage)
  dw = jnp.concatenate(dws, axis=-1)  # (k, k, 1, n * C)
  y = layers.depthwise_conv(nn.relu(x), dw, stride, dilation, depthwise)
  y = pointwise(y, [p[0, 0].astype(x.dtype) for p in pws],
                block_diagonal=layers.cpu_training_step(bns[0], bn_mode))
  return _bn(y, bn_mode, bns)


def pointwise(y: jax.Array, kernels, block_diagonal: bool) -> jax.Array:
  """The 1x1 convs of n ops at once; y holds their inputs side by side.

  A batched matmul over the ops ('bhwnc,ncd->bhwnd'), or, with
  `block_diagonal`, one matmul with the (n * C, n * C) block-diagonal
  weight (`layers.matmul_nhwc`): n times the multiplications, but XLA CPU
  lays the batched form's output out op-major and transposes it for every
  consumer, in the forward and the backward pass; the block-diagonal form
  needs none (the DARTS-V2 training step on CPU, C=36, 20 cells, batch 16:
  2.04 -> 1.51 s a step; benchmarks/RESULTS.md, issue 16). The training
  step on CPU takes it; the search and the proxies keep the batched form,
  whose values they were checked with (the off-diagonal zeros would turn
  an inf into a NaN). Equal up to the order of the additions
  (tests/spaces/darts_test.py).

  Args:
    y: (B, H, W, n * C).
    kernels: n (C, C) matrices, y's dtype, in the order of y's blocks.
    block_diagonal: which form.

  Returns:
    (B, H, W, n * C), y's dtype.
  """
  if block_diagonal:
    return layers.matmul_nhwc(y, jax.scipy.linalg.block_diag(*kernels))
  b, h, w, nc = y.shape
  n = len(kernels)
  y = jnp.einsum('bhwnc,ncd->bhwnd', y.reshape(b, h, w, n, nc // n),
                 jnp.stack(kernels))
  return y.reshape(b, h, w, nc)


def ops_from(x: jax.Array, wanted, stride: int, bn_mode: str,
             affine: bool, depthwise: str = 'auto') -> dict:
  """Outputs of the ops on the edges that read one node.

  Must be called from a compact `__call__` (the cell's): the ops' variables
  are declared as submodules of that module.

  Args:
    x: the node, (B, H, W, C).
    wanted: ((edge name, op), ...) to compute; 'none' is skipped (zeros).
    stride: 2 on the edges from the inputs of a reduction cell, else 1.
    bn_mode: 'train' | 'eval' | 'none'.
    affine: whether the conv ops' BatchNorms have a scale and bias (pools'
      never do).
    depthwise: how depthwise convs are computed (layers.depthwise_conv).

  Returns:
    (edge name, op) -> (B, H / stride, W / stride, C).
  """
  c = x.shape[-1]
  outs, groups = {}, {}
  for edge, op in wanted:
    if op != 'none':
      groups.setdefault(op, []).append(edge)
  for op, edges in groups.items():
    n = len(edges)
    if op in CONV_OPS:
      _, dilation, _ = CONV_OPS[op]
      stages = [ConvOpVars(op, c, bn_mode, affine, name=f'{e}_{op}')()
                for e in edges]
      y = jnp.concatenate([x] * n, axis=-1)  # (B, H, W, n * C)
      for s, stage in enumerate(zip(*stages)):
        y = _fused_stage(y, n, stage, stride if s == 0 else 1,
                         dilation if s == 0 else 1, bn_mode, depthwise)
    elif op in POOLS:
      pooled = POOLS[op](x, 3, stride)
      bns = [_bn_module(c, bn_mode, False, f'{e}_{op}') for e in edges]
      y = _bn(jnp.concatenate([pooled] * n, axis=-1), bn_mode, bns)
    elif op == 'skip_connect' and stride == 1:
      y = jnp.concatenate([x] * n, axis=-1)
    elif op == 'skip_connect':
      y = jnp.concatenate(
          [layers.FactorizedReduce(c, bn_mode, affine, name=f'{e}_{op}')(x)
           for e in edges], axis=-1)
    else:
      raise ValueError(f'unknown DARTS op {op!r}')
    for i, e in enumerate(edges):
      outs[e, op] = y[..., i * c:(i + 1) * c]
  return outs
