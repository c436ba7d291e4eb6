"""Building blocks shared by the search spaces.

The modules here declare parameters only; their values come from
`freedarts_jax.init.torch_init`, which follows PyTorch's defaults.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

BN_MODES = ('train', 'eval', 'none')
BN_EPS = 1e-5


class BatchNorm(nn.Module):
  """BatchNorm over (N, H, W) with three modes.

  Attributes:
    mode: 'train' normalises with the batch's own statistics (biased variance,
      as PyTorch); 'eval' with the running statistics; 'none' is the identity
      (BatchNorm removed).
    affine: whether there is a learnable scale and bias.
  """

  mode: str = 'train'
  affine: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C)
    if self.mode == 'none':
      return x
    c = x.shape[-1]
    mean = self.variable('batch_stats', 'mean', jnp.zeros, (c,), jnp.float32)
    var = self.variable('batch_stats', 'var', jnp.ones, (c,), jnp.float32)
    if self.mode == 'train':
      mu = jnp.mean(x, axis=(0, 1, 2))
      sigma2 = jnp.mean(jnp.square(x - mu), axis=(0, 1, 2))
    else:
      mu, sigma2 = mean.value.astype(x.dtype), var.value.astype(x.dtype)
    y = (x - mu) * jax.lax.rsqrt(sigma2 + BN_EPS)
    if self.affine:
      scale = self.param('scale', nn.initializers.ones, (c,), jnp.float32)
      bias = self.param('bias', nn.initializers.zeros, (c,), jnp.float32)
      y = y * scale.astype(x.dtype) + bias.astype(x.dtype)
    return y


class Conv(nn.Module):
  """Conv2d (NHWC) with PyTorch's symmetric padding."""

  features: int
  kernel: int
  stride: int = 1
  dilation: int = 1
  groups: int = 1
  use_bias: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pad = self.dilation * (self.kernel - 1) // 2
    return nn.Conv(
        self.features,
        (self.kernel, self.kernel),
        strides=self.stride,
        padding=((pad, pad), (pad, pad)),
        kernel_dilation=self.dilation,
        feature_group_count=self.groups,
        use_bias=self.use_bias,
        name='conv',
    )(x)


class Dense(nn.Module):
  """Linear layer (a kernel and a bias)."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return nn.Dense(self.features, name='fc')(x)


class ReLUConvBN(nn.Module):
  """ReLU -> Conv -> BatchNorm, the NB201 and DARTS conv unit."""

  features: int
  kernel: int
  stride: int = 1
  bn_mode: str = 'train'
  affine: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = Conv(self.features, self.kernel, self.stride, name='conv')(nn.relu(x))
    return BatchNorm(self.bn_mode, self.affine, name='bn')(x)


def avg_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Average pool with 'same' padding that excludes the padding."""
  pad = (window - 1) // 2
  return nn.avg_pool(
      x,
      (window, window),
      strides=(stride, stride),
      padding=((pad, pad), (pad, pad)),
      count_include_pad=False,
  )


def mixed(alpha_row: jax.Array, outputs: Sequence[jax.Array]) -> jax.Array:
  """sum_o alpha[o] * outputs[o]: the raw-alpha mixture (no softmax)."""
  out = alpha_row[0] * outputs[0]
  for a, y in zip(alpha_row[1:], outputs[1:]):
    out = out + a * y
  return out


def global_avg_pool(x: jax.Array) -> jax.Array:  # (B, H, W, C) -> (B, C)
  return jnp.mean(x, axis=(1, 2))
