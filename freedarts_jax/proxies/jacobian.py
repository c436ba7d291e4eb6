"""Proxies of the network's Jacobians and activation patterns on a batch:
jacob_cov, naswot, te_nas. BatchNorm in train mode, as published.
"""

import jax
import jax.numpy as jnp

from freedarts_jax import ntk as ntk_lib
from freedarts_jax import tree_util
from freedarts_jax.proxies import Proxy
from freedarts_jax.proxies import Setup
from freedarts_jax.spaces import nb201

DTYPE = jnp.float32
EPS = 1e-5  # jacob_cov's k


def make_jacob_cov(setup: Setup):
  """jacob_cov (Mellor et al. 2021 v1, "Neural Architecture Search without
  Training"; as in Abdelfattah et al. 2021).

  J[n] = d sum_k logits[n, k] / d x[n] (one backward pass over the batch);
  with v the eigenvalues of the correlation matrix of the rows of J,
  jacob_cov = -sum(log(v + k) + 1 / (v + k)), k = 1e-5.
  """
  model = setup.model('train')

  def score(variables, alpha, batch):
    v, a = tree_util.cast(variables, DTYPE), tree_util.cast(alpha, DTYPE)
    x = batch[0].astype(DTYPE)
    jac = jax.grad(lambda x: jnp.sum(model.apply(v, x, a)))(x)
    j = jac.reshape(x.shape[0], -1).astype(jnp.float64)  # (B, H * W * 3)
    eig = jnp.linalg.eigvalsh(jnp.corrcoef(j))
    return {'jacob_cov': -jnp.sum(jnp.log(eig + EPS) + 1 / (eig + EPS))}

  return score


def _relu_multiplicity(path, alpha_cell) -> jax.Array | float:
  """How many ReLUs of the cell's network read this sown tensor.

  A cell's node j feeds one ReLU per chosen conv op on an edge from j (each
  NB201 ReLUConvBN has its own); other sown tensors feed exactly one.
  """
  name = path[-1].key if hasattr(path[-1], 'key') else str(path[-1])
  if not any(getattr(p, 'key', '').startswith('stage') for p in path):
    return 1.0
  j = int(name[len('relu_in'):])
  convs = [nb201.OPS.index('nor_conv_1x1'), nb201.OPS.index('nor_conv_3x3')]
  return sum(alpha_cell[e, o] for e, (_, frm) in enumerate(nb201.EDGES)
             if frm == j for o in convs)


def naswot_kernel(model, variables, alpha, x) -> jax.Array:
  """K_H (B, B) float64 of the batch x on the cell's network."""
  v, a = tree_util.cast(variables, DTYPE), tree_util.cast(alpha, DTYPE)
  x = x.astype(DTYPE)
  _, state = model.apply(v, x, a, mutable=['intermediates'])
  flat, _ = jax.tree_util.tree_flatten_with_path(state['intermediates'])
  b = x.shape[0]
  k = jnp.zeros((b, b), jnp.float64)
  for path, t in flat:
    c = (t > 0).reshape(b, -1).astype(jnp.float64)  # (B, features)
    w = jnp.asarray(_relu_multiplicity(path[:-1], a['cell']), jnp.float64)
    k = k + w * (c @ c.T + (1 - c) @ (1 - c).T)
  return k


def make_naswot(setup: Setup):
  """NASWOT (Mellor et al. 2021, ICML): log|K_H| with
  K_H = sum over ReLUs of c c^T + (1 - c)(1 - c)^T, c the binary code
  (input > 0) of each example's ReLU input, flattened.
  """
  model = setup.model('train')

  def score(variables, alpha, batch):
    k = naswot_kernel(model, variables, alpha, batch[0])
    return {'naswot': jnp.linalg.slogdet(k)[1]}

  return score


def _is_ntk_weight(path) -> bool:
  """TE-NAS's 'weight' parameters: conv/linear kernels and BN scales."""
  return getattr(path[-1], 'key', None) in ('kernel', 'scale')


def make_te_nas(setup: Setup):
  """TE-NAS's trainability term (Chen, Gong & Wang 2021, ICLR): the
  condition number of the empirical NTK at initialisation,

      Theta = J J^T, J[n] = d sum_k logits[n, k] / d w,

  over the 'weight' parameters; te_nas = -lambda_max / lambda_min (a small
  condition number is better; NaN reads 1e5 as in their code, negated).
  """
  model = setup.model('train')

  def score(variables, alpha, batch):
    v, a = tree_util.cast(variables, DTYPE), tree_util.cast(alpha, DTYPE)
    x = batch[0].astype(DTYPE)
    flat, tree = jax.tree_util.tree_flatten_with_path(v['params'])
    mask = [_is_ntk_weight(p) for p, _ in flat]
    weights = [t for (_, t), m in zip(flat, mask) if m]
    others = [t for (_, t), m in zip(flat, mask) if not m]

    def f(ws, x):  # weights -> (B,) summed logits
      it_w, it_o = iter(ws), iter(others)
      params = jax.tree_util.tree_unflatten(
          tree, [next(it_w) if m else next(it_o) for m in mask])
      return jnp.sum(model.apply({**v, 'params': params}, x, a), axis=-1)

    ntk = ntk_lib.empirical_ntk(f, weights, x)  # (B, B) float64
    eig = jnp.linalg.eigvalsh(ntk)
    cond = eig[-1] / eig[0]
    return {'te_nas': -jnp.where(jnp.isnan(cond), 1e5, cond)}

  return score


PROXIES = (
    Proxy('jacob_cov', ('jacob_cov',), needs_data=True, weight_grads=False,
          bn_mode=lambda s: 'train', make=make_jacob_cov,
          reference='Mellor et al. 2021 (v1); Abdelfattah et al. 2021'),
    Proxy('naswot', ('naswot',), needs_data=True, weight_grads=False,
          bn_mode=lambda s: 'train', make=make_naswot,
          reference='Mellor et al. 2021, ICML'),
    Proxy('te_nas', ('te_nas',), needs_data=True, weight_grads=True,
          bn_mode=lambda s: 'train', make=make_te_nas,
          reference='Chen, Gong & Wang 2021, ICLR'),
)
