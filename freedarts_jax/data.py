"""Data sets for every feature: normalisation, Gaussian batches, tfds reads.

Prepared data sets are read with `tfds.data_source` (array_record files,
random access, no TensorFlow needed) and never downloaded at run time;
preparing one (`tfds build NAME --data_dir=DIR --file_format=array_record`)
needs TensorFlow, so it is done once on a machine that has it. Every reason
a data set cannot be read becomes an `Unavailable` error that names the
reason and the command that fixes it.

Configs name the data sets as the papers do: the searches say 'imagenet',
the training pipeline 'imagenet2012' (tfds's name); `tfds_name` maps both.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import errors

# Per-channel mean and standard deviation of the training images (RGB, 0-1),
# by tfds name: CIFAR-10 and CIFAR-100 as DARTS's utils.py, ImageNet as
# torchvision. 'synthetic' (uniform random pixels) is the training
# pipeline's smoke data set.
NORMALISATION = {
    'cifar10': ((0.49139968, 0.48215827, 0.44653124),
                (0.24703233, 0.24348505, 0.26158768)),
    'cifar100': ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    'imagenet2012': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    'synthetic': ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
}
# A config's data set -> tfds builder name; None: tfds has no builder.
TFDS_NAMES = {'cifar10': 'cifar10', 'cifar100': 'cifar100',
              'imagenet': 'imagenet2012', 'imagenet2012': 'imagenet2012',
              'imagenet16': None}
# tfds name -> the archives `tfds build` expects in DIR/downloads/manual.
MANUAL = {'imagenet2012': ('ILSVRC2012_img_train.tar',
                           'ILSVRC2012_img_val.tar')}

# Unavailable.reason: why a data set cannot be read.
NO_BUILDER = 'no_builder'  # tfds has no builder for it (imagenet16)
NO_TFDS = 'no_tfds'  # tensorflow_datasets is not installed
NO_FOLDER = 'no_folder'  # the data_dir given does not exist
NOT_PREPARED = 'not_prepared'  # no prepared copy in the folder
WRONG_FORMAT = 'wrong_format'  # prepared, but not as array_record
UNREADABLE = 'unreadable'  # prepared as array_record, yet tfds fails

Batch = tuple[jax.Array, jax.Array]  # images (B, H, W, C), labels (B,)


class Unavailable(errors.DataError):
  """A data set that cannot be read; `reason` is one of the constants above.

  Callers that fall back to other data can tell a folder that is missing or
  unreadable (NO_FOLDER, NOT_PREPARED, WRONG_FORMAT, UNREADABLE) from a set
  that cannot be had at all (NO_BUILDER, NO_TFDS).
  """

  def __init__(self, message: str, reason: str):
    super().__init__(message)
    self.reason = reason


def tfds_name(dataset: str) -> str | None:
  """tfds builder name of a config's data set (None: no builder)."""
  return TFDS_NAMES.get(dataset, dataset)


def normalise(images: np.ndarray, dataset: str) -> np.ndarray:
  """uint8 (B, H, W, 3) -> float32, (x / 255 - mean) / std per channel.

  Args:
    images: pixels 0-255, any integer or float dtype.
    dataset: a key of TFDS_NAMES or NORMALISATION.

  Returns:
    float32 array of the same shape.
  """
  stats = NORMALISATION[tfds_name(dataset)]
  mean, std = (np.asarray(v, np.float32) for v in stats)
  return (images.astype(np.float32) / 255.0 - mean) / std


def gaussian_batch(key: jax.Array, batch_size: int,
                   input_shape: tuple[int, ...], num_classes: int) -> Batch:
  """N(0, 1) images and uniform labels: for tests, not for results.

  Returns:
    images (B, *input_shape) float32 and labels (B,) int32, drawn from the
    two halves of `key`.
  """
  image_key, label_key = jax.random.split(key)
  images = jax.random.normal(image_key, (batch_size, *input_shape),
                             jnp.float32)
  labels = jax.random.randint(label_key, (batch_size,), 0, num_classes,
                              jnp.int32)
  return images, labels


def _folder(data_dir: str | None) -> str:
  """The folder tfds reads: data_dir, else $TFDS_DATA_DIR, else its default."""
  return data_dir or os.environ.get('TFDS_DATA_DIR') or (
      '~/tensorflow_datasets')


def _prepare(name: str, data_dir: str | None) -> str:
  """How to prepare `name` as array_record where the loader reads it."""
  folder = data_dir or os.environ.get('TFDS_DATA_DIR')
  build = (f'`tfds build {name} --data_dir={folder or "DIR"} '
           '--file_format=array_record`')
  if name in MANUAL:
    manual = os.path.join(folder or 'DIR', 'downloads', 'manual')
    how = (f'put {" and ".join(MANUAL[name])} (from image-net.org, after '
           f'registering) in {manual}, then run {build} on a machine with '
           'TensorFlow')
  else:
    how = (f'run {build} once on a machine with TensorFlow and internet '
           'access')
  if folder:
    return how + (' and' if name in MANUAL else ', then') + (
        ' copy the folder here')
  return how + ', copy DIR here and pass --config.data_dir=DIR'


def _problem(reason: str, dataset: str, data_dir: str | None,
             cause: str) -> str:
  """What is wrong and what fixes it, for one `reason`."""
  name = tfds_name(dataset)
  if reason == NO_BUILDER:
    known = sorted(d for d, n in TFDS_NAMES.items() if n)
    return (f'tfds has no builder for {dataset!r}, so it cannot be prepared '
            f'or read (data sets with one: {", ".join(known)})')
  if reason == NO_TFDS:
    return ('tensorflow_datasets is not installed: `pip install '
            'tensorflow-datasets` (reading needs no TensorFlow)')
  if reason == NO_FOLDER:
    return (f'the data folder {data_dir} does not exist; '
            f'{_prepare(name, data_dir)}')
  if reason == WRONG_FORMAT:
    return (f'{name} in {_folder(data_dir)} is prepared as {cause}, which '
            'tfds.data_source cannot read (it reads array_record and needs '
            f'no TensorFlow): prepare it again with `tfds build {name} '
            f'--data_dir={data_dir or "DIR"} --file_format=array_record`')
  if reason == UNREADABLE:
    return (f'{name} in {_folder(data_dir)} is prepared as array_record but '
            f'tfds cannot read it ({cause}); {_prepare(name, data_dir)}')
  return (f'{name} is not prepared in {_folder(data_dir)}; '
          f'{_prepare(name, data_dir)}')


def _diagnose(tfds, name: str, data_dir: str | None) -> tuple[str, str]:
  """(reason, format) of a split that tfds.data_source failed to open."""
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
      return NOT_PREPARED, ''
    file_format = builder.info.file_format.value
  except Exception:  # noqa: BLE001  (tfds raises many kinds here)
    return NOT_PREPARED, ''
  if file_format != 'array_record':
    return WRONG_FORMAT, file_format
  return UNREADABLE, file_format


def open_split(dataset: str, split: str, data_dir: str | None, *,
               purpose: str = '', instead: str = ''):
  """A prepared tfds split as a random-access data source.

  Nothing is downloaded.

  Args:
    dataset: a config's data set name (a key of TFDS_NAMES).
    split: tfds split name ('train', 'test', 'validation').
    data_dir: the tfds data folder; '' or None: $TFDS_DATA_DIR, else
      ~/tensorflow_datasets.
    purpose: who needs the data; opens the error message.
    instead: what works without the data; closes the error message.

  Returns:
    The tfds data source: `len(source)`, and `source[i]` a dict with
    'image' uint8 (H, W, 3) and 'label'.

  Raises:
    Unavailable: the reason (see the constants) and the command to run.
  """
  data_dir = data_dir or None

  def fail(reason: str, cause: str = '') -> Unavailable:
    text = _problem(reason, dataset, data_dir, cause)
    text = f'{purpose}: {text}.' if purpose else f'{text}.'
    return Unavailable(f'{text} {instead}'.strip(), reason)

  name = tfds_name(dataset)
  if name is None:
    raise fail(NO_BUILDER)
  if data_dir and not os.path.isdir(data_dir):
    raise fail(NO_FOLDER)
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise fail(NO_TFDS) from e
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir,
                            download=False)
  except Exception as e:  # noqa: BLE001  (tfds raises many kinds here)
    reason, file_format = _diagnose(tfds, name, data_dir)
    cause = str(e).splitlines()[0] if reason == UNREADABLE else file_format
    raise fail(reason, cause) from e


def labelled_batch(dataset: str, batch_size: int, seed: int,
                   data_dir: str | None,
                   input_shape: tuple[int, ...] | None = None, *,
                   purpose: str = '', instead: str = '',
                   ) -> tuple[np.ndarray, np.ndarray]:
  """A seeded random batch of training images, normalised.

  The examples are drawn without replacement from the train split by
  `numpy.random.default_rng(seed)`, scaled to 0-1 and normalised per
  channel (NORMALISATION); an image whose shape is not input_shape is
  resized to it (bilinear).

  Args:
    dataset: a config's data set name (a key of TFDS_NAMES).
    batch_size: examples in the batch.
    seed: seed of the draw.
    data_dir: the tfds data folder, as for `open_split`.
    input_shape: (H, W, 3) of the network's input; None: as stored.
    purpose: who needs the data; opens the error message.
    instead: what works without the data; closes the error message.

  Returns:
    images float32 (B, H, W, 3) and labels int32 (B,), numpy.

  Raises:
    Unavailable: as `open_split`.
  """
  source = open_split(dataset, 'train', data_dir, purpose=purpose,
                      instead=instead)
  index = np.random.default_rng(seed).choice(len(source), batch_size,
                                             replace=False)
  examples = [source[int(i)] for i in index]  # mock data's batch access fails
  images = [normalise(np.asarray(e['image']), dataset) for e in examples]
  if input_shape is not None:
    images = [x if x.shape == tuple(input_shape) else np.asarray(
        jax.image.resize(x, input_shape, 'bilinear')) for x in images]
  labels = np.asarray([int(e['label']) for e in examples], np.int32)
  return np.stack(images), labels
