"""ZEROS, the zero-cost operation sensitivity (spec section 1).

    ZEROS[e, o] = |alpha[e, o] * dR/dalpha[e, o]|,
    R = sum of the logits of f(ones; |theta|, alpha).

theta is every parameter and BatchNorm statistic, replaced by its absolute
value; the input is one all-ones image; one forward and one backward pass.
Parameters are kept in float32 and cast inside the jitted function, so the
same draw can be scored in float32 and in float64.
"""

from collections.abc import Callable
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from freedarts_jax.init import torch_init

Alpha = dict[str, jax.Array]  # name -> (edges, ops)
ScoreFn = Callable[..., tuple[jax.Array, Alpha]]


def cast(tree, dtype):
  """Casts every floating leaf of a pytree to dtype."""
  return jax.tree.map(lambda a: a.astype(dtype), tree)


def linearise(variables):
  """|theta|: every parameter and BatchNorm statistic by its absolute value."""
  return jax.tree.map(jnp.abs, variables)


def make_score_fn(
    model: nn.Module, input_shape: tuple[int, ...], dtype: jnp.dtype
) -> ScoreFn:
  """Returns jitted `score(variables, alpha, mask) -> (R, scores)`.

  Args:
    model: a supernet whose call is `model.apply(variables, x, alpha)`.
    input_shape: (H, W, C) of one image of the target data set.
    dtype: compute dtype; variables and alpha are cast to it.

  Returns:
    A function of (variables, alpha, mask): alpha and mask are dicts of
    (edges, ops) arrays; the scored architecture weights are alpha * mask.
    It returns R (a scalar) and the ZEROS dict, both in `dtype`.
  """

  @jax.jit
  def score(variables, alpha: Alpha, mask: Alpha):
    alpha_eff = jax.tree.map(lambda a, m: a.astype(dtype) * m.astype(dtype),
                             alpha, mask)
    return r_and_scores(model, input_shape, dtype, variables, alpha_eff)

  return score


def r_and_scores(
    model: nn.Module, input_shape: tuple[int, ...], dtype: jnp.dtype,
    variables, alpha: Alpha,
) -> tuple[jax.Array, Alpha]:
  """R and ZEROS for one alpha: a pure function (jit or vmap it).

  Args:
    model: as in make_score_fn.
    input_shape: (H, W, C).
    dtype: compute dtype; variables and alpha are cast to it.
    variables: the model's variables (not yet linearised).
    alpha: dict of (edges, ops) architecture weights.

  Returns:
    R (a scalar) and the ZEROS dict, in `dtype`.
  """
  variables = linearise(cast(variables, dtype))
  alpha = cast(alpha, dtype)

  def objective(a: Alpha) -> jax.Array:
    x = jnp.ones((1, *input_shape), dtype)  # (1, H, W, C)
    return jnp.sum(model.apply(variables, x, a))

  r, grads = jax.value_and_grad(objective)(alpha)
  return r, jax.tree.map(lambda a, g: jnp.abs(a * g), alpha, grads)


def make_init_fn(
    model: nn.Module, input_shape: tuple[int, ...],
    alpha_shapes: dict[str, tuple[int, int]], alpha_init: str,
    alpha_scale: float,
) -> Callable[[jax.Array], tuple[dict, Alpha]]:
  """Returns `init(key) -> (variables, alpha)`, all float32.

  Args:
    model: the supernet.
    input_shape: (H, W, C).
    alpha_shapes: name -> (edges, ops).
    alpha_init: 'normal' gives |alpha_scale * N(0, 1)|; 'ones' gives 1.
    alpha_scale: scale of the normal draw.
  """

  @jax.jit
  def draw_alpha(alpha_key: jax.Array) -> Alpha:
    alpha = {}
    for i, (name, shape) in enumerate(sorted(alpha_shapes.items())):
      if alpha_init == 'ones':
        alpha[name] = jnp.ones(shape, jnp.float32)
      else:
        draw = jax.random.normal(jax.random.fold_in(alpha_key, i), shape,
                                 jnp.float32)
        alpha[name] = jnp.abs(alpha_scale * draw)
    return alpha

  def init(key: jax.Array):
    params_key, alpha_key = jax.random.split(key)
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    alpha = draw_alpha(alpha_key)
    return torch_init(model.init, params_key, x, alpha), alpha

  return init


@functools.partial(jax.jit, static_argnames=('factor',))
def perturb(alpha: Alpha, key: jax.Array, factor: float = 0.5) -> Alpha:
  """alpha times 1 +- factor, the sign drawn per entry: a guard's probe."""
  leaves, tree = jax.tree.flatten(alpha)
  out = []
  for i, a in enumerate(leaves):
    sign = jax.random.rademacher(jax.random.fold_in(key, i), a.shape, a.dtype)
    out.append(a * (1 + factor * sign))
  return jax.tree.unflatten(tree, out)
