"""ZEROS, the zero-cost operation sensitivity (docs/design.md section 1).

    ZEROS[e, o] = |alpha[e, o] * dR/dalpha[e, o]|,
    R = sum of the logits of f(ones; |theta|, alpha).

theta is every parameter and BatchNorm statistic, replaced by its absolute
value; the input is one all-ones image (or, as the release's MobileNet
variant does, a batch of images: R then sums the logits of the batch); one
forward and one backward pass. An optional `factor` g(alpha), e.g. a FLOPs
penalty (`penalties.py`), multiplies R before the gradient:

    ZEROS[e, o] = |alpha[e, o] * d(g(alpha) R)/dalpha[e, o]|.
Parameters are kept in float32 and cast inside the jitted function, so the
same draw can be scored in float32 and in float64.

R of the linearised network grows or shrinks geometrically with depth and can
leave float32's range. A `scaled` supernet (dtype=float32_scaled) divides its
state by a power of two before every cell (`layers.rescale`) and carries the
exponent, so a score call returns R and ZEROS in units of 2**log2_scale (a
`Score`); `to_numpy` turns them into float64 values. Which config dtype
computes in which dtype is `dtypes.py`'s.
"""

from collections.abc import Callable
import functools
from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import exported
from freedarts_jax import layers
from freedarts_jax import tree_util
from freedarts_jax.init import from_uniform
from freedarts_jax.init import torch_init
from freedarts_jax.init import uniform
from freedarts_jax.init import uniform_size
from freedarts_jax.tree_util import Alpha


class Score(NamedTuple):
  """What a score call returns, in units of 2**log2_scale.

  R = r * 2**log2_scale + bias and ZEROS = scores * 2**log2_scale (`to_numpy`
  does the sums in float64). Unscaled networks give log2_scale = 0 and bias =
  0, r then being R itself; a `scaled` supernet (dtype=float32_scaled) keeps
  r and the scores near 1 and the magnitude in log2_scale.
  """

  r: jax.Array  # ()
  bias: jax.Array  # () the classifier biases' share of R
  log2_scale: jax.Array  # () int32
  scores: Alpha


# A compiled score kept on disk (exported.compile) returns a Score.
jax.export.register_namedtuple_serialization(
    Score, serialized_name='freedarts_jax.zeros.Score')

ScoreFn = Callable[..., Score]


class HostScore(NamedTuple):
  """A `Score` on the host in float64, any leading (seed) axes kept."""

  r: np.ndarray  # R = r * 2**log2_scale + bias
  scores: dict[str, np.ndarray]  # ZEROS = raw * 2**log2_scale
  raw: dict[str, np.ndarray]  # the scores as computed (the guards judge these)
  log2_scale: np.ndarray  # int


def to_numpy(score: Score) -> HostScore:
  """R, ZEROS and the unscaled scores of a `Score`, in float64 numpy."""
  k = np.asarray(score.log2_scale)
  r = np.ldexp(np.asarray(score.r, np.float64), k) + np.asarray(score.bias,
                                                                np.float64)
  raw = {name: np.asarray(v, np.float64) for name, v in score.scores.items()}
  scores = {name: np.ldexp(v, k[..., None, None]) for name, v in raw.items()}
  return HostScore(r, scores, raw, k)


def readout(out: jax.Array | layers.Scaled, batch: int
            ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(r, bias, log2_scale) of a supernet's output, R = r * 2**log2_scale + bias.

  Args:
    out: (B, classes) logits, or a `layers.Scaled` (logits without the
      classifier bias, in units of 2**log2_scale, and the (classes,) bias).
    batch: B, the images the logits are of.

  Returns:
    r: () the sum of the logits (bias excluded where scaled); bias: () the
    bias's share of R, B * sum(bias), 0 where not scaled; log2_scale: ()
    int32, 0 where not scaled.
  """
  if isinstance(out, layers.Scaled):
    return (jnp.sum(out.logits), batch * jnp.sum(out.bias),
            out.log2_scale)
  return jnp.sum(out), jnp.zeros((), out.dtype), jnp.zeros((), jnp.int32)


def make_score_fn(
    model: nn.Module, input_shape: tuple[int, ...], dtype: jnp.dtype,
    images: jax.Array | None = None,
    factor: Callable[[Alpha], jax.Array] | None = None,
) -> ScoreFn:
  """Returns jitted `score(variables, alpha, mask) -> Score`.

  Args:
    model: a supernet whose call is `model.apply(variables, x, alpha)`; it
      returns logits, or a `layers.Scaled` (the overflow-safe path).
    input_shape: (H, W, C) of one image of the target data set.
    dtype: compute dtype; variables and alpha are cast to it.
    images: (B, H, W, C) images to score on, closed over as a constant;
      None: one all-ones image.
    factor: g(alpha_eff) -> scalar that multiplies R before the gradient
      (None: 1). Not with a `scaled` supernet.

  Returns:
    A function of (variables, alpha, mask): alpha and mask are dicts of
    (edges, ops) arrays; the scored architecture weights are alpha * mask.
    It returns a `Score` in `dtype`; its r is R itself, without the factor.
    Shapes are checked with chex when the function is traced, not per call.
  """
  if images is not None:
    chex.assert_shape(images, (None, *input_shape))

  def objective(alpha_eff: Alpha, variables):
    if images is None:
      x = jnp.ones((1, *input_shape), dtype)  # (1, H, W, C)
    else:
      x = images.astype(dtype)  # (B, H, W, C)
    out = model.apply(variables, x, alpha_eff)
    r, bias, log2_scale = readout(out, x.shape[0])
    if factor is None:
      return r, (r, bias, log2_scale)
    if isinstance(out, layers.Scaled):
      raise ValueError("a factor needs R itself, not a scaled supernet's")
    return factor(alpha_eff).astype(dtype) * r, (r, bias, log2_scale)

  @jax.jit
  def score(variables, alpha: Alpha, mask: Alpha) -> Score:
    chex.assert_rank(jax.tree.leaves(alpha), 2)  # (edges, ops) each
    chex.assert_trees_all_equal_shapes(alpha, mask)
    variables = tree_util.linearise(tree_util.cast(variables, dtype))
    alpha_eff = jax.tree.map(lambda a, m: a.astype(dtype) * m.astype(dtype),
                             alpha, mask)
    (_, (r, bias, log2_scale)), grads = jax.value_and_grad(
        objective, has_aux=True)(alpha_eff, variables)
    scores = jax.tree.map(lambda a, g: jnp.abs(a * g), alpha_eff, grads)
    chex.assert_shape((r, bias, log2_scale), ())
    chex.assert_trees_all_equal_shapes(scores, alpha)
    return Score(r, bias, log2_scale, scores)

  return score


ALPHA_INITS = ('normal', 'ones')  # make_init_fn's alpha_init


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
  draw_alpha = jax.jit(_alpha_fn(alpha_shapes, alpha_init, alpha_scale))

  def init(key: jax.Array):
    params_key, alpha_key = jax.random.split(key)
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    alpha = draw_alpha(alpha_key)
    return torch_init(model.init, params_key, x, alpha), alpha

  return init


def make_seeds_fn(
    model: nn.Module, input_shape: tuple[int, ...],
    alpha_shapes: dict[str, tuple[int, int]], alpha_init: str,
    alpha_scale: float,
) -> Callable[[list[int]], tuple[dict, Alpha, Alpha]]:
  """Returns `draw(seeds) -> (variables, alpha, probe_alpha)` for a search.

  For each seed s, with `init_key, probe_key = split(key(s))`: the variables
  and alpha of `make_init_fn(...)(init_key)` and `perturb(alpha,
  probe_key)`, every leaf float32 with a leading seed axis (K, ...); bit for
  bit under XLA's default compile options (tests/zeros_test.py). The random
  draws of all seeds are one call, kept as an `exported` file where the
  compilation cache is on (the per-seed calls were seven executables, each
  traced and lowered: 0.3 s of a warm `make search`); the variables are
  sliced from their uniform draw on the host.

  Args: as make_init_fn's.
  """
  alpha_of = _alpha_fn(alpha_shapes, alpha_init, alpha_scale)
  x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
  alpha_spec = {name: jax.ShapeDtypeStruct(shape, jnp.float32)
                for name, shape in alpha_shapes.items()}
  size = uniform_size(model.init, x, alpha_spec)

  def draw_all(seeds: jax.Array):
    def one(seed):
      init_key, probe_key = jax.random.split(jax.random.key(seed))
      params_key, alpha_key = jax.random.split(init_key)
      alpha = alpha_of(alpha_key)
      return uniform(params_key, size), alpha, perturb(alpha, probe_key)
    return jax.vmap(one)(seeds)

  def draw(seeds: list[int]):
    seeds = np.asarray(seeds, jax.dtypes.canonicalize_dtype(np.int64))
    key = (f'{__name__}.make_seeds_fn {sorted(alpha_shapes.items())} '
           f'{alpha_init} {alpha_scale!r} uniform={size}')
    u, alpha, probe_alpha = exported.compile(draw_all, (seeds,), key)(seeds)
    variables = from_uniform(model.init, np.asarray(u), x, alpha_spec)
    return variables, alpha, probe_alpha

  return draw


def _alpha_fn(alpha_shapes, alpha_init: str, alpha_scale: float):
  """`alpha_key -> alpha` (float32, traceable) for make_init_fn."""

  def alpha_of(alpha_key: jax.Array) -> Alpha:
    alpha = {}
    for i, (name, shape) in enumerate(sorted(alpha_shapes.items())):
      if alpha_init == 'ones':
        alpha[name] = jnp.ones(shape, jnp.float32)
      else:
        draw = jax.random.normal(jax.random.fold_in(alpha_key, i), shape,
                                 jnp.float32)
        alpha[name] = jnp.abs(alpha_scale * draw)
    return alpha

  return alpha_of


@functools.partial(jax.jit, static_argnames=('factor',))
def perturb(alpha: Alpha, key: jax.Array, factor: float = 0.5) -> Alpha:
  """alpha times 1 +- factor, the sign drawn per entry: a guard's probe."""
  leaves, tree = jax.tree.flatten(alpha)
  out = []
  for i, a in enumerate(leaves):
    sign = jax.random.rademacher(jax.random.fold_in(key, i), a.shape, a.dtype)
    out.append(a * (1 + factor * sign))
  return jax.tree.unflatten(tree, out)
