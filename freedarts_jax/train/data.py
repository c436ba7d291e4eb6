"""Input pipelines: tensorflow-datasets sources, synthetic data, batches.

Data sets are read with `freedarts_jax.data.open_split` (tfds.data_source:
array_record files, random access, no TensorFlow, never downloads). CIFAR
splits are read into memory once; ImageNet images are decoded and augmented
per batch in a thread pool.

Determinism: the order of epoch e is a permutation drawn from (seed, e) and
the augmentation of step s of epoch e from (seed, e, s), so a run restarted at
any epoch sees exactly the batches an uninterrupted run sees.
"""

from collections.abc import Iterator
import concurrent.futures
import dataclasses
import os

import numpy as np
import tqdm

from freedarts_jax import data
from freedarts_jax import errors
from freedarts_jax.train import augment

# name -> (image side, classes, train split, test split)
DATASETS = {
    'cifar10': (32, 10, 'train', 'test'),
    'cifar100': (32, 100, 'train', 'test'),
    'imagenet2012': (224, 1000, 'train', 'validation'),
    'synthetic': (None, 10, 'train', 'test'),  # side: config.image_size
}


@dataclasses.dataclass
class Source:
  """One split: images in memory, or a tfds data source decoded on access.

  Attributes:
    dataset: data set name (for the normalisation).
    num_classes: label count.
    images: uint8 (N, H, W, 3) in memory, or None.
    labels: int32 (N,) in memory, or None.
    records: a tfds data source indexed by example (ImageNet), or None.
  """

  dataset: str
  num_classes: int
  images: np.ndarray | None = None
  labels: np.ndarray | None = None
  records: object = None

  def __len__(self) -> int:
    return len(self.labels) if self.records is None else len(self.records)

  def get(self, indices: np.ndarray) -> tuple[list | np.ndarray, np.ndarray]:
    """(images, labels int32) of the examples at `indices`."""
    if self.records is None:
      return self.images[indices], self.labels[indices]
    examples = [self.records[int(i)] for i in indices]
    return ([np.asarray(e['image']) for e in examples],
            np.asarray([e['label'] for e in examples], np.int32))


def synthetic(split: str, num_examples: int, image_size: int,
              num_classes: int, seed: int) -> Source:
  """Random uint8 images and labels of the right shape (smoke runs)."""
  rng = np.random.default_rng([seed, 0 if split == 'train' else 1])
  images = rng.integers(0, 256, (num_examples, image_size, image_size, 3),
                        np.uint8)
  labels = rng.integers(0, num_classes, num_examples).astype(np.int32)
  return Source('synthetic', num_classes, images, labels)


def tfds_source(name: str, split: str, data_dir: str | None) -> Source:
  """A prepared tfds split (`freedarts_jax.data.open_split`).

  Args:
    name: cifar10 | cifar100 | imagenet2012.
    split: tfds split name.
    data_dir: the tfds data folder (None: $TFDS_DATA_DIR or tfds's default).

  Returns:
    A Source; CIFAR is read into memory (tens of seconds for 50,000 images).

  Raises:
    data.Unavailable: at once, with the reason and the command to run.
  """
  records = data.open_split(
      name, split, data_dir, purpose=f'training on {name}',
      instead='Training never downloads; use --config.dataset=synthetic for '
              'a smoke run.')
  num_classes = DATASETS[name][1]
  if name == 'imagenet2012':
    return Source(name, num_classes, records=records)
  n = len(records)
  images = np.empty((n, 32, 32, 3), np.uint8)
  labels = np.empty((n,), np.int32)
  for i in tqdm.trange(n, desc=f'reading {name} {split}', leave=False,
                       disable=n < 5000):
    example = records[i]  # ds[i]: mock data's batched access is broken
    images[i], labels[i] = example['image'], example['label']
  return Source(name, num_classes, images, labels)


def load(config, split: str) -> Source:
  """The train or test Source of config.dataset."""
  name = config.dataset
  if name not in DATASETS:
    raise errors.ConfigError('config.dataset: ' +
                             errors.one_of('dataset', name, DATASETS))
  if name == 'synthetic':
    n = config.synthetic_examples if split == 'train' else max(
        config.synthetic_examples // 4, 1)
    return synthetic(split, n, config.image_size, DATASETS[name][1],
                     config.seed)
  split_name = DATASETS[name][2 if split == 'train' else 3]
  return tfds_source(name, split_name, config.data_dir or None)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
  """The example order of one epoch: a permutation drawn from (seed, epoch)."""
  return np.random.default_rng([seed, epoch, 0]).permutation(n)


def steps_per_epoch(n: int, batch_size: int, cap: int = 0) -> int:
  """Full batches per epoch, at most cap when cap > 0.

  The last partial batch is dropped.
  """
  steps = n // batch_size
  return min(steps, cap) if cap > 0 else steps


class Pipeline:
  """Augmented training batches and padded test batches of one run.

  Args:
    config: the training config (dataset, image_size, cutout, seed,
      batch_size, eval_batch_size, jitter).
    train: the training Source.
    test: the test Source.
    workers: threads that decode and augment ImageNet images.
  """

  def __init__(self, config, train: Source, test: Source, workers: int = 0):
    self.config, self.train, self.test = config, train, test
    self._pool = concurrent.futures.ThreadPoolExecutor(
        workers or min(16, os.cpu_count() or 1))

  def _imagenet(self, images, rng, train: bool) -> np.ndarray:
    size = self.config.image_size
    if train:
      seeds = rng.integers(0, 2**63, len(images))
      out = self._pool.map(
          lambda a: augment.imagenet_train(
              a[0], np.random.default_rng(a[1]), size,
              self.config.jitter, self.config.jitter / 2),
          zip(images, seeds))
    else:
      out = self._pool.map(lambda im: augment.imagenet_eval(im, size), images)
    mean, std = (np.asarray(v, np.float32)
                 for v in data.NORMALISATION['imagenet2012'])
    return (np.stack(list(out)) - mean) / std

  def train_batch(self, epoch: int, step: int,
                  order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (B, H, W, 3) and labels int32 (B,) of one step."""
    b = self.config.batch_size
    images, labels = self.train.get(order[step * b:(step + 1) * b])
    rng = np.random.default_rng([self.config.seed, epoch, step + 1])
    if self.train.records is not None:
      return self._imagenet(images, rng, True), labels
    return augment.cifar_train(images, rng, self.train.dataset,
                               self.config.cutout), labels

  def train_batches(self, epoch: int, steps: int, first: int = 0
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Steps first..steps-1 of an epoch.

    The next batch is prepared while the current one trains.
    """
    order = epoch_order(self.config.seed, epoch, len(self.train))
    with concurrent.futures.ThreadPoolExecutor(1) as ahead:
      pending = None
      for step in range(first, steps):
        nxt = ahead.submit(self.train_batch, epoch, step, order)
        if pending is not None:
          yield pending.result()
        pending = nxt
      if pending is not None:
        yield pending.result()

  def test_batches(self) -> Iterator[tuple[np.ndarray, np.ndarray,
                                           np.ndarray]]:
    """(images, labels, weights) over the whole test split.

    The last batch is padded to full size with weight-0 copies of its first
    example.
    """
    b, n = self.config.eval_batch_size, len(self.test)
    for start in range(0, n, b):
      idx = np.arange(start, min(start + b, n))
      weights = np.zeros(b, np.float32)
      weights[:len(idx)] = 1
      idx = np.concatenate([idx, np.full(b - len(idx), idx[0])])
      images, labels = self.test.get(idx)
      if self.test.records is not None:
        yield self._imagenet(images, None, False), labels, weights
      else:
        yield data.normalise(images, self.test.dataset), labels, weights

  def close(self) -> None:
    """Shuts the augmentation thread pool down (without waiting)."""
    self._pool.shutdown(wait=False)
