"""Loss-gradient proxies on one mini-batch: snip, grasp, grad_norm, fisher.

Definitions as in Abdelfattah et al. 2021 ("Zero-Cost Proxies for
Lightweight NAS", ICLR), each summed over every conv and linear layer of the
cell's network: BatchNorm in train mode (the batch's statistics), the mean
cross-entropy over the batch; float32 except grasp, a signed sum of
Hessian-vector products, in float64. float32 is within 1e-5 of float64 on
the tests' small network; on the full NB201 network it is not: up to 2e-3
relative (fisher; grad_norm and snip 1e-3) over 16 cells, median 1e-4
(benchmarks/proxy_dtypes.py, benchmarks/RESULTS.md). The
network is the cell's own (nets.py; the one-hot supernet gives the same
values, its unused ops' weights getting zero gradient through alpha = 0).
"""

import jax
import jax.numpy as jnp
import optax

from freedarts_jax import tree_util
from freedarts_jax.proxies import Proxy
from freedarts_jax.proxies import Setup
from freedarts_jax.proxies import nets


def _loss_fn(net: nets.Net, variables, alpha, batch):
  """Mean cross-entropy of the batch as (params, probes=None) -> loss.

  Returns the loss function and the prepared variables, alpha and input
  (v, a, x) in the compute dtype.
  """
  v, a, x = net.prepare(variables, alpha, batch[0])
  rest = {k: t for k, t in v.items() if k != 'params'}

  def loss(params, probes=None):
    logits, _ = net.apply({**rest, 'params': params}, x, a, probes)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits, batch[1]))  # logits (B, classes)

  return loss, v, a, x




def make_snip(setup: Setup):
  """SNIP (Lee et al. 2019): sum of |theta * dL/dtheta| over the kernels."""
  net = nets.of(setup, 'float32')

  def score(variables, alpha, batch):
    loss, v, _, _ = _loss_fn(net, variables, alpha, batch)
    g = jax.grad(loss)(v['params'])
    return {'snip': sum(
        jnp.sum(jnp.abs(w * gw))
        for w, gw in zip(tree_util.kernel_leaves(v['params']),
                         tree_util.kernel_leaves(g)))}

  return score


def make_grad_norm(setup: Setup):
  """grad_norm: sum over layers of the L2 norm of dL/dkernel."""
  net = nets.of(setup, 'float32')

  def score(variables, alpha, batch):
    loss, v, _, _ = _loss_fn(net, variables, alpha, batch)
    g = jax.grad(loss)(v['params'])
    return {'grad_norm': sum(jnp.sqrt(jnp.sum(jnp.square(gw)))
                             for gw in tree_util.kernel_leaves(g))}

  return score


def make_grasp(setup: Setup):
  """GraSP (Wang et al. 2020): sum of -theta * (H g) over the kernels.

  g = dL/dtheta restricted to the kernels and held constant; H g is the
  Hessian-vector product, the gradient of g . dL/dtheta, taken as the VJP
  of the gradient that gave g (one forward and backward pass; reverse over
  reverse: the cell network's convolutions have a custom VJP, layers.conv,
  whose own VJP keeps the cells' convolutions canonical for XLA CPU).
  """
  net = nets.of(setup, 'float64', second_order=True)

  def score(variables, alpha, batch):
    loss, v, _, _ = _loss_fn(net, variables, alpha, batch)
    params = v['params']
    g, hvp = jax.vjp(jax.grad(loss), params)  # one forward, one backward
    hg, = hvp(tree_util.kernels_only(g))  # H g: H is symmetric
    return {'grasp': sum(jnp.sum(-w * h)
                         for w, h in zip(tree_util.kernel_leaves(params),
                                         tree_util.kernel_leaves(hg)))}

  return score


def make_fisher(setup: Setup):
  """Fisher (Theis et al. 2018; Turner et al. 2020), per channel.

      fisher = sum over conv/linear outputs a and channels c of
               0.5 * mean_n (sum over positions of a * dL/da)^2.

  The inner sum is d L / d q[n, c] for the output scaled by (1 + q)
  (layers.probe), so one backward pass gives every term.
  """
  net = nets.of(setup, 'float32')

  def score(variables, alpha, batch):
    loss, v, a, x = _loss_fn(net, variables, alpha, batch)
    probes = net.probes(v, x, a)
    g = jax.grad(lambda q: loss(v['params'], q))(probes)
    return {'fisher': sum(0.5 * jnp.sum(jnp.mean(jnp.square(t), axis=0))
                          for t in jax.tree.leaves(g))}

  return score


PROXIES = tuple(
    Proxy(name, (name,), needs_data=True, weight_grads=name != 'fisher',
          bn_mode=lambda s: 'train', make=make, reference=ref)
    for name, make, ref in (
        ('snip', make_snip, 'Lee et al. 2019; Abdelfattah et al. 2021'),
        ('grasp', make_grasp, 'Wang et al. 2020; Abdelfattah et al. 2021'),
        ('grad_norm', make_grad_norm, 'Abdelfattah et al. 2021'),
        ('fisher', make_fisher,
         'Theis et al. 2018; Turner et al. 2020; Abdelfattah et al. 2021'),
    ))
