"""freedarts_jax.data: normalisation, Gaussian batches and the tfds loader.

tfds data cannot be fetched here: the reads use `tfds.testing.mock_data`,
the errors folders made by the tests (empty, missing, or holding a data set
prepared as TFRecord, i.e. its dataset_info.json without array_record).
"""

import json
import pathlib
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from freedarts_jax import data
from freedarts_jax.train import augment

BUILD = '--file_format=array_record`'


def test_one_normalisation_table_with_darts_cifar10_statistics():
  mean, std = data.NORMALISATION['cifar10']
  assert std == (0.24703233, 0.24348505, 0.26158768)  # DARTS's utils.py
  pixel = np.round(np.asarray(mean) * 255).astype(np.uint8)
  out = data.normalise(np.broadcast_to(pixel, (2, 4, 4, 3)), 'cifar10')
  assert out.dtype == np.float32 and np.abs(out).max() < 0.01
  # the searches' 'imagenet' and training's 'imagenet2012' are one set
  assert data.tfds_name('imagenet') == data.tfds_name('imagenet2012') == (
      'imagenet2012')
  np.testing.assert_array_equal(data.normalise(pixel, 'imagenet'),
                                data.normalise(pixel, 'imagenet2012'))
  # the training augmentation normalises with the same table
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (3, 8, 8, 3), np.uint8)
  np.testing.assert_array_equal(
      augment.cifar_train(images, np.random.default_rng(1), 'cifar10', 0),
      data.normalise(augment.crop_flip(images, np.random.default_rng(1)),
                     'cifar10'))


def test_gaussian_batch_is_seeded_and_typed():
  x, y = data.gaussian_batch(jax.random.key(3), 5, (4, 4, 3), 7)
  u, v = data.gaussian_batch(jax.random.key(3), 5, (4, 4, 3), 7)
  assert x.shape == (5, 4, 4, 3) and x.dtype == np.float32
  assert y.shape == (5,) and y.dtype == np.int32 and 0 <= y.min() < 7
  np.testing.assert_array_equal(x, u)
  np.testing.assert_array_equal(y, v)


def _unavailable(*args, **kwargs) -> data.Unavailable:
  with pytest.raises(data.Unavailable) as info:
    data.open_split(*args, **kwargs)
  message = str(info.value)
  assert '\n' not in message
  return info.value


def test_a_missing_folder_names_itself_and_the_build_command(tmp_path):
  folder = tmp_path / 'nowhere'
  e = _unavailable('cifar10', 'train', str(folder), purpose='training',
                   instead='Use synthetic data.')
  assert e.reason == data.NO_FOLDER
  assert str(e).startswith(f'training: the data folder {folder} does not '
                           'exist;')
  assert f'`tfds build cifar10 --data_dir={folder} {BUILD}' in str(e)
  assert str(e).endswith('Use synthetic data.')


def test_an_empty_folder_is_not_prepared(tmp_path):
  e = _unavailable('cifar100', 'train', str(tmp_path))
  assert e.reason == data.NOT_PREPARED
  assert f'cifar100 is not prepared in {tmp_path}' in str(e)
  assert f'`tfds build cifar100 --data_dir={tmp_path} {BUILD}' in str(e)


def test_imagenet_names_the_manual_archives(tmp_path):
  e = _unavailable('imagenet', 'train', str(tmp_path))
  assert e.reason == data.NOT_PREPARED
  assert 'ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar' in str(e)
  assert str(tmp_path / 'downloads' / 'manual') in str(e)
  assert f'`tfds build imagenet2012 --data_dir={tmp_path} {BUILD}' in str(e)


@pytest.mark.parametrize('file_format, reason, says', [
    ('tfrecord', data.WRONG_FORMAT,
     'is prepared as tfrecord, which tfds.data_source cannot read'),
    ('array_record', data.UNREADABLE,
     "is prepared as array_record but tfds cannot read it (\"Trying to "
     "access `splits['train']`"),
])
def test_a_prepared_set_that_cannot_be_read(tmp_path, file_format, reason,
                                            says):
  """dataset_info.json as `tfds build` writes it, without the data files."""
  builder = tfds.builder('cifar10', data_dir=str(tmp_path))
  folder = pathlib.Path(builder.data_dir)
  folder.mkdir(parents=True)
  builder.info.write_to_directory(folder)
  info = json.loads((folder / 'dataset_info.json').read_text())
  assert info['fileFormat'] == 'tfrecord'  # tfds's default
  info['fileFormat'] = file_format
  (folder / 'dataset_info.json').write_text(json.dumps(info))
  e = _unavailable('cifar10', 'train', str(tmp_path))
  assert e.reason == reason
  assert f'cifar10 in {tmp_path} {says}' in str(e)
  assert f'`tfds build cifar10 --data_dir={tmp_path} {BUILD}' in str(e)


def test_a_set_without_a_builder_says_what_works_instead(tmp_path):
  e = _unavailable('imagenet16', 'train', str(tmp_path),
                   instead='Pass --config.data=synthetic.')
  assert e.reason == data.NO_BUILDER
  assert "tfds has no builder for 'imagenet16'" in str(e)
  assert 'tfds build' not in str(e)
  assert str(e).endswith('Pass --config.data=synthetic.')


def test_without_tensorflow_datasets(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)
  e = _unavailable('cifar10', 'train', str(tmp_path))
  assert e.reason == data.NO_TFDS
  assert 'pip install tensorflow-datasets' in str(e)


def test_labelled_batch_draws_normalises_and_resizes(tmp_path):
  with tfds.testing.mock_data(num_examples=10):
    source = data.open_split('cifar10', 'train', str(tmp_path))
    raw = [source[i] for i in range(10)]
    x, y = data.labelled_batch('cifar10', 4, 7, str(tmp_path))
    again, _ = data.labelled_batch('cifar10', 4, 7, str(tmp_path))
    other, _ = data.labelled_batch('cifar10', 4, 8, str(tmp_path))
    small, _ = data.labelled_batch('cifar10', 4, 7, str(tmp_path),
                                   (16, 16, 3))
  picks = np.random.default_rng(7).choice(10, 4, replace=False)
  want = data.normalise(np.stack([raw[i]['image'] for i in picks]),
                        'cifar10')
  np.testing.assert_array_equal(x, want)
  assert y.dtype == np.int32
  assert y.tolist() == [int(raw[i]['label']) for i in picks]
  np.testing.assert_array_equal(x, again)
  assert not np.array_equal(x, other)
  assert small.shape == (4, 16, 16, 3) and small.dtype == np.float32
  np.testing.assert_allclose(small.mean(), x.mean(), atol=0.05)
