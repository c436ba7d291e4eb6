"""The cost models of the size budget: what a network costs, per space.

In every space the network of an architecture costs a fixed part plus one
entry per chosen (edge, op) or block candidate: parameters, or multiply-adds
of its convolutions and classifier. The entries come from the code that
builds or counts each network: proxies/baselines.py's params and flops
baselines (NB201's network of the cell, BatchNorm affine in the cells as in
the benchmark's own network), darts.eval_costs (the affine evaluation
supernet's variables and output sizes), mobilenet.cost_tables
(mobilenet.cost's shape arithmetic).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from freedarts_jax import proxies
from freedarts_jax.proxies import baselines
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import mobilenet
from freedarts_jax.spaces import nb201
from freedarts_jax.spaces.space import Space

Tables = dict[str, np.ndarray]  # alpha tensor name -> (edges, ops)
Model = tuple[float, Tables, str]  # fixed part, per-op costs, the network


@functools.cache
def _nb201(dataset: str, metric: str) -> Model:
  setup = proxies.Setup(dataset=dataset)  # NB201's C = 16, N = 5
  make = {'params': baselines.make_params, 'flops': baselines.make_flops}
  score = make[metric](setup)
  total = lambda a: score(None, {'cell': a}, None)[metric]
  zero = jnp.zeros(nb201.alpha_shapes()['cell'], jnp.float64)
  # The counts are linear in the one-hot alpha: the gradient is each
  # (edge, op)'s cost.
  table = np.asarray(jax.grad(total)(zero), np.float64)
  hw, classes = nb201.DATASETS[dataset]
  return float(total(zero)), {'cell': table}, (
      f"NB201's network of the cell: C = {setup.channels}, N = "
      f'{setup.cells_per_stage}, {classes} classes, {hw} px')


_STEM_NAMES = {'cifar': 'CIFAR', 'imagenet': 'ImageNet (mobile setting)'}


def _darts(config, metric: str) -> Model:
  classes = darts.DATASETS[config.dataset][1]
  fixed, tables = darts.eval_costs(classes, config.stem)[metric]
  c, cells, hw, _ = darts.EVAL_NETWORKS[config.stem]
  return float(fixed), tables, (
      f'{_STEM_NAMES[config.stem]} evaluation network: {cells} cells, '
      f'C = {c}, {hw} px, {classes} classes, auxiliary head excluded')


def _mobilenet(config, metric: str) -> Model:
  del config  # the found network is the 224 px one, as space.describe's
  base, tables = mobilenet.cost_tables()[metric]
  return float(base), tables, ('ImageNet network of the blocks: 224 px, '
                               'width 1.0, 1000 classes')


_MODELS = {
    'nb201': lambda config, metric: _nb201(config.dataset, metric),
    'darts': _darts,
    'mobilenet': _mobilenet,
}


def model(space: Space, config: ml_collections.ConfigDict,
          metric: str) -> Model:
  """The cost model of `metric` ('params' or 'flops') for a search config.

  Returns:
    (fixed part, name -> (edges, ops) float64 cost of each op, the network
    counted, in words).
  """
  return _MODELS[space.name](config, metric)
