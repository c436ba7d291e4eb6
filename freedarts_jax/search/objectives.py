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

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from freedarts_jax import errors
from freedarts_jax import tree_util
from freedarts_jax import zeros

OBJECTIVES = ('zeros', 'snip', 'grasp')
DATA = ('tfds', 'synthetic')

# dataset -> tfds builder name; None where tfds has no builder.
TFDS_NAMES = {'cifar10': 'cifar10', 'cifar100': 'cifar100',
              'imagenet': 'imagenet2012', 'imagenet16': None}
# Per-channel mean and standard deviation of the training images (0..1).
_NORMALISE = {
    'cifar10': ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    'cifar100': ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    'imagenet': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

Batch = tuple[jax.Array, jax.Array]  # images (B, H, W, C), labels (B,) int32


def synthetic_batch(key: jax.Array, batch_size: int,
                    input_shape: tuple[int, ...], num_classes: int) -> Batch:
  """Standard-normal images and uniform labels: for tests, not for results."""
  image_key, label_key = jax.random.split(key)
  images = jax.random.normal(image_key, (batch_size, *input_shape),
                             jnp.float32)  # (B, H, W, C)
  labels = jax.random.randint(label_key, (batch_size,), 0, num_classes,
                              jnp.int32)  # (B,)
  return images, labels


def _missing(config, why: str) -> errors.DataError:
  name = TFDS_NAMES.get(config.dataset) or config.dataset
  who = (f'config.objective={config.objective}' if config.objective != 'zeros'
         else 'config.zeros_input=data')
  return errors.DataError(
      f'{who} needs a labelled batch of '
      f'{config.dataset} and {why}. Prepare the data set on a machine with '
      f'TensorFlow (`tfds build {name} --data_dir=DIR`, then copy DIR here '
      'and pass --config.data_dir=DIR), or pass --config.data=synthetic for '
      'a run whose scores mean nothing (random images and labels; the result '
      'says so), or use --config.objective=zeros with '
      '--config.zeros_input=ones, which needs no data.')


def tfds_batch(config: ml_collections.ConfigDict, batch_size: int,
               input_shape: tuple[int, ...]) -> Batch:
  """`batch_size` training images of config.dataset from a prepared tfds set.

  The examples are drawn without replacement with a generator seeded by
  config.seed, scaled to 0..1, resized to input_shape and normalised per
  channel. Raises errors.DataError (with what to do) when tensorflow_datasets
  is not installed or the data set is not prepared under config.data_dir.
  """
  name = TFDS_NAMES.get(config.dataset)
  if name is None:
    raise _missing(config, 'tfds has no builder for it')
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise _missing(config, 'tensorflow_datasets is not installed') from e
  try:
    source = tfds.data_source(name, split='train',
                              data_dir=config.data_dir or None,
                              download=False)
  except Exception as e:  # tfds raises several types for a missing set
    raise _missing(config, f'tfds could not open it ({e})') from e
  rng = np.random.default_rng(config.seed)
  index = rng.choice(len(source), batch_size, replace=False)
  examples = [source[int(i)] for i in index]
  images = np.stack([np.asarray(x['image'], np.float32) / 255.0
                     for x in examples])  # (B, h, w, 3)
  mean, std = _NORMALISE[config.dataset]
  images = (images - np.asarray(mean, np.float32)) / np.asarray(std,
                                                                np.float32)
  images = jax.image.resize(jnp.asarray(images, jnp.float32),
                            (batch_size, *input_shape), 'bilinear')
  labels = jnp.asarray([int(x['label']) for x in examples], jnp.int32)
  return images, labels


def needs_batch(config: ml_collections.ConfigDict) -> bool:
  """Whether the search scores on a batch: snip, grasp or zeros_input=data."""
  return config.objective != 'zeros' or config.zeros_input == 'data'


def load_batch(config: ml_collections.ConfigDict,
               input_shape: tuple[int, ...], num_classes: int) -> Batch:
  """The labelled batch that config.data names."""
  if config.data == 'synthetic':
    key = jax.random.fold_in(jax.random.key(config.seed), 0x5eed)
    return synthetic_batch(key, config.batch_size, input_shape, num_classes)
  return tfds_batch(config, config.batch_size, input_shape)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean cross-entropy (PyTorch's CrossEntropyLoss); logits (B, classes)."""
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=-1))


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
  """
  if objective not in ('snip', 'grasp'):
    raise ValueError(f'unknown objective {objective!r}')
  images, labels = batch

  def loss(alpha_eff, variables):
    logits = model.apply(variables, images.astype(dtype), alpha_eff)
    return cross_entropy(logits, labels)

  @jax.jit
  def score(variables, alpha: tree_util.Alpha,
            mask: tree_util.Alpha) -> zeros.Score:
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
    return zeros.Score(value, jnp.zeros((), dtype), jnp.zeros((), jnp.int32),
                       scores)

  return score
