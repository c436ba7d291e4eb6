"""Data-free proxies: synflow and architecture-level ZEROS.

Both score the network on one all-ones image with every weight replaced by
its absolute value, so neither reads the batch.
"""

import jax
import jax.numpy as jnp

from freedarts_jax import tree_util
from freedarts_jax import zeros
from freedarts_jax.proxies import Proxy
from freedarts_jax.proxies import Setup


def make_synflow(setup: Setup):
  """synflow (Tanaka et al. 2020).

  As a zero-cost proxy: Abdelfattah et al. 2021, "Zero-Cost Proxies for
  Lightweight NAS".

      synflow = sum over conv/linear kernels of |theta * dR/dtheta|,
      R = sum of the logits of f(ones; |theta|), BatchNorm removed.

  With |theta|, an all-ones input and no BatchNorm every activation is
  non-negative, so every ReLU is the identity, R is a polynomial in theta
  with non-negative coefficients and every term theta * dR/dtheta is
  non-negative: the sum of their absolute values is one forward-mode
  derivative of R along the kernels themselves (jax.jvp), at about the cost
  of two forward passes and with no per-cell weight gradient.

  Dtype: float64 (the published computation is in double), or float32 on
  the overflow-safe network (nb201.Network(scaled=True): the state is
  divided by a power of two before every cell, R = r * 2**k + bias); the
  derivative is then in units of 2**k and rescaled in float64 at the end.
  """
  scaled = setup.synflow_dtype == 'float32'
  model = setup.model('none', scaled=scaled)
  dtype = jnp.dtype(setup.synflow_dtype)

  def score(variables, alpha, batch):
    del batch
    v = tree_util.linearise(tree_util.cast(variables, dtype))
    a = tree_util.cast(alpha, dtype)
    x = jnp.ones((1, *setup.input_shape), dtype)  # (1, H, W, 3)
    tangent = tree_util.kernels_only(v)

    def r(w):  # R, or its scaled part r and log2 of the scale
      out = model.apply(w, x, a)
      if scaled:
        return jnp.sum(out.logits), out.log2_scale
      return jnp.sum(out), jnp.zeros((), jnp.int32)

    _, dr, log2_scale = jax.jvp(r, (v,), (tangent,), has_aux=True)
    return {'synflow': jnp.ldexp(dr.astype(jnp.float64), log2_scale)}

  return score


def make_zeros(setup: Setup):
  """ZEROS of a cell (Zhang, Huang & Wang 2021, arXiv 2106.11542).

  With the cell's one-hot alpha: `zeros` = sum over the chosen ops of
  |alpha * dR/dalpha| (freedarts_jax.zeros), and `zeros_r` = R itself, the
  sum of the logits of f(ones; |theta|, alpha).
  """
  model = setup.model(setup.zeros_bn_mode)
  score_fn = zeros.make_score_fn(model, setup.input_shape,
                                 jnp.dtype(setup.zeros_dtype))

  def score(variables, alpha, batch):
    del batch
    mask = jax.tree.map(jnp.ones_like, alpha)
    out = score_fn(variables, alpha, mask)
    k = out.log2_scale
    total = sum(jnp.sum(s.astype(jnp.float64)) for s in
                jax.tree.leaves(out.scores))
    r = jnp.ldexp(out.r.astype(jnp.float64), k) + out.bias
    return {'zeros': jnp.ldexp(total, k), 'zeros_r': r}

  return score


PROXIES = (
    Proxy('zeros', ('zeros', 'zeros_r'), needs_data=False,
          weight_grads=False, bn_mode=lambda s: s.zeros_bn_mode,
          make=make_zeros,
          reference='Zhang, Huang & Wang 2021 (FreeDARTS), arXiv 2106.11542'),
    Proxy('synflow', ('synflow',), needs_data=False, weight_grads=False,
          bn_mode=lambda s: 'none', make=make_synflow,
          reference='Tanaka et al. 2020; Abdelfattah et al. 2021'),
)
