"""SNIP and GraSP on the architecture weights: ZEROS's labelled siblings.

Both score a supernet on one labelled mini-batch with the weights as drawn
(not |theta|) and BatchNorm as configured (train mode: the batch's own
statistics, as the release does). L is the mean cross-entropy of the batch.

    snip[e, o]  = |alpha[e, o] * dL/dalpha[e, o]|
    grasp[e, o] = alpha[e, o] * (H g)[e, o],  g = dL/dalpha, H = d2L/dalpha2

H g is a Hessian-vector product, the forward derivative of the gradient in
the direction g (`jax.jvp` of `jax.grad`); H is never formed. GraSP's own
score is -alpha * (H g) and the release keeps the op with the smallest one,
i.e. the largest alpha * (H g); `grasp` is that signed quantity, so the
schedules (which remove the lowest score and keep the highest) need no
change. Unlike the release's GraSP notebook, no optimizer step is taken on
alpha before the product: the score is the one of the alpha as drawn.

A score call returns a `zeros.Score` with r = L, bias = 0 and log2_scale = 0,
so the search, the guards and the seed ensembles treat it as ZEROS.
"""

from collections.abc import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from freedarts_jax import data
from freedarts_jax import tree_util
from freedarts_jax import zeros

OBJECTIVES = ('zeros', 'snip', 'grasp')
DATA = ('tfds', 'synthetic')

Batch = data.Batch  # images (B, H, W, C), labels (B,) int32


def needs_batch(config: ml_collections.ConfigDict) -> bool:
  """Whether the search scores on a batch: snip, grasp or zeros_input=data."""
  return config.objective != 'zeros' or config.zeros_input == 'data'


def load_batch(config: ml_collections.ConfigDict,
               input_shape: tuple[int, ...], num_classes: int) -> Batch:
  """The labelled batch that config.data names.

  data=tfds: config.batch_size training images of config.dataset from a
  prepared tfds set (`data.labelled_batch`: drawn with config.seed, resized
  to input_shape, normalised); data=synthetic: Gaussian images and uniform
  labels drawn from config.seed.

  Raises:
    data.Unavailable: data=tfds and the set cannot be read; the message
      says why and what to run, or which settings need no data.
  """
  if config.data == 'synthetic':
    key = jax.random.fold_in(jax.random.key(config.seed), 0x5eed)
    return data.gaussian_batch(key, config.batch_size, input_shape,
                               num_classes)
  who = (f'config.objective={config.objective}' if config.objective != 'zeros'
         else 'config.zeros_input=data')
  images, labels = data.labelled_batch(
      config.dataset, config.batch_size, config.seed, config.data_dir,
      input_shape, purpose=f'{who} needs a labelled batch of {config.dataset}',
      instead=('Or pass --config.data=synthetic for a run whose scores mean '
               'nothing (random images and labels; the result says so), or '
               'use --config.objective=zeros with --config.zeros_input=ones, '
               'which needs no data.'))
  return jnp.asarray(images), jnp.asarray(labels)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean cross-entropy (PyTorch's CrossEntropyLoss).

  Args:
    logits: (B, classes).
    labels: (B,) int32.

  Returns:
    A scalar in the logits' dtype.
  """
  return jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def hvp(f: Callable, x, v):
  """(grad f(x), H(x) v) for a scalar f of a pytree x, by jvp of grad."""
  return jax.jvp(jax.grad(f), (x,), (v,))


def make_objective_fn(objective: str, model: nn.Module, batch: Batch,
                      dtype: jnp.dtype) -> zeros.ScoreFn:
  """Returns jitted `score(variables, alpha, mask) -> zeros.Score`.

  Args:
    objective: 'snip' or 'grasp'.
    model: a supernet, `model.apply(variables, images, alpha) -> logits`
      (not a `scaled` one).
    batch: (images (B, H, W, C), labels (B,)); closed over as constants.
    dtype: compute dtype; variables, alpha and images are cast to it.

  Returns:
    A function of (variables, alpha, mask) returning a `zeros.Score` with
    r = L (), one score per entry of alpha; shapes are checked with chex
    when it is traced, not per call.
  """
  if objective not in ('snip', 'grasp'):
    raise ValueError(f'unknown objective {objective!r}')
  images, labels = batch
  chex.assert_rank(labels, 1)
  chex.assert_equal_shape_prefix((images, labels), 1)  # B

  def loss(alpha_eff, variables):
    logits = model.apply(variables, images.astype(dtype), alpha_eff)
    return cross_entropy(logits, labels)

  @jax.jit
  def score(variables, alpha: tree_util.Alpha,
            mask: tree_util.Alpha) -> zeros.Score:
    chex.assert_rank(jax.tree.leaves(alpha), 2)  # (edges, ops) each
    chex.assert_trees_all_equal_shapes(alpha, mask)
    variables = tree_util.cast(variables, dtype)
    alpha_eff = jax.tree.map(lambda a, m: a.astype(dtype) * m.astype(dtype),
                             alpha, mask)
    f = lambda a: loss(a, variables)
    if objective == 'snip':
      value, grads = jax.value_and_grad(f)(alpha_eff)
      scores = jax.tree.map(lambda a, g: jnp.abs(a * g), alpha_eff, grads)
    else:
      value, grads = jax.value_and_grad(f)(alpha_eff)
      _, hg = hvp(f, alpha_eff, jax.lax.stop_gradient(grads))
      scores = jax.tree.map(lambda a, h: a * h, alpha_eff, hg)
    chex.assert_shape(value, ())
    chex.assert_trees_all_equal_shapes(scores, alpha)
    return zeros.Score(value, jnp.zeros((), dtype), jnp.zeros((), jnp.int32),
                       scores)

  return score
