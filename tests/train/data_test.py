"""Input pipelines: augmentations, determinism, tfds mock ImageNet."""

import numpy as np
import pytest

from configs import train_imagenet
from configs import train_smoke
from freedarts_jax.train import augment
from freedarts_jax.train import data


def test_crop_flip_takes_a_window_of_the_padded_image():
  rng = np.random.default_rng(0)
  images = rng.integers(1, 256, (16, 8, 8, 3), np.uint8)
  out = augment.crop_flip(images, np.random.default_rng(1), padding=2)
  assert out.shape == images.shape and out.dtype == np.uint8
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  for b in range(16):
    windows = [w for dy in range(5) for dx in range(5)
               for w in (padded[b, dy:dy + 8, dx:dx + 8],
                         padded[b, dy:dy + 8, dx:dx + 8][:, ::-1])]
    assert any(np.array_equal(out[b], w) for w in windows)
  assert not np.array_equal(out, images)


def test_cutout_zeroes_a_square_of_the_given_side():
  x = np.ones((64, 32, 32, 3), np.float32)
  out = augment.cutout(x, np.random.default_rng(0), 16)
  zeros = (out[..., 0] == 0).sum(axis=(1, 2))
  assert zeros.max() == 16 * 16 and zeros.min() > 0
  assert (zeros < 256).any()  # squares near the border are clipped
  assert augment.cutout(x, np.random.default_rng(0), 0) is x


def test_batches_are_a_pure_function_of_seed_epoch_and_step():
  config = train_smoke.get_config()
  src = data.synthetic('train', 24, 32, 10, 0)
  a = data.Pipeline(config, src, src)
  b = data.Pipeline(config, src, src)
  first = list(a.train_batches(1, 3))
  again = list(b.train_batches(1, 3))
  for (x, y), (u, v) in zip(first, again, strict=True):
    np.testing.assert_array_equal(x, u)
    np.testing.assert_array_equal(y, v)
  assert first[0][0].shape == (8, 32, 32, 3)
  assert first[0][0].dtype == np.float32 and first[0][1].dtype == np.int32
  # Resuming at step 2 gives step 2's batch; another epoch another order.
  np.testing.assert_array_equal(next(b.train_batches(1, 3, first=2))[0],
                                first[2][0])
  assert not np.array_equal(data.epoch_order(0, 1, 24),
                            data.epoch_order(0, 2, 24))
  assert sorted(data.epoch_order(0, 1, 24)) == list(range(24))
  test = list(a.test_batches())
  assert sum(w.sum() for _, _, w in test) == 24  # every example once
  a.close()
  b.close()


def test_imagenet_pipeline_on_tfds_mock_data(tmp_path):
  tfds = pytest.importorskip('tensorflow_datasets')
  config = train_imagenet.get_config()
  config.image_size, config.batch_size, config.eval_batch_size = 32, 4, 3
  with tfds.testing.mock_data(num_examples=5):
    train = data.tfds_source('imagenet2012', 'train', str(tmp_path))
    test = data.tfds_source('imagenet2012', 'validation', str(tmp_path))
    pipe = data.Pipeline(config, train, test, workers=2)
    images, labels = next(pipe.train_batches(0, 1))
    again, _ = next(pipe.train_batches(0, 1))
    batches = list(pipe.test_batches())
    pipe.close()
  assert images.shape == (4, 32, 32, 3) and images.dtype == np.float32
  assert labels.shape == (4,) and labels.dtype == np.int32
  np.testing.assert_array_equal(images, again)
  assert [b[0].shape for b in batches] == [(3, 32, 32, 3)] * 2
  assert batches[1][2].tolist() == [1, 1, 0]


def test_imagenet_augmentations_keep_shape_and_range():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (50, 70, 3), np.uint8)
  x = augment.imagenet_train(image, np.random.default_rng(1), 24)
  assert x.shape == (24, 24, 3) and 0 <= x.min() and x.max() <= 1
  y = augment.imagenet_train(image, np.random.default_rng(2), 24)
  assert not np.array_equal(x, y)
  z = augment.imagenet_eval(image, 24)
  assert z.shape == (24, 24, 3) and z.dtype == np.float32
