"""The budget's cost models against independent counts of the built networks.

Parameters: the built network's variables (jax.eval_shape). Multiply-adds:
every convolution and matrix product in the jaxpr of the built network's
forward pass, counted from its shapes (conv: output elements x kernel
window x input channels per group; dot: output elements x contracted size).
"""

import math

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np
import pytest

from configs import darts as darts_config
from configs import mobilenet as mobilenet_config
from configs import nb201 as nb201_config
from freedarts_jax import spaces
from freedarts_jax.search import budget
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import darts_genotype as dg
from freedarts_jax.spaces import mobilenet
from freedarts_jax.spaces import nb201


def _macs(jaxpr: jex.Jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'conv_general_dilated':
      kernel = eqn.invars[1].aval.shape
      window = eqn.params['dimension_numbers'].rhs_spec[1:]  # in, spatial
      total += math.prod(eqn.outvars[0].aval.shape) * math.prod(
          kernel[d] for d in window)
    elif name == 'dot_general':
      (contracted, _), _ = eqn.params['dimension_numbers']
      lhs = eqn.invars[0].aval.shape
      total += math.prod(eqn.outvars[0].aval.shape) * math.prod(
          lhs[d] for d in contracted)
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if isinstance(sub, jex.ClosedJaxpr):
          total += _macs(sub.jaxpr)
        elif isinstance(sub, jex.Jaxpr):
          total += _macs(sub)
  return total


def count(model, hw: int) -> tuple[int, int]:
  """(parameters, multiply-adds) of a built network on one hw x hw image."""
  x = jax.ShapeDtypeStruct((1, hw, hw, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  params = sum(math.prod(v.shape) for v in jax.tree.leaves(
      variables['params']))
  return params, _macs(jax.make_jaxpr(model.apply)(variables, x).jaxpr)


def modelled(space, config, genotype) -> tuple[float, float]:
  """(parameters, multiply-adds) of the budget's cost model."""
  out = []
  for metric in ('params', 'flops'):
    config.budget_metric, config.budget = metric, 1e12
    out.append(budget.cost(space, budget.from_config(space, config),
                           genotype))
  return tuple(out)


def random_darts(rng) -> dg.Genotype:
  cells = {}
  for kind in dg.CELLS:
    pairs = []
    for k in dg.NODES:
      for inp in rng.choice(k, 2, replace=False):
        pairs.append((dg.OPS[rng.integers(1, len(dg.OPS))], int(inp)))
    cells[kind] = tuple(pairs)
  return dg.Genotype(cells['normal'], dg.CONCAT, cells['reduce'], dg.CONCAT)


@pytest.mark.parametrize('dataset', ['cifar10', 'imagenet16'])
def test_nb201_costs_count_the_network_of_the_cell(dataset):
  space = spaces.get('nb201')
  config = nb201_config.get_config()
  config.dataset = dataset
  hw, classes = nb201.DATASETS[dataset]
  rng = np.random.default_rng(0)
  cells = [('nor_conv_3x3',) * 6, ('none',) * 6] + [
      tuple(rng.choice(nb201.OPS, 6)) for _ in range(2)]
  for cell in cells:
    params, flops = count(nb201.Network(classes, genotype=cell,
                                        bn_mode='eval'), hw)
    # NB201's own cells have an affine BatchNorm after each convolution
    # (2 C parameters); this project's network of the cell leaves it out.
    convs = sum(op.startswith('nor_conv') for op in cell)
    params += convs * 5 * 2 * (16 + 32 + 64)
    assert modelled(space, config, cell) == (params, flops), cell
  # NB201's published range (CIFAR-10): 0.07 to 1.53 MB, 7.78 to 220 MFLOPs.
  if dataset == 'cifar10':
    assert modelled(space, config, cells[0]) == (1_531_546, 220_119_680)
    assert modelled(space, config, cells[1]) == (73_306, 7_783_040)


def test_nb201_none_costs_what_skip_connect_costs():
  space = spaces.get('nb201')
  config = nb201_config.get_config()
  for metric in ('params', 'flops'):
    config.budget_metric, config.budget = metric, 1e12
    table = budget.from_config(space, config).tables['cell']
    none, skip = nb201.OPS.index('none'), nb201.OPS.index('skip_connect')
    np.testing.assert_array_equal(table[:, none], table[:, skip])
    assert (table[:, none] == 0).all()


@pytest.mark.parametrize('stem, size, classes', [
    ('cifar', (8, 5, 32, darts.STEM_MULTIPLIER), 10),
    ('imagenet', (8, 5, 64, 1), 1000)])
def test_darts_costs_count_the_evaluation_network(stem, size, classes):
  c, cells, hw, multiplier = size
  rng = np.random.default_rng(1)
  for genotype in [dg.DARTS_V2, random_darts(rng), random_darts(rng)]:
    model = darts.Network(classes, c, cells, stem, 'eval', affine=True,
                          genotype=genotype, depthwise='conv',
                          stem_multiplier=multiplier)
    expected = count(model, hw)
    got = []
    for metric in ('params', 'flops'):
      fixed, tables = darts.eval_costs(classes, stem, size)[metric]
      hot = dg.one_hot(genotype)
      got.append(fixed + sum(np.sum(tables[k] * hot[k]) for k in dg.CELLS))
    assert tuple(got) == expected, genotype
    if stem == 'cifar':
      assert got[0] == darts.eval_params(genotype, c, cells, classes)


@pytest.mark.slow  # traces the full 20-cell evaluation supernet (1-2 min)
def test_darts_budget_counts_eval_params_at_full_size():
  space = spaces.get('darts')
  config = darts_config.get_config()
  genotype = random_darts(np.random.default_rng(2))
  params, flops = modelled(space, config, dg.DARTS_V2)
  assert params == darts.darts_v2_params() == 3_349_342
  assert modelled(space, config, genotype)[0] == darts.eval_params(genotype)
  assert 4e8 < flops < 7e8  # DARTS-V2 on CIFAR: about half a GFLOP


def test_mobilenet_costs_count_the_network_of_the_blocks():
  classes, size, width = 10, 32, 0.25
  rng = np.random.default_rng(3)
  for _ in range(2):
    genotype = tuple(rng.choice(mobilenet.OPS, mobilenet.NUM_BLOCKS))
    expected = count(mobilenet.Network(classes, width, 'eval', genotype),
                     size)
    tables = mobilenet.cost_tables(classes, size, width)
    got = tuple(
        base + np.sum(table['blocks'] * mobilenet.SPACE.one_hot(genotype)[
            'blocks']) for base, table in (tables['params'],
                                           tables['flops']))
    assert got == expected == mobilenet.cost(genotype, classes, size, width)
  # The search's budget counts the network space.describe reports.
  space, config = spaces.get('mobilenet'), mobilenet_config.get_config()
  assert modelled(space, config, genotype) == mobilenet.cost(genotype)
