"""What DARTS's evaluation network adds: the auxiliary head, drop-path.

Design: docs/design.md section 4.4 (evaluation networks). DARTS's
retraining recipe puts an auxiliary classifier on the output of the cell at
2 * layers // 3 (the second reduction) and weights its loss by 0.4; and it
drops, per image, the output of every op of a cell that is not an identity
with a probability that grows linearly over training (drop-path). Both are
options of `darts.Network` (`auxiliary=True`, the `drop_path` call argument);
the search uses neither.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import layers

AUX_FEATURES = (128, 768)  # the head's 1x1 and 2x2 convolution widths
# stem -> (average-pool window, stride, BatchNorm after the 2x2 convolution).
# The CIFAR head pools 8x8 to 2x2; DARTS's ImageNet head pools 7x7 to 2x2
# and has no BatchNorm after its last convolution (commented out in DARTS's
# code, and so in the networks its paper reports).
AUX_POOL = {'cifar': (5, 3, True), 'imagenet': (5, 2, False)}


def is_identity(op: str, reduction: bool, from_node: int) -> bool:
  """Whether an edge's op is the identity (drop-path leaves those alone).

  skip_connect is the identity except on the stride-2 edges of a reduction
  cell (those from the cell inputs), where it is a FactorizedReduce.
  """
  return op == 'skip_connect' and not (reduction and from_node < 2)


def drop_path(x: jax.Array, rate: jax.Array | float,
              key: jax.Array) -> jax.Array:
  """Zeroes whole images of x with probability `rate`, scales the rest.

  Args:
    x: (B, H, W, C) an op's output.
    rate: drop probability in [0, 1); a traced scalar is fine (it follows a
      schedule), 0 returns x unchanged.
    key: PRNG key.

  Returns:
    x * mask / (1 - rate), mask (B, 1, 1, 1) Bernoulli(1 - rate).
  """
  keep = 1.0 - jnp.asarray(rate, jnp.float32)
  mask = jax.random.bernoulli(key, keep, (x.shape[0], 1, 1, 1))
  return x * (mask.astype(x.dtype) / keep.astype(x.dtype))


class AuxiliaryHead(nn.Module):
  """DARTS's auxiliary classifier on the 2 * layers // 3 cell's output.

  ReLU, average pool (no padding), Conv1x1 -> 128, BN, ReLU, Conv2x2 ->
  768, [BN], ReLU, Linear(768 -> classes). Its BatchNorms are affine.
  DARTS excludes the head from the parameter count, so does this project.

  Attributes:
    num_classes: classifier outputs.
    stem: 'cifar' (8x8 input) or 'imagenet' (7x7 input).
    bn_mode: 'train' | 'eval' | 'none'.
  """

  num_classes: int
  stem: str = 'cifar'
  bn_mode: str = 'train'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C)
    """Logits (B, num_classes) from a cell's output x (B, H, W, C).

    Raises:
      ValueError: x is smaller than the pool window plus its stride.
    """
    window, stride, last_bn = AUX_POOL[self.stem]
    if min(x.shape[1:3]) < window + stride:
      raise ValueError(
          f'the auxiliary head needs an input of at least {window + stride}'
          f' px (it pools {window}x{window}, stride {stride}, to 2x2 or '
          f'more); got {x.shape[1]}x{x.shape[2]}: use larger images.')
    x = nn.relu(x)
    x = jax.lax.reduce_window(
        x, np.zeros((), x.dtype), jax.lax.add, (1, window, window, 1),
        (1, stride, stride, 1), 'VALID') / (window * window)
    x = layers.Conv(AUX_FEATURES[0], 1, name='conv1')(x)
    x = nn.relu(layers.BatchNorm(self.bn_mode, name='bn1')(x))
    x = layers.Conv(AUX_FEATURES[1], 2, name='conv2')(x)  # no padding
    if last_bn:
      x = layers.BatchNorm(self.bn_mode, name='bn2')(x)
    x = nn.relu(x)  # (B, H', W', 768); 1x1 at the reference sizes
    # The mean over H', W' is DARTS's flatten at 1x1 and keeps the
    # classifier at 768 inputs for larger images.
    return layers.Dense(self.num_classes, name='classifier')(
        layers.global_avg_pool(x))  # (B, classes)
