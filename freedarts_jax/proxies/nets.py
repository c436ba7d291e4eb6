"""The network a data-dependent proxy runs: the cell's own, or the supernet.

Both take the NB201 supernet's variables and the cell's one-hot alpha
{'cell': (6, 5)} and compute the same function of them: `cell` runs only the
cell's ops (cell_net.py, the default: `Setup.routed`), `supernet` the one-hot
supernet (all five ops of every edge, four of them times zero). The tests
hold every proxy to the same value on both.
"""

from collections.abc import Callable
import dataclasses

import jax
import jax.numpy as jnp

from freedarts_jax import tree_util
from freedarts_jax.proxies import Setup
from freedarts_jax.proxies import cell_net
from freedarts_jax.spaces import nb201

# (variables, x, alpha, probes) -> (logits (B, classes), NASWOT codes: a list
# of (ReLU input (B, ...), how many ReLUs read it)).
ApplyFn = Callable[..., tuple[jax.Array, list]]


@dataclasses.dataclass(frozen=True)
class Net:
  """One way to run the network of a cell.

  Attributes:
    apply: (variables, x, alpha, probes=None) -> (logits, codes).
    probes: (variables, x, alpha) -> zero probes for apply (Fisher).
    dtype: the compute dtype; `prepare` casts to it.
  """

  apply: ApplyFn
  probes: Callable[..., dict]
  dtype: jnp.dtype

  def prepare(self, variables, alpha, x):
    """variables, alpha, x cast to the compute dtype."""
    return (tree_util.cast(variables, self.dtype),
            tree_util.cast(alpha, self.dtype), x.astype(self.dtype))


def relu_multiplicity(path, alpha_cell) -> jax.Array | float:
  """How many ReLUs of the cell's network read a sown tensor.

  The tensor is one the supernet sows: a cell's node j feeds one per chosen
  conv op on an edge from j (each NB201 ReLUConvBN has its own); any other
  sown tensor one.
  """
  name = path[-1].key if hasattr(path[-1], 'key') else str(path[-1])
  if not any(getattr(p, 'key', '').startswith('stage') for p in path):
    return 1.0
  j = int(name[len('relu_in'):])
  convs = [nb201.OPS.index('nor_conv_1x1'), nb201.OPS.index('nor_conv_3x3')]
  return sum(alpha_cell[e, o] for e, (_, frm) in enumerate(nb201.EDGES)
             if frm == j for o in convs)


def supernet(setup: Setup, bn_mode: str, dtype) -> Net:
  """The one-hot NB201 supernet (spaces/nb201.py)."""
  model = setup.model(bn_mode)

  def apply(variables, x, alpha, probes=None):
    v = variables if probes is None else {**variables, 'probes': probes}
    logits, state = model.apply(v, x, alpha, mutable=['intermediates'])
    flat, _ = jax.tree_util.tree_flatten_with_path(
        state.get('intermediates', {}))  # {}: a model that sows nothing
    return logits, [(t, relu_multiplicity(p[:-1], alpha['cell']))
                    for p, t in flat]

  def probes(variables, x, alpha):
    _, state = jax.eval_shape(
        lambda v: model.apply(v, x, alpha, mutable=['probes']), variables)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                        state['probes'])

  return Net(apply, probes, jnp.dtype(dtype))


def cell(setup: Setup, bn_mode: str, dtype, second_order: bool = False
         ) -> Net:
  """The network of the cell alone (cell_net.py)."""

  def apply(variables, x, alpha, probes=None):
    ops = jnp.argmax(alpha['cell'], axis=-1)  # (6,); padding: all 'none'
    return cell_net.apply(setup, variables, x, ops, bn_mode, probes,
                          lean_vjp=not second_order)

  def probes(variables, x, alpha):
    del variables, alpha
    return cell_net.probe_zeros(setup, x.shape[0], x.dtype)

  return Net(apply, probes, jnp.dtype(dtype))


def of(setup: Setup, dtype: str, bn_mode: str = 'train',
       second_order: bool = False) -> Net:
  """The cell's network if setup.routed, else the one-hot supernet.

  In setup.data_dtype, or `dtype` (the proxy's own) where that is 'auto'.
  second_order: the proxy differentiates a gradient (grasp): the cell
  network's switches keep autodiff's VJP (cell_net.apply's lean_vjp).
  """
  if setup.data_dtype != 'auto':
    dtype = setup.data_dtype
  if setup.routed:
    return cell(setup, bn_mode, dtype, second_order)
  return supernet(setup, bn_mode, dtype)  # autodiff throughout
