"""The DARTS CNN search space: cell, CIFAR and ImageNet supernets, sizes.

Design: docs/design.md section 4.2. As for NB201, the supernet and
the discrete network of a genotype are one module: with `genotype=None` every
edge mixes all eight ops by the call argument alpha = {'normal': (14, 8),
'reduce': (14, 8)}; with a genotype each node keeps its two (op, input)
edges under the same parameter names, so the discrete network's variables are
a subset of the supernet's. Ops, edges and genotypes: darts_genotype.py.
"""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax import tree_util
from freedarts_jax.spaces import darts_eval
from freedarts_jax.spaces import darts_genotype
from freedarts_jax.spaces import darts_ops
from freedarts_jax.spaces import darts_plot
from freedarts_jax.spaces import space
from freedarts_jax.spaces.darts_genotype import CELLS  # noqa: F401  (re-exported)
from freedarts_jax.spaces.darts_genotype import DARTS_V2  # noqa: F401  (re-exported)
from freedarts_jax.spaces.darts_genotype import EDGES  # noqa: F401  (re-exported)
from freedarts_jax.spaces.darts_genotype import NODES  # noqa: F401  (re-exported)
from freedarts_jax.spaces.darts_genotype import OPS  # noqa: F401  (re-exported)
from freedarts_jax.spaces.darts_genotype import Genotype  # noqa: F401  (re-exported)
from freedarts_jax.spaces.darts_genotype import edge_ops  # noqa: F401  (re-exported)

# dataset -> (input height/width, classes)
DATASETS = {'cifar10': (32, 10), 'cifar100': (32, 100),
            'imagenet': (224, 1000)}
STEMS = ('cifar', 'imagenet')
STEM_MULTIPLIER = 3


class Cell(nn.Module):
  """Two inputs, four nodes (each the sum of its edges), output concat 2..5.

  Attributes:
    edge_ops: for each of the 14 edges, the ops it holds (all of OPS in the
      supernet; those of the genotype in a discrete network, maybe none).
    channels: C of the cell; the output has 4 C.
    reduction: halve the resolution (stride 2 on the edges from the inputs).
    reduction_prev: the previous cell reduced: preprocess0 is a
      FactorizedReduce.
    bn_mode: 'train' | 'eval' | 'none'.
    affine: BatchNorms with scale and bias (False in the supernet, True in
      the evaluation network; pools' BatchNorms never have them).
    depthwise: how depthwise convs are computed (layers.depthwise_conv).
  """

  edge_ops: tuple[tuple[str, ...], ...]
  channels: int
  reduction: bool
  reduction_prev: bool
  bn_mode: str
  affine: bool = False
  depthwise: str = 'auto'

  @nn.compact
  def __call__(self, s0: jax.Array, s1: jax.Array, alpha: jax.Array | None,
               drop_path: jax.Array | float | None = None) -> jax.Array:
    """The cell's output from the two previous cells' outputs.

    Args:
      s0: output of the cell before the previous one, (B, H, W, C0), or
        (B, 2 H, 2 W, C0) when reduction_prev.
      s1: output of the previous cell, (B, H, W, C1).
      alpha: (14, len(OPS)) weights of the ops (the supernet), or None (a
        discrete network: every op counts once).
      drop_path: None, or the drop-path rate (rng 'drop_path'), training
        only.

    Returns:
      (B, H', W', 4 C), H' = H / 2 in a reduction cell.
    """
    c, mode, affine = self.channels, self.bn_mode, self.affine
    if self.reduction_prev:
      s0 = layers.FactorizedReduce(c, mode, affine, name='preprocess0')(s0)
    else:
      s0 = layers.ReLUConvBN(c, 1, 1, mode, affine, name='preprocess0')(s0)
    s1 = layers.ReLUConvBN(c, 1, 1, mode, affine, name='preprocess1')(s1)
    nodes, outs = [s0, s1], {}
    for k in NODES:
      # The nodes added since the last node: compute every op that reads them.
      for j in ((0, 1) if k == NODES[0] else (k - 1,)):
        wanted = [(f'edge{to}_{frm}', op)
                  for e, (to, frm) in enumerate(EDGES) if frm == j
                  for op in self.edge_ops[e]]
        stride = 2 if self.reduction and j < 2 else 1
        outs.update(darts_ops.ops_from(nodes[j], wanted, stride, mode, affine,
                                       self.depthwise))
      total = None
      for e, (to, frm) in enumerate(EDGES):
        for op in self.edge_ops[e]:
          if to != k or op == 'none':
            continue
          y = outs[f'edge{to}_{frm}', op]
          y = y if alpha is None else alpha[e, OPS.index(op)] * y
          if drop_path is not None and not darts_eval.is_identity(
              op, self.reduction, frm):
            y = darts_eval.drop_path(y, drop_path, self.make_rng('drop_path'))
          total = y if total is None else total + y
      nodes.append(total)  # (B, H', W', C)
    return jnp.concatenate(nodes[2:], axis=-1)  # (B, H', W', 4 C)


class Network(nn.Module):
  """DARTS supernet (genotype=None) or the network of one genotype.

  Attributes:
    num_classes: classifier outputs.
    channels: C of the first cells (16 in the CIFAR supernet, 48 ImageNet,
      36 in the CIFAR evaluation network); C doubles at each reduction.
    layers: cells; reductions at layers // 3 and 2 * layers // 3.
    stem: 'cifar' (Conv3x3 -> 3 C, BN) or 'imagenet' (stem0: Conv3x3 s2 ->
      3 C / 2, BN, ReLU, Conv3x3 s2 -> 3 C, BN; stem1: ReLU, Conv3x3 s2, BN;
      the first cell's preprocess0 is then a FactorizedReduce).
    bn_mode: 'train' | 'eval' | 'none' for every BatchNorm.
    affine: cell BatchNorms with scale and bias (the evaluation network).
    genotype: None for the supernet, else a Genotype.
    scaled: rescale both inputs of every cell by one common factor
      (`layers.rescale`) and return a `layers.Scaled`; exact where the
      network is positively homogeneous (bn_mode 'none', or 'eval' with zero
      running mean).
    depthwise: 'auto' | 'shift' | 'conv', how depthwise convs are computed
      (layers.depthwise_conv); or 'shift_vjp' (reverse mode only: the CPU
      training network's).
    auxiliary: add DARTS's auxiliary head after cell 2 * layers // 3; the
      call then returns (logits, auxiliary logits).
    stem_multiplier: the stem's width in units of C (3; DARTS's ImageNet
      evaluation network uses 1).
  """

  num_classes: int
  channels: int = 16
  layers: int = 8
  stem: str = 'cifar'
  bn_mode: str = 'train'
  affine: bool = False
  genotype: Genotype | None = None
  scaled: bool = False
  depthwise: str = 'auto'
  auxiliary: bool = False
  stem_multiplier: int = STEM_MULTIPLIER

  def _stem(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    c, mode = self.stem_multiplier * self.channels, self.bn_mode
    if self.stem == 'cifar':
      s = layers.Conv(c, 3, name='stem_conv')(x)
      s = layers.BatchNorm(mode, name='stem_bn')(s)
      return s, s
    s0 = layers.Conv(c // 2, 3, 2, name='stem0_conv1')(x)
    s0 = nn.relu(layers.BatchNorm(mode, name='stem0_bn1')(s0))
    s0 = layers.Conv(c, 3, 2, name='stem0_conv2')(s0)
    s0 = layers.BatchNorm(mode, name='stem0_bn2')(s0)
    s1 = layers.Conv(c, 3, 2, name='stem1_conv')(nn.relu(s0))
    return s0, layers.BatchNorm(mode, name='stem1_bn')(s1)

  @nn.compact
  def __call__(self, x: jax.Array, alpha: dict | None = None,
               drop_path: jax.Array | float | None = None):
    """Logits of a batch of images.

    Args:
      x: (B, H, W, 3) images (32 px for 'cifar', 224 px for 'imagenet').
      alpha: {'normal': (14, 8), 'reduce': (14, 8)} raw architecture
        weights, rows in `EDGES` order and columns in `OPS` order, shared by
        every cell of that kind; None with a genotype.
      drop_path: the evaluation network's drop-path rate while training
        (needs the rng 'drop_path'); None: no drop-path.

    Returns:
      logits (B, num_classes); with `auxiliary`, (logits, auxiliary logits
      (B, num_classes)); with `scaled`, a `layers.Scaled` (logits in units
      of 2**log2_scale, the classifier bias apart).
    """
    if self.stem not in STEMS:
      raise ValueError(f'unknown DARTS stem {self.stem!r}')
    s0, s1 = self._stem(x)  # (B, H', W', 3 C)
    reduction_prev = self.stem == 'imagenet'
    c = self.channels
    log2_scale = jnp.zeros((), jnp.int32) if self.scaled else None
    for i in range(self.layers):
      reduction = i in (self.layers // 3, 2 * self.layers // 3)
      c = 2 * c if reduction else c
      kind = CELLS[reduction]  # 'normal' or 'reduce'
      if self.genotype is None:
        ops, a = (OPS,) * len(EDGES), alpha[kind]  # (14, 8)
      else:
        ops, a = edge_ops(getattr(self.genotype, kind)), None
      cell = Cell(ops, c, reduction, reduction_prev, self.bn_mode,
                  self.affine, self.depthwise, name=f'cell{i}')
      (s0, s1), log2_scale = layers.rescale((s0, s1), log2_scale)
      s0, s1 = s1, cell(s0, s1, a, drop_path)
      reduction_prev = reduction
      if self.auxiliary and i == 2 * self.layers // 3:
        aux = darts_eval.AuxiliaryHead(self.num_classes, self.stem,
                                       self.bn_mode, name='auxiliary_head')(s1)
    classifier = layers.Dense(self.num_classes, name='classifier')
    if self.scaled:
      logits, bias = classifier(layers.global_avg_pool(s1), split_bias=True)
      return layers.Scaled(logits, log2_scale, bias)
    logits = classifier(layers.global_avg_pool(s1))  # (B, classes)
    return (logits, aux) if self.auxiliary else logits


def alpha_shapes() -> dict[str, tuple[int, int]]:
  """Shapes of the architecture weights: one (14, 8) tensor per cell type."""
  return {kind: (len(EDGES), len(OPS)) for kind in CELLS}


def count_params(model: nn.Module, input_hw: int, alpha: bool) -> int:
  """Parameters (not BatchNorm statistics) of a network; nothing is drawn."""
  x = jax.ShapeDtypeStruct((1, input_hw, input_hw, 3), jnp.float32)
  args = (x,)
  if alpha:
    args += ({k: jax.ShapeDtypeStruct(s, jnp.float32)
              for k, s in alpha_shapes().items()},)
  variables = jax.eval_shape(model.init, jax.random.key(0), *args)
  return tree_util.count_params(variables['params'])


@functools.cache
def eval_params(genotype: Genotype, channels: int = 36, layers_: int = 20,
                num_classes: int = 10) -> int:
  """Parameters of the CIFAR evaluation network of a genotype.

  DARTS's retraining network: 20 cells, C = 36, stem 3 C, affine
  BatchNorms, 10 classes; the auxiliary head is excluded (DARTS counts it
  out too). Computed from shapes only (jax.eval_shape).
  """
  model = Network(num_classes, channels, layers_, 'cifar', 'eval',
                  affine=True, genotype=genotype)
  return count_params(model, 32, alpha=False)


def darts_v2_params() -> int:
  """eval_params of DARTS-V2, for comparison (DARTS paper: 3.3 M)."""
  return eval_params(DARTS_V2)


# The evaluation networks a genotype is retrained in (spec section 3): stem
# -> (C, cells, input height/width, stem multiplier); 'imagenet' is DARTS's
# mobile setting, built by freedarts_jax/train/model.py with a C-wide stem.
EVAL_NETWORKS = {'cifar': (36, 20, 32, STEM_MULTIPLIER),
                 'imagenet': (48, 14, 224, 1)}
_OP_VARIABLES = {f'edge{to}_{frm}_{op}': (e, o)
                 for e, (to, frm) in enumerate(EDGES)
                 for o, op in enumerate(OPS)}


def _positions(intermediates: dict, path: tuple[str, ...]) -> int:
  """Output pixels of the innermost captured module on a variable's path."""
  pixels, node = 1, intermediates
  for name in path:
    node = node.get(name) if isinstance(node, dict) else None
    if node is None:
      break
    if '__call__' in node:  # (B, H, W, C), or (B, classes) for a Dense
      pixels = math.prod(node['__call__'][0].shape[1:-1])
  return pixels


@functools.cache
def eval_costs(num_classes: int = 10, stem: str = 'cifar',
               size: tuple[int, int, int, int] | None = None) -> dict:
  """Parameters and multiply-adds of the evaluation network, per op.

  Read from the affine supernet of the evaluation network, whose variables
  are those of every discrete network under the same names (module
  docstring): the variables under cell i's `edge{to}_{from}_{op}` belong to
  that op in that cell, everything else (stems, preprocess layers,
  classifier) to every genotype. Parameters are counted as `eval_params`
  counts them; multiply-adds are those of the convolutions and the
  classifier (each kernel weight once per output pixel of the module that
  applies it; the cells' ops all output at the cell's resolution),
  BatchNorm, activations, pools and additions excluded, the auxiliary head
  excluded (ProxylessNAS's and DARTS's convention).

  Args:
    num_classes: classifier outputs.
    stem: 'cifar' or 'imagenet': which of EVAL_NETWORKS.
    size: (C, cells, input height/width, stem multiplier) in place of
      EVAL_NETWORKS[stem] (tests use small networks).

  Returns:
    {'params' | 'flops': (fixed part, {'normal' | 'reduce': (14, 8)
    float64 array})}: a genotype costs the fixed part plus, for each cell
    type, the entries of its (op, input) pairs; summed over every cell of
    that type. 'none' costs 0.
  """
  channels, cells, hw, multiplier = size or EVAL_NETWORKS[stem]
  model = Network(num_classes, channels, cells, stem, 'eval', affine=True,
                  depthwise='conv', stem_multiplier=multiplier)
  kinds = {}

  def capture(module: nn.Module, _) -> bool:
    if isinstance(module, Cell):
      kinds[module.name] = CELLS[module.reduction]
    return isinstance(module, (Cell, layers.Conv, layers.Dense))

  x = jax.ShapeDtypeStruct((1, hw, hw, 3), jnp.float32)
  alpha = {k: jax.ShapeDtypeStruct(s, jnp.float32)
           for k, s in alpha_shapes().items()}
  _, variables = jax.eval_shape(
      functools.partial(model.init_with_output,
                        capture_intermediates=capture),
      jax.random.key(0), x, alpha)
  costs = {m: [0, {k: np.zeros((len(EDGES), len(OPS))) for k in CELLS}]
           for m in ('params', 'flops')}
  for keys, leaf in jax.tree_util.tree_flatten_with_path(
      variables['params'])[0]:
    path = tuple(k.key for k in keys)
    size_, flops = math.prod(leaf.shape), 0
    if path[-1] == 'kernel':
      flops = size_ * _positions(variables['intermediates'], path)
    for metric, value in (('params', size_), ('flops', flops)):
      if len(path) > 1 and path[1] in _OP_VARIABLES:
        costs[metric][1][kinds[path[0]]][_OP_VARIABLES[path[1]]] += value
      else:
        costs[metric][0] += value
  return {m: (fixed, tables) for m, (fixed, tables) in costs.items()}


# The search's view of this space (freedarts_jax/spaces/space.py).


def _build(config, num_classes: int, scaled: bool = False) -> nn.Module:
  if config.channels % 2:
    raise errors.ConfigError(
        'config.channels must be even in the DARTS space (FactorizedReduce '
        f'splits C in two halves), got {config.channels}.')
  return Network(num_classes, config.channels, config.layers, config.stem,
                 config.bn_mode, scaled=scaled, depthwise=config.depthwise)


def _describe(genotype: darts_genotype.Genotype) -> dict:
  return {'arch': darts_genotype.to_text(genotype),
          'genotype': darts_genotype.to_json(genotype),
          'eval_params': eval_params(genotype),
          'darts_v2_params': darts_v2_params(),
          'eval_network': 'CIFAR evaluation network: 20 cells, C = 36, 10 '
                          'classes, auxiliary head excluded'}


SPACE = space.Space(
    'darts', OPS, DATASETS, alpha_shapes(), build=_build,
    choose=darts_genotype.choose, describe=_describe,
    one_hot=darts_genotype.one_hot,
    edge_labels={kind: tuple(f'{t}<-{f}' for t, f in EDGES)
                 for kind in CELLS},
    write_artifacts=darts_plot.write_cells,
    size_fields=('channels', 'layers'),
    choice_fields={'stem': STEMS, 'depthwise': layers.DEPTHWISE_IMPLS},
    train_bn_blind=True,
)
