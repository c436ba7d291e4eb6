"""Proxies of the network's Jacobians and activation patterns on a batch.

jacob_cov, naswot, te_nas. BatchNorm in train mode, as published; the
network is the cell's own (nets.py). naswot and jacob_cov run in float32
(the kernel and the eigenvalues in float64; within 1e-5 of float64 on the
tests' small network, jacob_cov up to 1.1e-4 on the full NB201 network:
benchmarks/proxy_dtypes.py);
te_nas in float64: its condition number divides by the smallest eigenvalue
of the NTK, which float32 rounding of the Jacobian moves.
"""

import jax
import jax.numpy as jnp

from freedarts_jax import ntk as ntk_lib
from freedarts_jax.proxies import Proxy
from freedarts_jax.proxies import Setup
from freedarts_jax.proxies import nets

EPS = 1e-5  # jacob_cov's k


def make_jacob_cov(setup: Setup):
  """jacob_cov (Mellor et al. 2021 v1; as in Abdelfattah et al. 2021).

  Paper: "Neural Architecture Search without Training", first version.

  J[n] = d sum_k logits[n, k] / d x[n] (one backward pass over the batch);
  with v the eigenvalues of the correlation matrix of the rows of J,
  jacob_cov = -sum(log(v + k) + 1 / (v + k)), k = 1e-5.
  """
  net = nets.of(setup, 'float32')

  def score(variables, alpha, batch):
    v, a, x = net.prepare(variables, alpha, batch[0])
    jac = jax.grad(lambda x: jnp.sum(net.apply(v, x, a)[0]))(x)
    j = jac.reshape(x.shape[0], -1).astype(jnp.float64)  # (B, H * W * 3)
    eig = jnp.linalg.eigvalsh(jnp.corrcoef(j))
    return {'jacob_cov': -jnp.sum(jnp.log(eig + EPS) + 1 / (eig + EPS))}

  return score


def naswot_kernel(net: nets.Net, variables, alpha, x) -> jax.Array:
  """K_H (B, B) float64 of the batch x (B, H, W, 3) on the cell's network.

  Per ReLU input t with binary code c = (t > 0) of F units per example,
  c c^T + (1 - c)(1 - c)^T = 2 c c^T - s 1^T - 1 s^T + F (s the row sums):
  one float32 matmul, exact (integers below 2**24).
  """
  v, a, x = net.prepare(variables, alpha, x)
  _, codes = net.apply(v, x, a)
  b = x.shape[0]
  k = jnp.zeros((b, b), jnp.float64)
  for t, weight in codes:
    c = (t > 0).reshape(b, -1).astype(jnp.float32)  # (B, F)
    s = jnp.sum(c, axis=1)
    agree = 2 * jnp.matmul(c, c.T, precision='highest') - s[:, None] - s[
        None, :] + c.shape[1]
    k = k + jnp.asarray(weight, jnp.float64) * agree.astype(jnp.float64)
  return k


def make_naswot(setup: Setup):
  """NASWOT (Mellor et al. 2021, ICML): log|K_H|.

  K_H = sum over ReLUs of c c^T + (1 - c)(1 - c)^T, c the binary code
  (input > 0) of each example's ReLU input, flattened.
  """
  net = nets.of(setup, 'float32')

  def score(variables, alpha, batch):
    k = naswot_kernel(net, variables, alpha, batch[0])
    return {'naswot': jnp.linalg.slogdet(k)[1]}

  return score


def _is_ntk_weight(path) -> bool:
  """TE-NAS's 'weight' parameters: conv/linear kernels and BN scales."""
  return getattr(path[-1], 'key', None) in ('kernel', 'scale')


def make_te_nas(setup: Setup):
  """TE-NAS's trainability term (Chen, Gong & Wang 2021, ICLR).

  The condition number of the empirical NTK at initialisation,

      Theta = J J^T, J[n] = d sum_k logits[n, k] / d w,

  over the 'weight' parameters; te_nas = -lambda_max / lambda_min (a small
  condition number is better). A cell whose output ignores its input has
  Theta = 0 and scores NaN, which the report ranks last like every proxy's
  NaN (TE-NAS's code reads it as a condition number of 1e5 instead, which
  ranks above the cells whose condition number exceeds 1e5).
  """
  net = nets.of(setup, 'float64')

  def score(variables, alpha, batch):
    v, a, x = net.prepare(variables, alpha, batch[0])
    flat, tree = jax.tree_util.tree_flatten_with_path(v['params'])
    mask = [_is_ntk_weight(p) for p, _ in flat]
    weights = [t for (_, t), m in zip(flat, mask) if m]
    others = [t for (_, t), m in zip(flat, mask) if not m]

    def f(ws, x):  # weights -> (B,) summed logits
      it_w, it_o = iter(ws), iter(others)
      params = jax.tree_util.tree_unflatten(
          tree, [next(it_w) if m else next(it_o) for m in mask])
      return jnp.sum(net.apply({**v, 'params': params}, x, a)[0], axis=-1)

    ntk = ntk_lib.empirical_ntk(f, weights, x)  # (B, B) float64
    eig = jnp.linalg.eigvalsh(ntk)
    return {'te_nas': -eig[-1] / eig[0]}

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
