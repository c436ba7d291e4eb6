"""The optimiser, learning-rate schedules and the jitted train and eval steps.

Design: docs/design.md section 4.4 (evaluation networks). PyTorch's
SGD as DARTS uses it: the gradient is clipped to a global norm, weight decay
is added to it, then momentum (optionally Nesterov). Schedules change the
rate once per epoch, as DARTS's schedulers stepped per epoch.

The steps are jitted over a `jax.make_mesh` of the local devices: the batch
is split along 'data', the state replicated; BatchNorm's batch statistics
are means over the global batch, so any device count computes the same
step (one device is the degenerate case).
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import optax

from freedarts_jax import runtime
from freedarts_jax.train import model as model_lib

SCHEDULES = ('cosine', 'linear', 'step')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Recipe:
  """The hashable training settings the compiled steps depend on."""

  learning_rate: float
  lr_min: float
  lr_schedule: str
  lr_decay_rate: float
  lr_decay_epochs: int
  warmup_epochs: int
  momentum: float
  nesterov: bool
  weight_decay: float
  grad_clip: float
  label_smoothing: float
  auxiliary_weight: float
  drop_path: float
  epochs: int
  steps_per_epoch: int
  dtype: str

  @classmethod
  def from_config(cls, config, steps_per_epoch: int) -> 'Recipe':
    """The recipe's fields from a training config (configs/train_*.py)."""
    fields = {f.name for f in dataclasses.fields(cls)} - {'steps_per_epoch'}
    return cls(steps_per_epoch=steps_per_epoch,
               **{k: config[k] for k in fields})


def _epoch_schedule(recipe: Recipe) -> optax.Schedule:
  """The rate as a function of the epoch e = 0, 1, ..., epochs - 1.

  cosine: lr_min + (lr - lr_min) (1 + cos(pi e / E)) / 2 (optax's cosine
  decay with alpha = lr_min / lr); linear: lr (1 - e / E), not below lr_min;
  step: lr * lr_decay_rate ** (e // lr_decay_epochs) (optax's staircase
  exponential decay); times a linear warm-up factor (e + 1) / warmup_epochs
  over the first warmup_epochs (1 after them).
  """
  lr, epochs = recipe.learning_rate, recipe.epochs
  if recipe.lr_schedule == 'cosine':
    main = optax.cosine_decay_schedule(lr, epochs, recipe.lr_min / lr)
  elif recipe.lr_schedule == 'linear':
    linear = optax.linear_schedule(lr, 0.0, epochs)
    main = lambda e: jnp.maximum(linear(e), recipe.lr_min)
  else:
    main = optax.exponential_decay(lr, recipe.lr_decay_epochs,
                                   recipe.lr_decay_rate, staircase=True)
  if not recipe.warmup_epochs:
    return main
  warm = recipe.warmup_epochs
  factor = optax.linear_schedule(1 / warm, 1.0, warm - 1)
  return lambda e: main(e) * factor(e)


def _epoch(recipe: Recipe, step: jax.Array) -> jax.Array:
  """The epoch of an optimiser step, float32 ()."""
  return (jnp.asarray(step, jnp.int32) // recipe.steps_per_epoch).astype(
      jnp.float32)


def learning_rate(recipe: Recipe, step: jax.Array) -> jax.Array:
  """The rate at an optimiser step: constant within an epoch, float32 ().

  DARTS's schedulers step once per epoch, so the optax schedule of
  `_epoch_schedule` is evaluated at step // steps_per_epoch.
  """
  return jnp.asarray(_epoch_schedule(recipe)(_epoch(recipe, step)),
                     jnp.float32)


def optimizer(recipe: Recipe) -> optax.GradientTransformation:
  """Clip, weight decay, SGD with momentum (PyTorch's order)."""
  parts = []
  if recipe.grad_clip > 0:
    parts.append(optax.clip_by_global_norm(recipe.grad_clip))
  if recipe.weight_decay > 0:
    parts.append(optax.add_decayed_weights(recipe.weight_decay))
  parts.append(optax.sgd(functools.partial(learning_rate, recipe),
                         recipe.momentum or None, recipe.nesterov))
  return optax.chain(*parts)


def drop_path_rate(recipe: Recipe, step: jax.Array) -> jax.Array:
  """DARTS's schedule: drop_path * epoch / epochs, float32 ()."""
  ramp = optax.linear_schedule(0.0, recipe.drop_path, recipe.epochs)
  return jnp.asarray(ramp(_epoch(recipe, step)), jnp.float32)


def _cross_entropy(logits, labels, smoothing: float) -> jax.Array:
  """Mean cross-entropy with label smoothing; float32 (B,) -> ()."""
  logits = logits.astype(jnp.float32)
  target = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
  if smoothing > 0:
    target = optax.smooth_labels(target, smoothing)
  return jnp.mean(optax.softmax_cross_entropy(logits, target))


@functools.lru_cache(maxsize=2)
def make_steps(train_model: nn.Module, eval_model: nn.Module, recipe: Recipe,
               mesh: jax.sharding.Mesh):
  """(train_step, eval_step), jitted over `mesh`; the last 2 sets kept.

  train_step(state, images, labels) -> (state, {'loss', 'correct'}) with
  state {'params', 'batch_stats', 'opt_state', 'step', 'rng'}; eval_step(
  state, images, labels, weights) -> {'loss', 'correct', 'count'} sums.
  """
  tx = optimizer(recipe)
  dtype = DTYPES[recipe.dtype]
  replicated = NamedSharding(mesh, P())
  data = NamedSharding(mesh, P('data'))

  def loss_fn(params, state, images, labels):
    cast = jax.tree.map(lambda p: p.astype(dtype), params)
    key = jax.random.fold_in(jax.random.wrap_key_data(state['rng']),
                             state['step'])
    logits, aux, stats = model_lib.train_forward(
        train_model, {'params': cast, 'batch_stats': state['batch_stats']},
        images.astype(dtype), drop_path_rate(recipe, state['step']), key)
    loss = _cross_entropy(logits, labels, recipe.label_smoothing)
    total = loss
    if aux is not None and recipe.auxiliary_weight > 0:
      total = total + recipe.auxiliary_weight * _cross_entropy(
          aux, labels, recipe.label_smoothing)
    correct = jnp.sum(jnp.argmax(logits, -1) == labels, dtype=jnp.int32)
    return total, (stats, loss, correct)

  def train_step(state, images, labels):  # images (B, H, W, 3), labels (B,)
    grads, (stats, loss, correct) = jax.grad(loss_fn, has_aux=True)(
        state['params'], state, images, labels)
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    new = {**state, 'params': optax.apply_updates(state['params'], updates),
           'batch_stats': stats, 'opt_state': opt_state,
           'step': state['step'] + 1}
    return new, {'loss': loss, 'correct': correct}

  def eval_step(state, images, labels, weights):
    variables = {'params': jax.tree.map(lambda p: p.astype(dtype),
                                        state['params']),
                 'batch_stats': state['batch_stats']}
    logits = model_lib.predict(eval_model, variables,
                               images.astype(dtype)).astype(jnp.float32)
    target = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
    losses = optax.softmax_cross_entropy(logits, target)
    hit = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {'loss': jnp.sum(losses * weights),
            'correct': jnp.sum(hit * weights), 'count': jnp.sum(weights)}

  # On CPU without XLA's YNN fusions: a third of the memory, and with the
  # 'shift_vjp' depthwise form the same speed (runtime.compiler_options).
  train = jax.jit(train_step, in_shardings=(replicated, data, data),
                  out_shardings=(replicated, replicated),
                  compiler_options=runtime.compiler_options(
                      mesh.devices.flat[0].platform, 'weight_gradients'))
  evaluate = jax.jit(eval_step, in_shardings=(replicated, data, data, data),
                     out_shardings=replicated)
  return train, evaluate, tx
