"""Loss-gradient proxies on one mini-batch: snip, grasp, grad_norm, fisher.

Definitions as in Abdelfattah et al. 2021 ("Zero-Cost Proxies for
Lightweight NAS", ICLR), each summed over every conv and linear layer of the
cell's network: BatchNorm in train mode (the batch's statistics), the mean
cross-entropy over the batch, float32. Weights of ops the cell does not use
get zero gradient through alpha = 0 and add nothing.
"""

import jax
import jax.numpy as jnp
import optax

from freedarts_jax import tree_util
from freedarts_jax.proxies import Proxy
from freedarts_jax.proxies import Setup

DTYPE = jnp.float32


def _loss_fn(model, variables, alpha, batch):
  """params -> mean cross-entropy of the batch (the other variables fixed)."""
  x, y = batch
  rest = {k: v for k, v in variables.items() if k != 'params'}

  def loss(params, probes=None):
    v = {**rest, 'params': params}
    if probes is not None:
      v['probes'] = probes
    logits = model.apply(v, x.astype(DTYPE), alpha)  # (B, classes)
    return jnp.mean(
        optax.softmax_cross_entropy_with_integer_labels(logits, y))

  return loss


def _prepare(variables, alpha):
  return tree_util.cast(variables, DTYPE), tree_util.cast(alpha, DTYPE)


def make_snip(setup: Setup):
  """SNIP (Lee et al. 2019): sum of |theta * dL/dtheta| over the kernels."""
  model = setup.model('train')

  def score(variables, alpha, batch):
    variables, alpha = _prepare(variables, alpha)
    loss = _loss_fn(model, variables, alpha, batch)
    g = jax.grad(loss)(variables['params'])
    return {'snip': sum(
        jnp.sum(jnp.abs(w * gw))
        for w, gw in zip(tree_util.kernel_leaves(variables['params']),
                         tree_util.kernel_leaves(g)))}

  return score


def make_grad_norm(setup: Setup):
  """grad_norm: sum over layers of the L2 norm of dL/dkernel."""
  model = setup.model('train')

  def score(variables, alpha, batch):
    variables, alpha = _prepare(variables, alpha)
    g = jax.grad(_loss_fn(model, variables, alpha, batch))(
        variables['params'])
    return {'grad_norm': sum(jnp.sqrt(jnp.sum(jnp.square(gw)))
                             for gw in tree_util.kernel_leaves(g))}

  return score


def make_grasp(setup: Setup):
  """GraSP (Wang et al. 2020): sum of -theta * (H g) over the kernels.

  g = dL/dtheta restricted to the kernels and held constant; H g is the
  Hessian-vector product, here one forward-over-reverse derivative.
  """
  model = setup.model('train')

  def score(variables, alpha, batch):
    variables, alpha = _prepare(variables, alpha)
    params = variables['params']
    grad = jax.grad(_loss_fn(model, variables, alpha, batch))
    g = jax.lax.stop_gradient(grad(params))
    g = tree_util.kernels_only(g)
    _, hg = jax.jvp(grad, (params,), (g,))
    return {'grasp': sum(jnp.sum(-w * h)
                         for w, h in zip(tree_util.kernel_leaves(params),
                                         tree_util.kernel_leaves(hg)))}

  return score


def probe_shapes(model, variables, alpha, x):
  """Zeros for every 'probes' variable (layers.probe) of the network."""
  _, state = jax.eval_shape(
      lambda v: model.apply(v, x, alpha, mutable=['probes']), variables)
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), state['probes'])


def make_fisher(setup: Setup):
  """Fisher (Theis et al. 2018; Turner et al. 2020), per channel:

      fisher = sum over conv/linear outputs a and channels c of
               0.5 * mean_n (sum over positions of a * dL/da)^2.

  The inner sum is d L / d q[n, c] for the output scaled by (1 + q)
  (layers.probe), so one backward pass gives every term.
  """
  model = setup.model('train')

  def score(variables, alpha, batch):
    variables, alpha = _prepare(variables, alpha)
    loss = _loss_fn(model, variables, alpha, batch)
    probes = probe_shapes(model, variables, alpha, batch[0].astype(DTYPE))
    g = jax.grad(lambda q: loss(variables['params'], q))(probes)
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
