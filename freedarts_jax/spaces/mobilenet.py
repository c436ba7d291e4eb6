"""The MobileNet (ProxylessNAS) space: 21 searchable MBConv blocks.

Design: docs/design.md section 4.3. First conv 3x3 stride 2
(3 -> 32) + BN + ReLU6, a fixed MBConv1 3x3 block (32 -> 16), then 21 mixed
blocks in six stages (widths 32, 56, 112, 128, 256, 432; 4, 4, 4, 4, 4, 1
blocks; the first block of a stage has the stage's stride 2, 2, 2, 1, 2, 1),
feature mix 1x1 -> 1728 + BN + ReLU6, global average pool, Linear(1728 ->
classes). BatchNorm eps 1e-3. A mixed block computes sum_o alpha[b, o] *
MBConv_o(x), plus x where the block keeps its shape (stride 1, same width),
as ProxylessNAS's residual blocks do. There is no 'none' candidate
(ProxylessNAS's 'zero' op is excluded), so every column of alpha is a real
op. `width_mult` scales every width (tests use a narrow, low-resolution
network). With a genotype (one op per block) the same module is the
discrete network, under the same parameter names.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax import tree_util
from freedarts_jax.spaces import space

KERNELS = (3, 5, 7)
EXPANSIONS = (3, 6)
OPS = tuple(f'mbconv{k}x{k}_e{e}' for k in KERNELS for e in EXPANSIONS)
WIDTHS = (32, 56, 112, 128, 256, 432)
DEPTHS = (4, 4, 4, 4, 4, 1)
STRIDES = (2, 2, 2, 1, 2, 1)
STEM, FIRST_BLOCK, FEATURE_MIX = 32, 16, 1728
NUM_BLOCKS = sum(DEPTHS)  # 21
BN_EPS = 1e-3
DATASETS = {'imagenet': (224, 1000)}

Genotype = tuple[str, ...]  # one op name per block


def width(c: int, width_mult: float) -> int:
  """A width times width_mult, rounded, at least 1 (exact for 1.0)."""
  return max(1, int(round(c * width_mult)))


def plan(width_mult: float = 1.0) -> list[tuple[int, int, int, bool]]:
  """(in channels, out channels, stride, residual) of the 21 blocks."""
  blocks, c_in = [], width(FIRST_BLOCK, width_mult)
  for c, depth, stride in zip(WIDTHS, DEPTHS, STRIDES):
    c_out = width(c, width_mult)
    for i in range(depth):
      s = stride if i == 0 else 1
      blocks.append((c_in, c_out, s, s == 1 and c_in == c_out))
      c_in = c_out
  return blocks


def _kernel_expansion(op: str) -> tuple[int, int]:
  k, e = op[len('mbconv'):].split('_e')
  return int(k.split('x')[0]), int(e)


class _Depthwise(nn.Module):
  """Depthwise k x k conv; kernel (k, k, 1, C)."""

  kernel: int
  stride: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C)
    w = self.param('kernel', nn.initializers.lecun_normal(),
                   (self.kernel, self.kernel, 1, x.shape[-1]), jnp.float32)
    # The convolution primitive ('conv'): the sliced CPU form made the
    # 126-candidate supernet take over 15 minutes to compile on 2 loaded
    # cores.
    return layers.depthwise_conv(x, w, self.stride, impl='conv')


def _bn(mode: str, name: str) -> layers.BatchNorm:
  return layers.BatchNorm(mode, affine=True, eps=BN_EPS, name=name)


class MBConv(nn.Module):
  """Expand 1x1 (skipped for expansion 1) - depthwise kxk - project 1x1.

  BN after each conv; ReLU6 after the first two; none after the projection.
  """

  features: int
  kernel: int
  expansion: int
  stride: int
  bn_mode: str

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C)
    """(B, H, W, C) -> (B, H / stride, W / stride, features)."""
    h = x
    if self.expansion != 1:
      h = layers.Conv(x.shape[-1] * self.expansion, 1, name='expand')(h)
      h = jax.nn.relu6(_bn(self.bn_mode, 'expand_bn')(h))
    h = _Depthwise(self.kernel, self.stride, name='depthwise')(h)
    h = jax.nn.relu6(_bn(self.bn_mode, 'depthwise_bn')(h))
    h = layers.Conv(self.features, 1, name='project')(h)
    return _bn(self.bn_mode, 'project_bn')(h)  # (B, H/s, W/s, features)


class Network(nn.Module):
  """The supernet (genotype None) or the discrete network of a genotype.

  Attributes:
    num_classes: classifier outputs.
    width_mult: multiplies every width (1.0: the ProxylessNAS space).
    bn_mode: 'train', 'eval' or 'none'.
    genotype: one op per block, or None for every candidate mixed by alpha.
  """

  num_classes: int
  width_mult: float = 1.0
  bn_mode: str = 'train'
  genotype: Sequence[str] | None = None

  @nn.compact
  def __call__(self, x: jax.Array, alpha: dict | None = None) -> jax.Array:
    """x (B, H, W, 3), alpha {'blocks': (21, 6)} -> logits (B, classes)."""
    w = lambda c: width(c, self.width_mult)
    h = layers.Conv(w(STEM), 3, stride=2, name='stem')(x)
    h = jax.nn.relu6(_bn(self.bn_mode, 'stem_bn')(h))
    h = MBConv(w(FIRST_BLOCK), 3, 1, 1, self.bn_mode, name='first_block')(h)
    for b, (_, c_out, stride, residual) in enumerate(plan(self.width_mult)):
      if self.genotype is None:
        out = None
        for o, op in enumerate(OPS):
          k, e = _kernel_expansion(op)
          y = MBConv(c_out, k, e, stride, self.bn_mode,
                     name=f'block{b}_{op}')(h)
          term = alpha['blocks'][b, o].astype(y.dtype) * y
          out = term if out is None else out + term
      else:
        op = self.genotype[b]
        k, e = _kernel_expansion(op)
        out = MBConv(c_out, k, e, stride, self.bn_mode,
                     name=f'block{b}_{op}')(h)
      h = out + h if residual else out
    h = layers.Conv(w(FEATURE_MIX), 1, name='feature_mix')(h)
    h = jax.nn.relu6(_bn(self.bn_mode, 'feature_mix_bn')(h))
    h = layers.global_avg_pool(h)  # (B, C)
    return layers.Dense(self.num_classes, name='classifier')(h)


def _conv_cost(c_in: int, c_out: int, k: int, hw_out: int,
               groups: int = 1) -> tuple[int, int]:
  """(parameters, multiply-adds) of a bias-free conv and its BatchNorm."""
  weights = k * k * (c_in // groups) * c_out
  return weights + 2 * c_out, weights * hw_out * hw_out


def _mbconv_cost(c_in: int, c_out: int, k: int, e: int, stride: int,
                 hw: int) -> tuple[int, int, int]:
  """(parameters, multiply-adds, output size) of one MBConv block."""
  mid, hw_out = c_in * e, -(-hw // stride)
  parts = [_conv_cost(mid, mid, k, hw_out, groups=mid),
           _conv_cost(mid, c_out, 1, hw_out)]
  if e != 1:
    parts.append(_conv_cost(c_in, mid, 1, hw))
  return (sum(p for p, _ in parts), sum(f for _, f in parts), hw_out)


def _costs(num_classes: int, image_size: int, width_mult: float
           ) -> tuple[tuple[int, int], list[list[tuple[int, int]]]]:
  """(parameters, multiply-adds) of the fixed layers, and of every candidate.

  Returns ((params, flops) of the stem, first block, feature mix and
  classifier; [block][op] -> (params, flops) of that candidate in that
  block). A block's output size does not depend on its candidate.
  """
  w = lambda c: width(c, width_mult)
  hw = -(-image_size // 2)
  params, flops = _conv_cost(3, w(STEM), 3, hw)
  p, f, hw = _mbconv_cost(w(STEM), w(FIRST_BLOCK), 3, 1, 1, hw)
  params, flops = params + p, flops + f
  blocks = []
  for c_in, c_out, stride, _ in plan(width_mult):
    row = [_mbconv_cost(c_in, c_out, *_kernel_expansion(op), stride, hw)
           for op in OPS]
    blocks.append([(p, f) for p, f, _ in row])
    hw = row[0][2]
  p, f = _conv_cost(w(WIDTHS[-1]), w(FEATURE_MIX), 1, hw)
  classifier = w(FEATURE_MIX) * num_classes
  return (params + p + classifier + num_classes,
          flops + f + classifier), blocks


def cost(genotype: Genotype, num_classes: int = 1000, image_size: int = 224,
         width_mult: float = 1.0) -> tuple[int, int]:
  """(parameters, FLOPs as multiply-adds) of a genotype's network.

  Parameters as PyTorch counts them (conv kernels, BN scale and bias, the
  classifier's weight and bias; no running statistics); FLOPs as
  ProxylessNAS reports them: multiply-adds of the convolutions and the
  classifier, BatchNorm, activations and pooling excluded.
  """
  (params, flops), blocks = _costs(num_classes, image_size, width_mult)
  for op, row in zip(genotype, blocks):
    p, f = row[OPS.index(op)]
    params, flops = params + p, flops + f
  return params, flops


def flops_table(num_classes: int = 1000, image_size: int = 224,
                width_mult: float = 1.0) -> tuple[int, np.ndarray]:
  """FLOPs (multiply-adds, as `cost`) of the fixed layers and per candidate.

  Returns (base, table): table[b, o] (21, 6) float64 is the multiply-adds of
  candidate OPS[o] in block b, so a genotype's FLOPs are base plus one entry
  per block (`cost`'s second value).
  """
  (_, base), blocks = _costs(num_classes, image_size, width_mult)
  return base, np.array([[f for _, f in row] for row in blocks], np.float64)


def cost_tables(num_classes: int = 1000, image_size: int = 224,
                width_mult: float = 1.0) -> dict:
  """Parameters and FLOPs (as `cost`) of the fixed layers and per candidate.

  Returns:
    {'params' | 'flops': (fixed layers, {'blocks': (21, 6) float64})}: a
    genotype costs the fixed part plus one entry per block (`cost`); the
    'flops' entry is `flops_table`'s.
  """
  (params, _), blocks = _costs(num_classes, image_size, width_mult)
  base, table = flops_table(num_classes, image_size, width_mult)
  return {'params': (params, {'blocks': np.array(
      [[p for p, _ in row] for row in blocks], np.float64)}),
          'flops': (base, {'blocks': table})}


def alpha_shapes() -> dict[str, tuple[int, int]]:
  """Shape of each alpha: 'blocks' (NUM_BLOCKS, len(OPS))."""
  return {'blocks': (NUM_BLOCKS, len(OPS))}


# The search's view of this space (freedarts_jax/spaces/space.py).


def _build(config, num_classes: int, scaled: bool = False) -> nn.Module:
  if scaled:  # validation refuses float32_scaled; dtype=auto skips it
    raise errors.ConfigError('the mobilenet space has no float32_scaled path.')
  if (isinstance(config.width_mult, bool) or not isinstance(
      config.width_mult, (int, float)) or config.width_mult <= 0):
    raise errors.ConfigError('config.width_mult must be a positive number, '
                             f'got {config.width_mult!r}.')
  return Network(num_classes, float(config.width_mult), config.bn_mode)


def _flops_table(config, num_classes: int) -> tuple[int, dict]:
  base, table = flops_table(num_classes, config.image_size,
                            float(config.width_mult))
  return base, {'blocks': table}


def _choose(scores: dict, mask: dict) -> Genotype:
  """Per block, the best-scoring candidate still in the mask."""
  s = np.where(mask['blocks'] > 0, scores['blocks'], -np.inf)
  return tuple(OPS[i] for i in np.argmax(s, axis=1))


def _describe(genotype: Genotype) -> dict:
  params, flops = cost(genotype)
  return {'arch': ' '.join(genotype), 'blocks': list(genotype),
          'params': params, 'flops': flops,
          'eval_network': 'ImageNet network of these blocks: 224px, width '
                          '1.0, 1000 classes; flops are multiply-adds'}


def _one_hot(genotype: Genotype) -> dict:
  return {'blocks': tree_util.one_hot(genotype, OPS)}


def _labels() -> tuple[str, ...]:
  labels = []
  for b, (c_in, c_out, stride, _) in enumerate(plan()):
    labels.append(f'b{b}:{c_in}->{c_out}/s{stride}')
  return tuple(labels)


SPACE = space.Space(
    'mobilenet', OPS, DATASETS, alpha_shapes(), build=_build,
    choose=_choose, describe=_describe, one_hot=_one_hot,
    edge_labels={'blocks': _labels()},
    size_fields=('image_size',),
    has_none=False,
    scalable=False,
    input_size=lambda config: config.image_size,
    flops_table=_flops_table,
)
