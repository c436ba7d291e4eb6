"""Zero-cost proxies that rank NAS-Bench-201 cells without training.

Every proxy is a pure function `score(variables, alpha, batch) -> {column:
scalar}` of one cell: `alpha` is the cell's one-hot {'cell': (6, 5)}, which
makes the NB201 supernet compute exactly that cell (spaces/nb201.py), and
`batch` is (images (B, H, W, 3), labels (B,)), ignored by the data-free
proxies. `jax.vmap` over alpha scores many cells in one compiled call;
bench.py shards those calls over devices and processes.

Higher is better for every column (the published sign conventions): a
proxy that prefers small values (te_nas's condition number) is negated.
"""

from collections.abc import Callable
import dataclasses

import flax.linen as nn
import jax

from freedarts_jax import errors
from freedarts_jax.spaces import nb201

ScoreFn = Callable[[dict, dict, tuple], dict[str, jax.Array]]


@dataclasses.dataclass(frozen=True)
class Setup:
  """The network every proxy scores.

  Attributes:
    dataset: NB201 data set whose input shape and classes the network has.
    channels: C of the first stage (16 in NB201).
    cells_per_stage: N (5 in NB201).
    synflow_dtype: 'float64', or 'float32' (the overflow-safe rescaled
      network, nb201.Network(scaled=True)) for synflow.
    zeros_dtype: compute dtype of zeros. float64 by default: with
      BatchNorm in train mode on one image, a cell whose paths partly die
      (a node fed only by 'none') has dR/dalpha that cancels almost
      exactly, and float32 returns rounding noise there (up to 1e4 times
      the float64 value on NB201 cells; benchmarks/RESULTS.md).
    zeros_bn_mode: BatchNorm mode of zeros' network.
    routed: the data-dependent proxies run the network of the cell alone
      (proxies/cell_net.py), else the one-hot supernet (same values, about
      5x the work).
    data_dtype: compute dtype of the data-dependent proxies' networks:
      'auto' (each proxy's own: float32 for naswot, jacob_cov, grad_norm,
      snip and fisher, within 1e-5 of float64 on the tests' small network
      but up to 2e-3 on the full one, with the same ranking of cells,
      where float64 costs 10-18x on CPU (benchmarks/proxy_dtypes.py,
      benchmarks/RESULTS.md); float64 for grasp and te_nas, whose
      Hessian-vector products or smallest NTK eigenvalue float32 rounding
      moves more), or 'float32' / 'float64' for all.
  """

  dataset: str = 'cifar10'
  channels: int = 16
  cells_per_stage: int = 5
  synflow_dtype: str = 'float64'
  zeros_dtype: str = 'float64'
  zeros_bn_mode: str = 'train'
  routed: bool = True
  data_dtype: str = 'auto'

  @property
  def input_shape(self) -> tuple[int, int, int]:
    """(H, W, 3) of one input image of the data set."""
    size = nb201.DATASETS[self.dataset][0]
    return (size, size, 3)

  @property
  def num_classes(self) -> int:
    """Classes of the data set (the classifier's outputs)."""
    return nb201.DATASETS[self.dataset][1]

  def model(self, bn_mode: str, scaled: bool = False) -> nn.Module:
    """The NB201 supernet of this setup.

    Args:
      bn_mode: 'train' | 'eval' | 'none' for every BatchNorm.
      scaled: the overflow-safe rescaled network (float32 synflow/zeros).

    Returns:
      nb201.Network with genotype None.
    """
    return nb201.Network(self.num_classes, self.channels,
                         self.cells_per_stage, bn_mode, scaled=scaled)


@dataclasses.dataclass(frozen=True)
class Proxy:
  """A registered proxy.

  Attributes:
    name: its id on the command line.
    columns: the score columns it writes (zeros writes two).
    needs_data: whether it reads the batch.
    weight_grads: whether it differentiates per cell w.r.t. the weights
      (vmapping that makes XLA CPU's convolutions grouped: one cell at a
      time there).
    bn_mode: BatchNorm mode of its network; None where no network runs.
    make: Setup -> ScoreFn.
    reference: where the definition comes from.
  """

  name: str
  columns: tuple[str, ...]
  needs_data: bool
  weight_grads: bool
  bn_mode: Callable[[Setup], str | None]
  make: Callable[[Setup], ScoreFn]
  reference: str


def _registry() -> dict[str, Proxy]:
  # Imported here: the proxy modules import Setup from this package.
  # pylint: disable=g-import-not-at-top
  from freedarts_jax.proxies import baselines
  from freedarts_jax.proxies import data_free
  from freedarts_jax.proxies import gradient
  from freedarts_jax.proxies import jacobian

  out = {}
  for module in (data_free, gradient, jacobian, baselines):
    for proxy in module.PROXIES:
      out[proxy.name] = proxy
  return out


def names() -> tuple[str, ...]:
  """Every proxy id, in the registry's order."""
  return tuple(_registry())


def get(name: str) -> Proxy:
  """The registered proxy of that id.

  Raises:
    errors.ConfigError: an unknown id; the message lists the valid ones.
  """
  proxies = _registry()
  if name not in proxies:
    raise errors.ConfigError(
        'config.proxies: ' + errors.one_of('proxy', name, proxies))
  return proxies[name]


def parse(spec: str) -> tuple[Proxy, ...]:
  """'synflow,zeros' (or 'all') -> the proxies, each once, in that order.

  Raises:
    ConfigError: an unknown or empty id, naming the valid ones.
  """
  ids = [s.strip() for s in str(spec).split(',')]
  if ids == ['all']:
    ids = list(names())
  if not ids or any(not s for s in ids):
    raise errors.ConfigError(
        f'config.proxies must list proxy ids separated by commas, got '
        f'{spec!r}; valid ids: all, {", ".join(names())}.')
  return tuple(get(s) for s in dict.fromkeys(ids))
