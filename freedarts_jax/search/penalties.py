"""FLOPs penalties that multiply R before ZEROS' gradient (`zeros.py`).

ProxylessNAS's 'mul#log' latency loss, with FLOPs in place of latency, as
the release's MobileNet variant uses it:

    g(alpha) = 0.2 * (log F(alpha) / log 475e6) ** 0.3,
    F(alpha) = base + sum_b sum_o p[b, o] * flops[b, o],
    p[b, o]  = alpha[b, o] / sum_o' alpha[b, o'],

F being the expected FLOPs (multiply-adds) of the mixed network: each block's
candidates weighted by its alpha normalised to sum to 1 (alpha is
non-negative and masked-out candidates are 0), so a one-hot alpha gives the
FLOPs of that network. g is differentiable in alpha and enters the score as
|alpha * d(g R)/dalpha| = |alpha * (g dR/dalpha + R dg/dalpha)|.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax.tree_util import Alpha

PENALTIES = ('none', 'mul#log')
MUL_LOG_SCALE = 0.2  # ProxylessNAS's alpha of the 'mul#log' loss
MUL_LOG_POWER = 0.3  # its beta
MUL_LOG_REFERENCE = 475e6  # the reference FLOPs (multiply-adds)

Factor = Callable[[Alpha], jax.Array]


def expected_flops(alpha: Alpha, base: float,
                   table: dict[str, np.ndarray]) -> jax.Array:
  """F(alpha): base plus each edge's FLOPs weighted by its normalised alpha."""
  total = jnp.asarray(base, jnp.result_type(*alpha.values()))
  for name, a in alpha.items():
    p = a / jnp.sum(a, axis=-1, keepdims=True)  # (edges, ops)
    total = total + jnp.sum(p * jnp.asarray(table[name], a.dtype))
  return total


def mul_log(flops: jax.Array) -> jax.Array:
  """0.2 * (log F / log 475e6) ** 0.3."""
  return MUL_LOG_SCALE * (jnp.log(flops) / np.log(MUL_LOG_REFERENCE)) ** (
      MUL_LOG_POWER)


def make_factor(name: str, base: float,
                table: dict[str, np.ndarray]) -> Factor | None:
  """alpha -> g(alpha) for penalty `name` ('none': None, no factor).

  Args:
    name: one of PENALTIES.
    base: FLOPs of the layers that alpha does not weight.
    table: alpha tensor name -> (edges, ops) FLOPs of every candidate.
  """
  if name == 'none':
    return None
  if name != 'mul#log':
    raise ValueError(f'unknown penalty {name!r}')
  return lambda alpha: mul_log(expected_flops(alpha, base, table))


def describe(name: str, alpha: dict[str, np.ndarray], r: float,
             scores: dict[str, np.ndarray], base: float,
             table: dict[str, np.ndarray]) -> dict:
  """Penalty `name` at the scored (masked) alpha, for result.json.

  Returns F, g and the penalty's share of each live score,
  |alpha * R * dg/dalpha| / ZEROS (over entries with alpha > 0; above 1
  where the two terms of the score have opposite signs), as median and max.
  """
  alpha = {k: jnp.asarray(a, jnp.float64) for k, a in alpha.items()}
  flops = expected_flops(alpha, base, table)
  g, dg = jax.value_and_grad(make_factor(name, base, table))(alpha)
  live = {k: np.asarray(a) > 0 for k, a in alpha.items()}
  shares = np.concatenate([
      np.abs(np.asarray(alpha[k] * r * dg[k]))[live[k]] / scores[k][live[k]]
      for k in alpha])
  return {'expected_flops': float(flops),
          'factor': float(g), 'share_median': float(np.median(shares)),
          'share_max': float(np.max(shares))}
