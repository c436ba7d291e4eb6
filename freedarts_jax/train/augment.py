"""Image augmentation on the host, in numpy (and PIL for ImageNet's resizes).

Every function takes a `numpy.random.Generator`, so a batch's augmentation is
a pure function of the generator's seed; the input pipeline seeds it from
(seed, epoch, step). CIFAR (DARTS's recipe): random crop with 4 px zero
padding, horizontal flip, normalisation, cutout. ImageNet: random-resized
crop, flip, colour jitter, normalisation; evaluation: resize and centre crop.
"""

import numpy as np
from PIL import Image

from freedarts_jax import data


def crop_flip(images: np.ndarray, rng: np.random.Generator,
              padding: int = 4) -> np.ndarray:
  """Random crop of the zero-padded images back to their size, random flip.

  Args:
    images: (B, H, W, C), any dtype.
    rng: the batch's generator.
    padding: pixels of zeros on each side before cropping.

  Returns:
    (B, H, W, C), same dtype.
  """
  b, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding),
                           (0, 0)))
  dy = rng.integers(0, 2 * padding + 1, b)
  dx = rng.integers(0, 2 * padding + 1, b)
  flip = rng.random(b) < 0.5
  rows = dy[:, None] + np.arange(h)  # (B, H)
  cols = dx[:, None] + np.arange(w)  # (B, W)
  cols = np.where(flip[:, None], cols[:, ::-1], cols)
  return padded[np.arange(b)[:, None, None], rows[:, :, None],
                cols[:, None, :]]


def cutout(images: np.ndarray, rng: np.random.Generator,
           length: int) -> np.ndarray:
  """Zeroes one length x length square per image (clipped at the border).

  The square's centre is uniform over the image, as DARTS's Cutout; applied
  after normalisation, so zero is the mean colour.
  """
  if length <= 0:
    return images
  b, h, w, _ = images.shape
  cy, cx = rng.integers(0, h, b), rng.integers(0, w, b)
  half = length // 2  # rows cy - half .. cy + half - 1, as DARTS's Cutout
  in_y = np.abs(np.arange(h)[None, :] - cy[:, None] + 0.5) < half
  in_x = np.abs(np.arange(w)[None, :] - cx[:, None] + 0.5) < half
  mask = in_y[:, :, None] & in_x[:, None, :]  # (B, H, W)
  return np.where(mask[..., None], np.zeros((), images.dtype), images)


def cifar_train(images: np.ndarray, rng: np.random.Generator, dataset: str,
                cutout_length: int) -> np.ndarray:
  """DARTS's CIFAR training augmentation: uint8 -> float32 (B, H, W, 3)."""
  x = data.normalise(crop_flip(images, rng), dataset)
  return cutout(x, rng, cutout_length)


def _random_resized_box(rng, h: int, w: int) -> tuple[int, int, int, int]:
  """(top, left, height, width): area 8-100 %, aspect 3/4-4/3 (10 tries)."""
  area = h * w
  for _ in range(10):
    target = area * rng.uniform(0.08, 1.0)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw = int(round(np.sqrt(target * ratio)))
    ch = int(round(np.sqrt(target / ratio)))
    if 0 < cw <= w and 0 < ch <= h:
      return (int(rng.integers(0, h - ch + 1)),
              int(rng.integers(0, w - cw + 1)), ch, cw)
  side = min(h, w)  # fallback: the central square
  return (h - side) // 2, (w - side) // 2, side, side


def _jitter(x: np.ndarray, rng: np.random.Generator, strength: float,
            hue: float) -> np.ndarray:
  """Colour jitter in a random order; x float32 0-1 (H, W, 3).

  Brightness, contrast, saturation (factors 1 +- strength) and hue
  (+- hue of a turn).
  """
  grey_weights = np.asarray([0.299, 0.587, 0.114], np.float32)
  for t in rng.permutation(4):
    if t == 3:
      shift = rng.uniform(-hue, hue)
      hsv = np.asarray(Image.fromarray(
          (x * 255).round().astype(np.uint8)).convert('HSV'), np.int16)
      hsv[..., 0] = (hsv[..., 0] + int(round(shift * 255))) % 256
      x = np.asarray(Image.fromarray(hsv.astype(np.uint8), 'HSV').convert(
          'RGB'), np.float32) / 255.0
      continue
    f = np.float32(rng.uniform(1 - strength, 1 + strength))
    grey = x @ grey_weights  # (H, W)
    if t == 0:
      x = x * f
    elif t == 1:
      x = (x - grey.mean()) * f + grey.mean()
    else:
      x = (x - grey[..., None]) * f + grey[..., None]
    x = np.clip(x, 0.0, 1.0)
  return x


def imagenet_train(image: np.ndarray, rng: np.random.Generator, size: int,
                   jitter: float = 0.4, hue: float = 0.2) -> np.ndarray:
  """One image: random-resized crop to size x size, flip, colour jitter.

  Args:
    image: uint8 (H, W, 3) of any size.
    rng: this image's generator.
    size: output side (224).
    jitter: brightness, contrast and saturation strength (0: none).
    hue: hue strength in turns (0: none).

  Returns:
    float32 (size, size, 3) in 0-1 (normalise after).
  """
  top, left, ch, cw = _random_resized_box(rng, *image.shape[:2])
  crop = Image.fromarray(image[top:top + ch, left:left + cw]).resize(
      (size, size), Image.BILINEAR)
  x = np.asarray(crop, np.float32) / 255.0
  if rng.random() < 0.5:
    x = x[:, ::-1]
  if jitter > 0 or hue > 0:
    x = _jitter(x, rng, jitter, hue)
  return x


def imagenet_eval(image: np.ndarray, size: int) -> np.ndarray:
  """One image resized and centre-cropped to size x size; float32 0-1.

  The shorter side goes to size * 256 / 224, then a centre crop of
  size x size.
  """
  h, w = image.shape[:2]
  short = int(round(size * 256 / 224))
  nh, nw = (short, max(short, round(w * short / h))) if h <= w else (
      max(short, round(h * short / w)), short)
  img = Image.fromarray(image).resize((nw, nh), Image.BILINEAR)
  top, left = (nh - size) // 2, (nw - size) // 2
  return np.asarray(img, np.float32)[top:top + size, left:left + size] / 255.0
