"""Registry of search spaces: name -> Space."""

from collections.abc import Callable
import dataclasses
import pathlib

import flax.linen as nn
import numpy as np

from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax.benchmarks import nb201_table
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import darts_genotype
from freedarts_jax.spaces import darts_plot
from freedarts_jax.spaces import mobilenet
from freedarts_jax.spaces import nb201


@dataclasses.dataclass(frozen=True)
class Space:
  """What the search needs to know about a search space.

  Attributes:
    name: registry name.
    ops: candidate op names, in alpha's column order; ops[0] is 'none'
      where has_none.
    datasets: dataset -> (input height/width, classes).
    alpha_shapes: alpha tensor name -> (edges, ops).
    build: (config, num_classes, scaled=False) -> the supernet module;
      `scaled` builds it for the overflow-safe float32 path.
    choose: (last scores, final mask) -> genotype, both dicts of numpy
      (edges, ops) arrays.
    describe: genotype -> JSON-able dict for result.json.
    one_hot: genotype -> dict of (edges, ops) 0/1 arrays, the ops it keeps.
    edge_labels: alpha tensor name -> a label per edge, for tables.
    benchmark: genotype -> ground-truth row (None where no table exists).
    write_artifacts: (genotype, workdir) -> list of files written next to
      result.json (e.g. cell pictures); None where there are none.
    size_fields: config fields that must be positive integers.
    choice_fields: config field -> its valid values, beyond the common ones.
    has_none: ops[0] is 'none' (scores 0, pruned first, never chosen while
      another op is left); False where every op is a real candidate.
    scalable: build(scaled=True) gives the dtype=float32_scaled path.
    input_size: config -> input height/width, overriding `datasets`' (None:
      the data set's).
    flops_table: (config, num_classes) -> (FLOPs of the fixed layers, alpha
      tensor name -> (edges, ops) FLOPs of every candidate), for
      config.flops_penalty; None where the space has no FLOPs model.
  """

  name: str
  ops: tuple[str, ...]
  datasets: dict[str, tuple[int, int]]
  alpha_shapes: dict[str, tuple[int, int]]
  build: Callable[..., nn.Module]
  choose: Callable[[dict, dict], object]
  describe: Callable[[object], dict]
  one_hot: Callable[[object], dict]
  edge_labels: dict[str, tuple[str, ...]]
  benchmark: Callable[[object], dict] | None = None
  write_artifacts: Callable[[object, pathlib.Path], list[str]] | None = None
  size_fields: tuple[str, ...] = ()
  choice_fields: dict[str, tuple] = dataclasses.field(default_factory=dict)
  has_none: bool = True
  scalable: bool = True
  input_size: Callable[[object], int] | None = None
  flops_table: Callable[[object, int], tuple[int, dict]] | None = None


def _nb201_build(config, num_classes: int, scaled: bool = False
                 ) -> nn.Module:
  return nb201.Network(num_classes, config.channels, config.cells_per_stage,
                       config.bn_mode, scaled=scaled)


def _nb201_choose(scores: dict, mask: dict) -> nb201.Genotype:
  """Per edge, the best-scoring op still in the mask; 'none' only if alone."""
  s = np.where(mask['cell'] > 0, scores['cell'], -np.inf)
  alive = mask['cell'].sum(axis=1)
  s[:, nb201.NONE] = np.where(alive > 1, -np.inf, s[:, nb201.NONE])
  return tuple(nb201.OPS[i] for i in np.argmax(s, axis=1))


def _nb201_describe(genotype: nb201.Genotype) -> dict:
  return {'arch': nb201.to_string(genotype), 'genotype': list(genotype),
          'connected': nb201.is_connected(genotype)}


def _nb201_one_hot(genotype: nb201.Genotype) -> dict:
  out = np.zeros((len(nb201.EDGES), len(nb201.OPS)))
  out[np.arange(len(genotype)), [nb201.OPS.index(op) for op in genotype]] = 1
  return {'cell': out}


def _nb201_benchmark(genotype: nb201.Genotype) -> dict:
  return nb201_table.load().lookup(nb201.to_string(genotype))


def _darts_build(config, num_classes: int, scaled: bool = False
                 ) -> nn.Module:
  if config.channels % 2:
    raise errors.ConfigError(
        'config.channels must be even in the DARTS space (FactorizedReduce '
        f'splits C in two halves), got {config.channels}.')
  return darts.Network(num_classes, config.channels, config.layers,
                       config.stem, config.bn_mode, scaled=scaled,
                       depthwise=config.depthwise)


def _darts_describe(genotype: darts_genotype.Genotype) -> dict:
  return {'arch': darts_genotype.to_text(genotype),
          'genotype': darts_genotype.to_json(genotype),
          'eval_params': darts.eval_params(genotype),
          'darts_v2_params': darts.darts_v2_params(),
          'eval_network': 'CIFAR evaluation network: 20 cells, C = 36, 10 '
                          'classes, auxiliary head excluded'}


def _mobilenet_build(config, num_classes: int, scaled: bool = False
                     ) -> nn.Module:
  if scaled:  # validation refuses float32_scaled; dtype=auto skips it
    raise errors.ConfigError('the mobilenet space has no float32_scaled path.')
  if (isinstance(config.width_mult, bool) or not isinstance(
      config.width_mult, (int, float)) or config.width_mult <= 0):
    raise errors.ConfigError('config.width_mult must be a positive number, '
                             f'got {config.width_mult!r}.')
  return mobilenet.Network(num_classes, float(config.width_mult),
                           config.bn_mode)


def _mobilenet_flops_table(config, num_classes: int) -> tuple[int, dict]:
  base, table = mobilenet.flops_table(num_classes, config.image_size,
                                      float(config.width_mult))
  return base, {'blocks': table}


def _mobilenet_choose(scores: dict, mask: dict) -> mobilenet.Genotype:
  """Per block, the best-scoring candidate still in the mask."""
  s = np.where(mask['blocks'] > 0, scores['blocks'], -np.inf)
  return tuple(mobilenet.OPS[i] for i in np.argmax(s, axis=1))


def _mobilenet_describe(genotype: mobilenet.Genotype) -> dict:
  params, flops = mobilenet.cost(genotype)
  return {'arch': ' '.join(genotype), 'blocks': list(genotype),
          'params': params, 'flops': flops,
          'eval_network': 'ImageNet network of these blocks: 224px, width '
                          '1.0, 1000 classes; flops are multiply-adds'}


def _mobilenet_one_hot(genotype: mobilenet.Genotype) -> dict:
  out = np.zeros((mobilenet.NUM_BLOCKS, len(mobilenet.OPS)))
  out[np.arange(len(genotype)), [mobilenet.OPS.index(op)
                                 for op in genotype]] = 1
  return {'blocks': out}


def _mobilenet_labels() -> tuple[str, ...]:
  labels = []
  for b, (c_in, c_out, stride, _) in enumerate(mobilenet.plan()):
    labels.append(f'b{b}:{c_in}->{c_out}/s{stride}')
  return tuple(labels)


SPACES = {
    'nb201': Space(
        name='nb201',
        ops=nb201.OPS,
        datasets=nb201.DATASETS,
        alpha_shapes=nb201.alpha_shapes(),
        build=_nb201_build,
        choose=_nb201_choose,
        describe=_nb201_describe,
        one_hot=_nb201_one_hot,
        edge_labels={'cell': tuple(f'{t}<-{f}' for t, f in nb201.EDGES)},
        benchmark=_nb201_benchmark,
        size_fields=('channels', 'cells_per_stage'),
    ),
    'darts': Space(
        name='darts',
        ops=darts.OPS,
        datasets=darts.DATASETS,
        alpha_shapes=darts.alpha_shapes(),
        build=_darts_build,
        choose=darts_genotype.choose,
        describe=_darts_describe,
        one_hot=darts_genotype.one_hot,
        edge_labels={kind: tuple(f'{t}<-{f}' for t, f in darts.EDGES)
                     for kind in darts.CELLS},
        write_artifacts=darts_plot.write_cells,
        size_fields=('channels', 'layers'),
        choice_fields={'stem': darts.STEMS,
                       'depthwise': layers.DEPTHWISE_IMPLS},
    ),
    'mobilenet': Space(
        name='mobilenet',
        ops=mobilenet.OPS,
        datasets=mobilenet.DATASETS,
        alpha_shapes=mobilenet.alpha_shapes(),
        build=_mobilenet_build,
        choose=_mobilenet_choose,
        describe=_mobilenet_describe,
        one_hot=_mobilenet_one_hot,
        edge_labels={'blocks': _mobilenet_labels()},
        size_fields=('image_size',),
        has_none=False,
        scalable=False,
        input_size=lambda config: config.image_size,
        flops_table=_mobilenet_flops_table,
    ),
}


def get(name: str) -> Space:
  """The Space called `name`; ConfigError naming the valid ones otherwise."""
  if name not in SPACES:
    raise errors.ConfigError(
        'config.space: ' + errors.one_of('search space', name, SPACES))
  return SPACES[name]
