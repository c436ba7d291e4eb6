"""The NAS-Bench-201 search space: ops, cell, supernet, genotype strings.

Design: docs/design.md section 4.1. The supernet and the discrete
network of one cell are the same module: with `genotype=None` every edge holds
all five candidate ops mixed by the call argument `alpha`; with a genotype every
edge holds only its op, under the same parameter names, so the discrete
network's parameters are a subset of the supernet's.
"""

from collections.abc import Sequence
import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax import nb201_table
from freedarts_jax import tree_util
from freedarts_jax.spaces import space

OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
NONE = 0
# Edge e is (to_node, from_node); the benchmark's string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4
# dataset -> (input height/width, classes)
DATASETS = {'cifar10': (32, 10), 'cifar100': (32, 100), 'imagenet16': (16, 120)}

Genotype = tuple[str, ...]  # one op name per edge, in EDGES order


class ConvOpVars(nn.Module):
  """The variables of one nor_conv op: its kernel and BatchNorm statistics.

  The convolutions are applied by the cell, fused over every conv op that
  reads the same node (one wide conv per kernel size instead of up to six
  narrow ones); BatchNorm is per channel, so it is unchanged by the fusion.
  """

  features: int
  kernel: int
  bn_mode: str

  @nn.compact
  def __call__(self, in_features: int):
    """The kernel (k, k, in_features, features) float32, mean and var.

    mean and var are the BatchNorm's running statistics (features,)
    float32, or None in bn_mode 'none' (layers.bn_stats).
    """
    # Values come from freedarts_jax.init.torch_init; this declares the shape.
    kernel = self.param(
        'kernel', nn.initializers.lecun_normal(),
        (self.kernel, self.kernel, in_features, self.features), jnp.float32)
    return (kernel, *layers.bn_stats(self, self.features, self.bn_mode))

  def update(self, y: jax.Array) -> None:
    """Running statistics from this op's BatchNorm input (training only)."""
    layers.update_running_stats(self, y, self.bn_mode)


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  k = kernel.shape[0]
  pad = ((k // 2, k // 2),) * 2
  return jax.lax.conv_general_dilated(
      x, kernel.astype(x.dtype), (1, 1), pad,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


class Cell(nn.Module):
  """Four nodes; node i = sum over j < i of edge (i <- j); output node 3.

  Attributes:
    edge_ops: for each edge, the ops it holds (all of OPS in the supernet, one
      in a discrete network).
    bn_mode: BatchNorm mode of the conv ops (affine=False).
  """

  edge_ops: tuple[tuple[str, ...], ...]
  bn_mode: str

  def _ops_from(self, x: jax.Array, j: int) -> dict:
    """Outputs of every op on the edges that read node j: (e, op) -> array."""
    c = x.shape[-1]
    outs, convs = {}, {}
    for e, (to, frm) in enumerate(EDGES):
      if frm != j:
        continue
      for op in self.edge_ops[e]:
        if op == 'none':  # zeros: it adds nothing, and d R / d alpha = 0
          continue
        if op == 'skip_connect':
          outs[e, op] = x
        elif op == 'avg_pool_3x3':
          outs[e, op] = layers.avg_pool(x, 3, 1)
        else:
          k = int(op[-1])
          mod = ConvOpVars(c, k, self.bn_mode, name=f'edge{to}_{frm}_{op}')
          convs.setdefault(k, []).append(((e, op), mod(c), mod))
    if convs:  # NASWOT's activation codes: the ReLU input of the conv ops
      self.sow('intermediates', f'relu_in{j}', x)
    for k, entries in convs.items():
      kernel, mean, var = (
          jnp.concatenate(parts, axis=-1) if parts[0] is not None else None
          for parts in zip(*(v for _, v, _ in entries)))
      y = layers.probe(self, f'conv{k}_from{j}', _conv(nn.relu(x), kernel))
      for i, (_, _, mod) in enumerate(entries):
        mod.update(y[..., i * c:(i + 1) * c])
      y = layers.batch_norm(  # (B, H, W, len(entries) * C)
          y, self.bn_mode, mean, var, reverse_only=layers.updates_running_stats(
              entries[0][2], self.bn_mode))
      for i, (key, _, _) in enumerate(entries):
        outs[key] = y[..., i * c:(i + 1) * c]
    return outs

  @nn.compact
  def __call__(self, x: jax.Array, alpha: jax.Array | None) -> jax.Array:
    """The cell's last node from its input x (B, H, W, C), same shape.

    alpha[e, o] weights op edge_ops[e][o] ((6, 5) in the supernet); None:
    a discrete network, every op counts once.
    """
    nodes, outs = [x], {}
    for i in range(1, NUM_NODES):
      outs.update(self._ops_from(nodes[i - 1], i - 1))
      total = jnp.zeros_like(x)
      for e, (to, _) in enumerate(EDGES):
        for o, op in enumerate(self.edge_ops[e]):
          if to == i and op != 'none':
            y = outs[e, op]
            total = total + (y if alpha is None else alpha[e, o] * y)
      nodes.append(total)
    return nodes[-1]


class ResBlock(nn.Module):
  """NB201's ResNet basic block, stride 2, between stages."""

  features: int
  bn_mode: str
  canonical_vjp: bool = False  # layers.Conv's

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H / 2, W / 2, features)."""
    unit = functools.partial(layers.ReLUConvBN, bn_mode=self.bn_mode,
                             canonical_vjp=self.canonical_vjp)
    y = unit(self.features, 3, 2, name='conv_a')(x)
    y = unit(self.features, 3, 1, name='conv_b')(y)
    shortcut = nn.avg_pool(x, (2, 2), strides=(2, 2))
    shortcut = layers.Conv(self.features, 1, canonical_vjp=self.canonical_vjp,
                           name='downsample')(shortcut)
    return shortcut + y


class Network(nn.Module):
  """NB201 supernet (genotype=None) or the network of one cell.

  Attributes:
    num_classes: classifier outputs.
    channels: C of the first stage (16 in NB201); stages use C, 2C, 4C.
    cells_per_stage: N (5 in NB201).
    bn_mode: 'train' | 'eval' | 'none' for every BatchNorm.
    genotype: None for the supernet, else one op per edge.
    scaled: rescale the state before every cell and block
      (`layers.rescale`) and return a `layers.Scaled`; exact where the
      network is positively homogeneous (bn_mode 'none', or 'eval' with zero
      running mean).
  """

  num_classes: int
  channels: int = 16
  cells_per_stage: int = 5
  bn_mode: str = 'train'
  genotype: Genotype | None = None
  scaled: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, alpha: dict | None = None):
    """Logits of a batch of images.

    Args:
      x: (B, H, W, 3) images (32 px for CIFAR, 16 px for ImageNet16-120).
      alpha: {'cell': (6, 5)} raw architecture weights, rows in `EDGES`
        order and columns in `OPS` order, shared by all 3N cells; None with
        a genotype.

    Returns:
      logits (B, num_classes); with `scaled`, a `layers.Scaled` (logits in
      units of 2**log2_scale, the classifier bias apart).
    """
    if self.genotype is None:
      edge_ops = (OPS,) * len(EDGES)
      cell_alpha = alpha['cell']  # (6, 5)
    else:
      edge_ops = tuple((op,) for op in self.genotype)
      cell_alpha = None
    c = self.channels
    log2_scale = jnp.zeros((), jnp.int32) if self.scaled else None
    x = layers.Conv(c, 3, name='stem_conv')(x)  # (B, H, W, C)
    x = layers.BatchNorm(self.bn_mode, name='stem_bn')(x)
    for stage in range(3):
      if stage:
        c *= 2
        (x,), log2_scale = layers.rescale((x,), log2_scale)
        x = ResBlock(c, self.bn_mode, name=f'reduce{stage}')(x)
      for i in range(self.cells_per_stage):
        (x,), log2_scale = layers.rescale((x,), log2_scale)
        x = Cell(edge_ops, self.bn_mode, name=f'stage{stage}_cell{i}')(
            x, cell_alpha)
    x = layers.BatchNorm(self.bn_mode, name='lastact_bn')(x)
    self.sow('intermediates', 'relu_in', x)  # NASWOT's activation codes
    x = nn.relu(x)
    classifier = layers.Dense(self.num_classes, name='classifier')
    if not self.scaled:
      return classifier(layers.global_avg_pool(x))  # (B, classes)
    logits, bias = classifier(layers.global_avg_pool(x), split_bias=True)
    return layers.Scaled(logits, log2_scale, bias)


def alpha_shapes() -> dict[str, tuple[int, int]]:
  """Shapes of the architecture weights: one (edges, ops) tensor."""
  return {'cell': (len(EDGES), len(OPS))}


_STRING_RE = re.compile(
    r'^\|([^|~]+)~0\|\+\|([^|~]+)~0\|([^|~]+)~1\|'
    r'\+\|([^|~]+)~0\|([^|~]+)~1\|([^|~]+)~2\|$')


def to_string(genotype: Sequence[str]) -> str:
  """Genotype (6 op names in EDGES order) -> the benchmark's string."""
  genotype = validate(genotype)
  nodes = []
  for i in range(1, NUM_NODES):
    nodes.append('|'.join(f'{genotype[e]}~{frm}'
                          for e, (to, frm) in enumerate(EDGES) if to == i))
  return '+'.join(f'|{n}|' for n in nodes)


def from_string(arch: str) -> Genotype:
  """The benchmark's string -> genotype; GenotypeError if malformed."""
  m = _STRING_RE.match(arch.strip()) if isinstance(arch, str) else None
  if m is None:
    raise errors.GenotypeError(
        f'malformed NB201 cell string {arch!r}: expected the form '
        '|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with op one of '
        f'{", ".join(OPS)}.')
  return validate(m.groups())


def validate(genotype: Sequence[str]) -> Genotype:
  """Checks 6 known op names; returns them as a tuple."""
  genotype = tuple(genotype)
  if len(genotype) != len(EDGES):
    raise errors.GenotypeError(
        f'an NB201 genotype has {len(EDGES)} ops (one per edge '
        f'1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), got {len(genotype)}: '
        f'{genotype!r}.')
  for op in genotype:
    if op not in OPS:
      raise errors.GenotypeError(
          'in an NB201 genotype: ' + errors.one_of('op', op, OPS))
  return genotype


def is_connected(genotype: Sequence[str]) -> bool:
  """Whether some path of non-'none' edges leads from node 0 to node 3."""
  reach = {0}
  for e, (to, frm) in enumerate(EDGES):  # EDGES is topologically ordered
    if frm in reach and genotype[e] != 'none':
      reach.add(to)
  return NUM_NODES - 1 in reach


# The search's view of this space (freedarts_jax/spaces/space.py).


def _build(config, num_classes: int, scaled: bool = False) -> nn.Module:
  return Network(num_classes, config.channels, config.cells_per_stage,
                 config.bn_mode, scaled=scaled)


def _choose(scores: dict, mask: dict) -> Genotype:
  """Per edge, the best-scoring op still in the mask; 'none' only if alone."""
  s = np.where(mask['cell'] > 0, scores['cell'], -np.inf)
  alive = mask['cell'].sum(axis=1)
  s[:, NONE] = np.where(alive > 1, -np.inf, s[:, NONE])
  return tuple(OPS[i] for i in np.argmax(s, axis=1))


def _describe(genotype: Genotype) -> dict:
  return {'arch': to_string(genotype), 'genotype': list(genotype),
          'connected': is_connected(genotype)}


def _one_hot(genotype: Genotype) -> dict:
  return {'cell': tree_util.one_hot(genotype, OPS)}


def _benchmark(genotype: Genotype) -> dict:
  return nb201_table.load().lookup(to_string(genotype))


SPACE = space.Space(
    'nb201', OPS, DATASETS, alpha_shapes(), build=_build, choose=_choose,
    describe=_describe, one_hot=_one_hot,
    edge_labels={'cell': tuple(f'{t}<-{f}' for t, f in EDGES)},
    benchmark=_benchmark,
    size_fields=('channels', 'cells_per_stage'),
)
