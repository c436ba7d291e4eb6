"""Building blocks shared by the search spaces.

The modules here declare parameters only; their values come from
`freedarts_jax.init.torch_init`, which follows PyTorch's defaults.
"""

import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

BN_MODES = ('train', 'eval', 'none')
BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # PyTorch's: running = 0.9 running + 0.1 batch


def batch_norm(x: jax.Array, mode: str, mean: jax.Array | None = None,
               var: jax.Array | None = None, scale: jax.Array | None = None,
               bias: jax.Array | None = None, eps: float = BN_EPS,
               reverse_only: bool = False) -> jax.Array:
  """BatchNorm over (N, H, W), per channel, with PyTorch's eps by default.

  Args:
    x: (B, H, W, C).
    mode: 'train' normalises with the batch's own statistics (biased
      variance, as PyTorch); 'eval' with the running `mean` and `var`; 'none'
      returns x (BatchNorm removed).
    mean: running mean (C,), used in 'eval'.
    var: running variance (C,), used in 'eval'.
    scale: affine scale (C,) or None.
    bias: affine bias (C,) or None.
    eps: added to the variance (PyTorch's 1e-5; MobileNet uses 1e-3).
    reverse_only: in 'train', the same values (to rounding) with a written VJP
      (`train_batch_norm`): faster in a training step, but no forward mode
      (jax.jvp), which the grasp objective needs. See
      `updates_running_stats`.
  """
  if mode == 'none':
    return x
  if mode == 'train' and reverse_only:
    return train_batch_norm(x, scale, bias, eps)
  if mode == 'train':
    y, _ = _normalise(x, eps)
  else:
    mu, sigma2 = mean.astype(x.dtype), var.astype(x.dtype)
    y = (x - mu) * jax.lax.rsqrt(sigma2 + eps)
  return _affine(y, scale, bias)


def _normalise(x: jax.Array, eps: float,
               channel_mean=None) -> tuple[jax.Array, jax.Array]:
  """(x - mean) / sqrt(biased var + eps) per channel, and that 1 / sqrt.

  channel_mean: the per-channel mean over (B, H, W), (B, H, W, C) -> (C,);
  None: `jnp.mean`'s.
  """
  if channel_mean is None:
    channel_mean = functools.partial(jnp.mean, axis=(0, 1, 2))
  mu = channel_mean(x)
  sigma2 = channel_mean(jnp.square(x - mu))
  r = jax.lax.rsqrt(sigma2 + eps)
  return (x - mu) * r, r


def _summed_mean(x: jax.Array) -> jax.Array:
  """Per-channel mean over (B, H, W) by `channel_sum`, (C,), x's dtype.

  Accumulated in float32 at least, as `jnp.mean` does for bfloat16.
  """
  acc = jnp.promote_types(x.dtype, jnp.float32)
  return (channel_sum(x, acc) / (x.size // x.shape[-1])).astype(x.dtype)


def _affine(y: jax.Array, scale: jax.Array | None,
            bias: jax.Array | None) -> jax.Array:
  if scale is None:
    return y
  return y * scale.astype(y.dtype) + bias.astype(y.dtype)


def channel_sum(x: jax.Array, dtype=None) -> jax.Array:
  """Per-channel sum over (B, H, W) of a (B, H, W, C) array, fast on XLA CPU.

  `channel_sums` of the one array: equal to `jnp.sum(x, axis=(0, 1, 2),
  dtype=dtype)` up to the order of the additions.

  Args:
    x: (B, H, W, C).
    dtype: the accumulation dtype; None: x's.

  Returns:
    (C,), `dtype` or x's dtype.
  """
  return channel_sums([x], dtype)[0]


def channel_sums(xs, dtype=None) -> tuple[jax.Array, ...]:
  """Per-channel sums over (B, H, W) of same-shape arrays, fast on XLA CPU.

  On CPU one variadic reduction over H of all the arrays, each seen as
  (B, H, W * C), then one sum over (B, W) of each small remainder;
  elsewhere a `jnp.sum` each. XLA CPU runs the single reduction over the
  three leading axes of a narrow C about ten times slower than two steps
  (a (16, 32, 32, 108) product summed: 3.9-4.6 ms against 0.41 ms); one
  variadic reduction reads the operands' shared inputs once (the 9 tap
  sums of a 3 x 3 depthwise kernel gradient, (96, 32, 32, 36): 10.4 ms
  against 47 ms for 9 separate ones); and reducing over H (at most 32
  rows, under XLA CPU's tree-reduction threshold, with a (W * C)-wide
  accumulator that stays in cache) before B is 3-5x faster than over B
  first for a BatchNorm VJP's pair, (96, 32, 32, 108): 3.2 ms against 15
  ms (benchmarks/RESULTS.md, issue 16). The optimization barrier keeps
  XLA's simplifier from merging the two steps back into one. Equal to the
  `jnp.sum`s up to the order of the additions (tests/layers_test.py).
  Used only by the training step: its written VJPs, its BatchNorms' batch
  statistics (`train_batch_norm`, inside a custom VJP) and running
  statistics (under stop_gradient), so the search's and the proxies'
  values are untouched; not differentiable on CPU (JAX has no derivative
  of a variadic reduction).

  Args:
    xs: a sequence of (B, H, W, C) arrays of one shape and dtype.
    dtype: the accumulation dtype; None: the arrays'.

  Returns:
    A tuple of (C,) arrays, one per array, `dtype` or the arrays' dtype.
  """
  xs = [x.astype(dtype) if dtype is not None else x for x in xs]
  if jax.default_backend() != 'cpu':
    return tuple(jnp.sum(x, axis=(0, 1, 2)) for x in xs)
  b, h, w, c = xs[0].shape
  zero = jnp.zeros((), xs[0].dtype)
  rows = jax.lax.reduce(
      tuple(x.reshape(b, h, w * c) for x in xs), (zero,) * len(xs),
      lambda u, v: tuple(p + q for p, q in zip(u, v)), (1,))
  return tuple(jnp.sum(r.reshape(b, w, c), axis=(0, 1))
               for r in jax.lax.optimization_barrier(rows))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def train_batch_norm(x: jax.Array, scale: jax.Array | None,
                     bias: jax.Array | None, eps: float) -> jax.Array:
  """`batch_norm(x, 'train', ...)` with a written VJP: two sums, one pass.

  Autodiff of the batch statistics differentiates the mean and the variance
  through separate reductions over (B, H, W); with the normalised y kept,
  the cotangent g needs only sum(g) and sum(g * y) per channel:

      dx = scale / sqrt(var + eps) * (g - sum(g) / n - y * sum(g * y) / n),
      dscale = sum(g * y),  dbias = sum(g),

  n = B * H * W. On XLA CPU those reductions were 2.9 of the DARTS-V2
  training step's 7.5 thunk-seconds (benchmarks/RESULTS.md, issue 16); both
  are `channel_sums`. The forward's batch mean and variance are
  `channel_sum`s too (on CPU 9% of that step at batch 96), so forward
  values equal `batch_norm`'s to rounding, not bit for bit (the order of
  the additions differs); gradients equal autodiff's to rounding
  (tests/layers_test.py). No forward mode: a custom VJP has none.

  Args:
    x: (B, H, W, C).
    scale: affine scale (C,) or None (then bias is None too).
    bias: affine bias (C,) or None.
    eps: added to the variance.

  Returns:
    (B, H, W, C), x's dtype.
  """
  y, _ = _normalise(x, eps, _summed_mean)
  return _affine(y, scale, bias)


def _train_batch_norm_fwd(x, scale, bias, eps):
  y, r = _normalise(x, eps, _summed_mean)
  return _affine(y, scale, bias), (y, r, scale, bias)


def _train_batch_norm_bwd(eps, res, g):
  del eps
  y, r, scale, bias = res
  n = y.size // y.shape[-1]
  s1, s2 = channel_sums([g, g * y])  # (C,) each
  k = r if scale is None else r * scale.astype(y.dtype)
  dx = k * (g - s1 / n - y * (s2 / n))
  if scale is None:
    return dx, None, None
  return dx, s2.astype(scale.dtype), s1.astype(bias.dtype)


train_batch_norm.defvjp(_train_batch_norm_fwd, _train_batch_norm_bwd)


def probe(module: nn.Module, name: str, y: jax.Array) -> jax.Array:
  """y, or y * (1 + q) when the call is given a 'probes' collection.

  q is a zero variable of shape (B, 1, ..., 1, C): d loss / d q[n, c] is the
  sum over positions of y * d loss / d y, the per-channel term of the Fisher
  proxy (freedarts_jax.proxies). Without that collection (every ordinary
  call, and init) it returns y unchanged.
  """
  if module.is_initializing() or not (
      module.is_mutable_collection('probes')
      or module.has_variable('probes', name)):
    return y
  shape = (y.shape[0],) + (1,) * (y.ndim - 2) + (y.shape[-1],)
  q = module.variable('probes', name, jnp.zeros, shape, y.dtype).value
  return y * (1 + q)


def bn_stats(module: nn.Module, channels: int, mode: str):
  """Declares the running statistics of a BatchNorm (none in mode 'none')."""
  if mode == 'none':
    return None, None
  mean = module.variable('batch_stats', 'mean', jnp.zeros, (channels,),
                         jnp.float32).value
  var = module.variable('batch_stats', 'var', jnp.ones, (channels,),
                        jnp.float32).value
  return mean, var


def updates_running_stats(module: nn.Module, mode: str) -> bool:
  """Whether this call is a training step (`update_running_stats` acts).

  Mode 'train' with the 'batch_stats' collection mutable, not at init:
  only `train.model.train_forward` applies so. Such a step differentiates
  in reverse mode only, so its BatchNorms take `train_batch_norm`'s VJP.
  """
  return (mode == 'train' and not module.is_initializing()
          and module.is_mutable_collection('batch_stats'))


def cpu_training_step(module: nn.Module, mode: str) -> bool:
  """A training step (`updates_running_stats`) on the CPU backend.

  Where the step takes its CPU forms of the 1x1 convs (`matmul_nhwc`,
  `darts_ops.pointwise`); everything else keeps the search's.
  """
  return (jax.default_backend() == 'cpu'
          and updates_running_stats(module, mode))


def update_running_stats(module: nn.Module, x: jax.Array, mode: str) -> None:
  """Moves a BatchNorm's running statistics towards the batch's, as PyTorch.

  Only in a training step: mode 'train' with the 'batch_stats' collection
  mutable (`apply(..., mutable=['batch_stats'])`) and not at init; the
  search, which applies without it, is unchanged. Momentum BN_MOMENTUM; the
  running variance takes the unbiased batch variance (PyTorch's rule).

  Args:
    module: the module that declared the statistics with `bn_stats`.
    x: the BatchNorm's input (B, H, W, C) for this module's C channels.
    mode: the BatchNorm mode.
  """
  if not updates_running_stats(module, mode):
    return
  x = jax.lax.stop_gradient(x).astype(jnp.float32)
  n = x.size // x.shape[-1]
  mu = _summed_mean(x)  # train_batch_norm's batch mean, x in float32
  var = channel_sum(jnp.square(x - mu)) / max(n - 1, 1)
  for name, batch in (('mean', mu), ('var', var)):
    old = module.get_variable('batch_stats', name)
    module.put_variable('batch_stats', name,
                        (1 - BN_MOMENTUM) * old + BN_MOMENTUM * batch)


class BatchNorm(nn.Module):
  """BatchNorm module; see `batch_norm` for the modes."""

  mode: str = 'train'
  affine: bool = True
  eps: float = BN_EPS

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C)
    """x (B, H, W, C) normalised per channel (running stats updated)."""
    if self.mode == 'none':
      return x
    c = x.shape[-1]
    mean, var = bn_stats(self, c, self.mode)
    scale = bias = None
    if self.affine:
      scale = self.param('scale', nn.initializers.ones, (c,), jnp.float32)
      bias = self.param('bias', nn.initializers.zeros, (c,), jnp.float32)
    update_running_stats(self, x, self.mode)
    return batch_norm(x, self.mode, mean, var, scale, bias, self.eps,
                      reverse_only=updates_running_stats(self, self.mode))


def _nhwc_conv(x, kernel, strides, padding, lhs_dilation=(1, 1),
               rhs_dilation=(1, 1)):
  return jax.lax.conv_general_dilated(
      x, kernel, strides, padding, lhs_dilation, rhs_dilation,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
         padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
  """Conv (NHWC x, HWIO kernel), its VJP two canonical NHWC / HWIO convs.

  Equal to `jax.lax.conv_general_dilated(x, kernel, strides, padding,
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))`, gradients included (the
  same convolutions, written with explicit transposes). XLA CPU rewrites
  a convolution into the canonical form its fast (Eigen) path needs only in
  the top-level computation; the ones that autodiff emits for the gradients
  inside a `lax.switch` branch or a `lax.map` / `scan` body keep their
  transposed dimension labels and run on a generic path: a 3x3 conv of a
  (64, 32, 32, 16) batch took 1.04 CPU-s forward and backward in a switch
  against 0.08 with this VJP; four strided 3x3 convs' weight gradient
  0.91 s under lax.map against 0.037 s (benchmarks/RESULTS.md). At stride 1
  the VJP's convs are themselves `conv` and `kernel_grad`, whose VJPs are
  again these two: every order of reverse mode (grasp's Hessian-vector
  product) stays canonical. At other strides the second order is
  autodiff's. No forward mode (jax.jvp): a custom VJP has none.

  Args:
    x: (B, H, W, C_in).
    kernel: (kh, kw, C_in, C_out), x's dtype.
    strides: (sh, sw).
    padding: ((top, bottom), (left, right)), non-negative.

  Returns:
    (B, H_out, W_out, C_out), as lax.conv_general_dilated.
  """
  return _nhwc_conv(x, kernel, strides, padding)


def _conv_fwd(x, kernel, strides, padding):
  return conv(x, kernel, strides, padding), (x, kernel)


def _conv_bwd(strides, padding, residuals, g):
  x, kernel = residuals
  if strides == (1, 1):
    return (_input_grad(g, kernel, padding),
            kernel_grad(x, g, padding))
  pad_dx, pad_dk = [], []
  for d in range(2):
    size, k, s, (lo, _) = x.shape[1 + d], kernel.shape[d], strides[d], \
        padding[d]
    dilated = (g.shape[1 + d] - 1) * s + 1  # g with s - 1 zeros between
    pad_dx.append((k - 1 - lo, size - dilated + lo))
    pad_dk.append((lo, k - 1 - size - lo + dilated))
  # dx: g dilated by the stride, correlated with the flipped kernel (O, I).
  dx = _nhwc_conv(g, _flip(kernel), (1, 1), pad_dx, lhs_dilation=strides)
  # dkernel[i, j, c, o] = sum over b, h, w of x_padded[b, s h + i, s w + j,
  # c] g[b, h, w, o]: a conv over (H, W) with the batch as its features.
  return dx, _kernel_conv(x, g, pad_dk, strides)


def _flip(kernel: jax.Array) -> jax.Array:
  """(kh, kw, I, O) -> spatially flipped (kh, kw, O, I)."""
  return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


def _kernel_conv(x, g, padding, rhs_dilation=(1, 1)):
  """sum over b of x_padded's windows times g: (kh, kw, C_in, C_out)."""
  return _nhwc_conv(x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3),
                    (1, 1), padding,
                    rhs_dilation=rhs_dilation).transpose(1, 2, 0, 3)


def _input_grad(g: jax.Array, kernel: jax.Array, padding) -> jax.Array:
  """dL/dx of a stride-1 `conv` from its output cotangent g: a `conv`."""
  mirrored = tuple((k - 1 - lo, k - 1 - hi)
                   for k, (lo, hi) in zip(kernel.shape[:2], padding))
  return conv(g, _flip(kernel), (1, 1), mirrored)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def kernel_grad(x: jax.Array, g: jax.Array,
                padding: tuple[tuple[int, int], tuple[int, int]]
                ) -> jax.Array:
  """dL/dkernel of a stride-1 `conv(x, kernel, (1, 1), padding)`.

  kernel_grad[i, j, c, o] = sum over b, h, w of x_padded[b, h + i, w + j,
  c] g[b, h, w, o]: a canonical conv over (H, W) with the batch as its
  features. Bilinear in (x, g), with <dK, kernel_grad(x, g)> =
  <g, conv(x, dK)>, so its VJP is `conv`'s two forms again.

  Args:
    x: (B, H, W, C_in), the conv's input.
    g: (B, H_out, W_out, C_out), the conv output's cotangent.
    padding: the conv's ((top, bottom), (left, right)), each at most k - 1.

  Returns:
    (kh, kw, C_in, C_out), kh = H + top + bottom - H_out + 1 (kw alike).
  """
  return _kernel_conv(x, g, padding)


def _kernel_grad_fwd(x, g, padding):
  return kernel_grad(x, g, padding), (x, g)


def _kernel_grad_bwd(padding, residuals, dk):
  x, g = residuals
  return _input_grad(g, dk, padding), conv(x, dk, (1, 1), padding)


kernel_grad.defvjp(_kernel_grad_fwd, _kernel_grad_bwd)


conv.defvjp(_conv_fwd, _conv_bwd)


def _conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                          rhs_dilation, dimension_numbers, **unused):
  """nn.Conv's conv_general_dilated hook: `conv` (Conv checks its case)."""
  del lhs_dilation, rhs_dilation, dimension_numbers, unused
  return conv(lhs, rhs, tuple(window_strides),
              tuple(tuple(p) for p in padding))


def _matmul_conv(lhs, rhs, window_strides, padding, lhs_dilation,
                 rhs_dilation, dimension_numbers, **unused):
  """nn.Conv's conv_general_dilated hook: `matmul_nhwc` (Conv checks 1x1).

  nn.Conv's layouts are NHWC and HWIO, so rhs[0, 0] is (C_in, C_out).
  """
  del window_strides, padding, lhs_dilation, rhs_dilation, unused
  del dimension_numbers
  return matmul_nhwc(lhs, rhs[0, 0])


class Conv(nn.Module):
  """Conv2d (NHWC) with PyTorch's symmetric padding.

  canonical_vjp: gradients through `conv` (no dilation or groups): fast on
  XLA CPU inside loops and branches; no forward mode.
  matmul_vjp: a 1x1 conv as `matmul_nhwc` (the CPU training step's; no
  forward mode).
  """

  features: int
  kernel: int
  stride: int = 1
  dilation: int = 1
  groups: int = 1
  use_bias: bool = False
  canonical_vjp: bool = False
  matmul_vjp: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, H, W, C_in) -> (B, H / stride, W / stride, features)."""
    if self.canonical_vjp and (self.dilation, self.groups) != (1, 1):
      raise ValueError(
          f'canonical_vjp with dilation={self.dilation}, '
          f'groups={self.groups}: only dilation=1, groups=1')
    shape = (self.kernel, self.stride, self.dilation, self.groups)
    if self.matmul_vjp and shape != (1, 1, 1, 1):
      raise ValueError(
          f'matmul_vjp with kernel, stride, dilation, groups = {shape}: '
          'only a 1x1 conv (1, 1, 1, 1)')
    conv = _conv_general_dilated if self.canonical_vjp else None
    if self.matmul_vjp:
      conv = _matmul_conv
    pad = self.dilation * (self.kernel - 1) // 2
    y = nn.Conv(
        self.features,
        (self.kernel, self.kernel),
        strides=self.stride,
        padding=((pad, pad), (pad, pad)),
        kernel_dilation=self.dilation,
        feature_group_count=self.groups,
        use_bias=self.use_bias,
        conv_general_dilated=conv,
        name='conv',
    )(x)
    return probe(self, 'out', y)


@jax.custom_vjp
def matmul_nhwc(y: jax.Array, kernel: jax.Array) -> jax.Array:
  """A 1x1 conv as a matmul, (B, H, W, C) x (C, D) -> (B, H, W, D).

  Reverse mode only (a custom VJP): the kernel's gradient is summed from
  one (C, D) product per image, `sum_b y[b]^T g[b]`, which XLA CPU runs on
  the arrays as they lie; autodiff's single product over all B * H * W
  rows first copies y transposed, in the DARTS-V2 training step the
  largest copies left (a (96 * 32 * 32, 108) pair: 35.8 ms against 15.8
  ms; benchmarks/RESULTS.md, issue 16). Per-image products and their sum
  are float32 at least. Values and gradients equal autodiff's up to the
  order of the additions (tests/spaces/darts_test.py,
  tests/layers_test.py).

  Args:
    y: (B, H, W, C).
    kernel: (C, D), y's dtype.

  Returns:
    (B, H, W, D), y's dtype.
  """
  return jnp.einsum('bhwc,cd->bhwd', y, kernel)


def _matmul_nhwc_fwd(y, kernel):
  return matmul_nhwc(y, kernel), (y, kernel)


def _matmul_nhwc_bwd(residuals, g):
  y, kernel = residuals
  b, h, w, c = y.shape
  acc = jnp.promote_types(kernel.dtype, jnp.float32)
  per_image = jnp.einsum('bpc,bpd->bcd', y.reshape(b, h * w, c),
                         g.reshape(b, h * w, -1), preferred_element_type=acc)
  dy = jnp.einsum('bhwd,cd->bhwc', g, kernel)
  return dy, jnp.sum(per_image, axis=0).astype(kernel.dtype)


matmul_nhwc.defvjp(_matmul_nhwc_fwd, _matmul_nhwc_bwd)


class _DenseVars(nn.Module):
  """The kernel (in, out) and bias (out,) of a Dense layer."""

  features: int

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, jax.Array]:
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (in_features, self.features), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (self.features,),
                      jnp.float32)
    return kernel, bias


class Dense(nn.Module):
  """Linear layer (a kernel and a bias).

  Computed in x's and the kernel's promoted dtype.
  """

  features: int

  @nn.compact
  def __call__(self, x: jax.Array, split_bias: bool = False):
    """x @ kernel + bias; with split_bias the pair (x @ kernel, bias)."""
    kernel, bias = _DenseVars(self.features, name='fc')(x.shape[-1])
    dtype = jnp.result_type(x.dtype, kernel.dtype)
    y = x.astype(dtype) @ kernel.astype(dtype)  # (B, features)
    bias = bias.astype(dtype)
    return (y, bias) if split_bias else probe(self, 'out', y + bias)


class Scaled(NamedTuple):
  """A supernet's output on the overflow-safe path (dtype=float32_scaled).

  The logits are `logits * 2 ** log2_scale + bias`: the states were divided
  by powers of two on the way (see `rescale`), which `log2_scale` sums.
  """

  logits: jax.Array  # (B, classes), bias excluded, in units of 2**log2_scale
  log2_scale: jax.Array  # () int32
  bias: jax.Array  # (classes,)


def rescale(states: tuple[jax.Array, ...], log2_scale: jax.Array | None
            ) -> tuple[tuple[jax.Array, ...], jax.Array | None]:
  """Divides the states by one power of two near their largest |value|.

  The overflow-safe float32 path: a supernet calls this before every cell
  with all the states the cell reads, so each cell starts from values below
  1 in magnitude whatever the depth and alpha did to them. The divisor 2**k
  is a constant to autodiff (stop_gradient) and exact in binary floating
  point; k is added to `log2_scale`. Where the rest of the network is
  positively homogeneous (f(c x) = c f(x) for c > 0: no BatchNorm, or
  BatchNorm in eval mode with zero running mean, as under |theta| at
  initialisation) the output times 2**log2_scale, and its gradient in alpha,
  equal those of the unscaled network.

  Args:
    states: arrays that share the scale.
    log2_scale: the scale so far (() int32), or None: scaling off, the
      states come back unchanged.

  Returns:
    The scaled states and the new log2_scale.
  """
  if log2_scale is None:
    return states, None
  peak = jax.lax.stop_gradient(
      functools.reduce(jnp.maximum, [jnp.max(jnp.abs(s)) for s in states]))
  _, k = jnp.frexp(peak)  # peak = m * 2**k, 0.5 <= m < 1 (k = 0 for 0)
  k = k.astype(jnp.int32)
  return tuple(jnp.ldexp(s, -k) for s in states), log2_scale + k


class ReLUConvBN(nn.Module):
  """ReLU -> Conv -> BatchNorm, the NB201 and DARTS conv unit."""

  features: int
  kernel: int
  stride: int = 1
  bn_mode: str = 'train'
  affine: bool = True
  canonical_vjp: bool = False  # Conv's

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H / stride, W / stride, features)."""
    self.sow('intermediates', 'relu_in', x)  # NASWOT's activation codes
    # The CPU training step's 1x1 convs: no transposed copy for the kernel
    # gradient (matmul_nhwc; benchmarks/RESULTS.md, issue 16).
    matmul = ((self.kernel, self.stride) == (1, 1)
              and cpu_training_step(self, self.bn_mode))
    x = Conv(self.features, self.kernel, self.stride,
             canonical_vjp=self.canonical_vjp, matmul_vjp=matmul,
             name='conv')(nn.relu(x))
    return BatchNorm(self.bn_mode, self.affine, name='bn')(x)


def avg_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Average pool, 'same' padding excluded from the average.

  As PyTorch's count_include_pad=False.

  The divisor (how many real pixels each window covers) is a constant of the
  shape, built with numpy in x's dtype: Flax's own version divides by a pool
  of an untyped jnp.ones, which is float64 under x64 and silently promotes a
  float32 network to float64.
  """
  pad = (window - 1) // 2
  padding = ((0, 0), (pad, pad), (pad, pad), (0, 0))
  dims, strides = (1, window, window, 1), (1, stride, stride, 1)
  total = jax.lax.reduce_window(x, np.zeros((), x.dtype), jax.lax.add, dims,
                                strides, padding)
  h, w = x.shape[1:3]
  counts = np.zeros((1, h + 2 * pad, w + 2 * pad, 1))
  for i in range(0, h + 2 * pad - window + 1, stride):
    for j in range(0, w + 2 * pad - window + 1, stride):
      counts[0, i // stride, j // stride, 0] = (
          min(i + window, h + pad) - max(i, pad)) * (
              min(j + window, w + pad) - max(j, pad))
  counts = counts[:, :total.shape[1], :total.shape[2]]
  return total / jnp.asarray(counts, x.dtype)


# The forms every objective can take (jax.jvp included): a search's choices.
DEPTHWISE_IMPLS = ('auto', 'shift', 'conv')
# Reverse mode only: the CPU training step's form.
REVERSE_ONLY_DEPTHWISE = ('shift_vjp',)


def depthwise_impl(impl: str, reverse_only: bool = False) -> str:
  """'auto' -> 'shift' on CPU and 'conv' on GPU/TPU; the others unchanged.

  reverse_only: the caller never takes a jax.jvp (training): 'auto' on CPU
  is then 'shift_vjp'.

  Raises:
    ValueError: an unknown implementation.
  """
  valid = DEPTHWISE_IMPLS + REVERSE_ONLY_DEPTHWISE
  if impl not in valid:
    raise ValueError(f'unknown depthwise implementation {impl!r}; valid: '
                     f'{", ".join(valid)}')
  if impl == 'auto':
    if jax.default_backend() != 'cpu':
      return 'conv'
    return 'shift_vjp' if reverse_only else 'shift'
  return impl


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int = 1,
                   dilation: int = 1, impl: str = 'auto') -> jax.Array:
  """Depthwise k x k conv (one input channel per group), PyTorch padding.

  Three implementations, equal up to rounding (tested, values and
  gradients):
  - 'shift': a sum of k * k strided slices of the padded input, each times
    its per-channel weight, rematerialised (jax.checkpoint): the backward
    pass keeps x and the kernel and recomputes the slices, instead of
    keeping k * k copies of x (what ran a training step out of memory).
    XLA CPU's grouped convolution is slow, its kernel gradient most of all
    (a (96, 32, 32, 72) 3x3 depthwise conv: 2.7 CPU-s forward and backward
    against 0.37 for the slices, loaded 2-core CPU; benchmarks/RESULTS.md).
    Any order of autodiff, forward mode included.
  - 'shift_vjp': the same forward with a written VJP that keeps x and the
    kernel: the kernel gradient is one sum per tap, the input gradient the
    same sliced sum over the cotangent (stride-dilated) with the kernel
    flipped. The CPU training step's form (about 2x 'shift' there, with
    XLA's YNN fusions off; benchmarks/RESULTS.md). Reverse mode only: a
    custom VJP has no jax.jvp (the grasp objective needs one).
  - 'conv': the convolution primitive (feature_group_count = C), the fast
    form on GPU and TPU.
  'auto' is 'shift' on CPU and 'conv' elsewhere (`depthwise_impl`).

  Args:
    x: (B, H, W, C).
    kernel: (k, k, 1, C), HWIO.
    stride: spatial stride.
    dilation: kernel dilation.
    impl: 'auto' | 'shift' | 'shift_vjp' | 'conv'.

  Returns:
    (B, ceil(H / stride), ceil(W / stride), C), in x's dtype.

  Raises:
    ValueError: an unknown implementation.
  """
  return _depthwise(x, kernel, stride, dilation, depthwise_impl(impl))


@functools.partial(jax.jit, static_argnums=(2, 3, 4))  # traced once a shape
def _depthwise(x: jax.Array, kernel: jax.Array, stride: int, dilation: int,
               impl: str) -> jax.Array:
  kernel = kernel.astype(x.dtype)
  if impl == 'shift':
    return _shift(x, kernel, stride, dilation)
  if impl == 'shift_vjp':
    return _shift_vjp(x, kernel, stride, dilation)
  pad = dilation * (kernel.shape[0] - 1) // 2
  return jax.lax.conv_general_dilated(
      x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
      rhs_dilation=(dilation, dilation),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      feature_group_count=x.shape[-1])


def _padded(x: jax.Array, k: int, stride: int, dilation: int):
  """(x padded as PyTorch does, its pad, the output (Ho, Wo))."""
  pad = dilation * (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  ho, wo = ((n + 2 * pad - dilation * (k - 1) - 1) // stride + 1
            for n in x.shape[1:3])
  return xp, pad, (ho, wo)


def _taps(xp: jax.Array, k: int, stride: int, dilation: int, out: tuple):
  """The k * k strided windows of xp, each (B, *out, C).

  Window (i, j) starts at (i * dilation, j * dilation).
  """
  b, _, _, c = xp.shape
  for i in range(k):
    for j in range(k):
      start = (0, i * dilation, j * dilation, 0)
      limit = (b, start[1] + (out[0] - 1) * stride + 1,
               start[2] + (out[1] - 1) * stride + 1, c)
      yield i, j, jax.lax.slice(xp, start, limit, (1, stride, stride, 1))


def _shift_sum(x, kernel, stride, dilation):
  """The sliced form: a sum of the taps times the kernel's weights."""
  k = kernel.shape[0]
  xp, _, out = _padded(x, k, stride, dilation)
  return sum(s * kernel[i, j, 0]
             for i, j, s in _taps(xp, k, stride, dilation, out))


# Rematerialised, so that autodiff keeps x and the kernel, not the k * k
# slices (9 or 25 copies of the input).
_shift = jax.checkpoint(_shift_sum, static_argnums=(2, 3))
_shift_vjp = jax.custom_vjp(_shift_sum, nondiff_argnums=(2, 3))


def _shift_fwd(x, kernel, stride, dilation):
  return _shift_sum(x, kernel, stride, dilation), (x, kernel)


def _shift_bwd(stride, dilation, residuals, g):
  """dx and dkernel of the sliced form from x and the kernel alone.

  Per axis, y[o] = sum_i xp[o * stride + i * dilation] k[i]; so dk[i] =
  sum xp[o * stride + i * dilation] g[o], and dx[h] = sum_i gz[h + (k - 1 -
  i) * dilation] k[i], gz the cotangent with stride - 1 zeros between its
  entries, padded to line up.
  """
  # The barrier keeps XLA from merging these slices of x with the forward's
  # (CSE), which would keep the k * k slices alive until here, and keeps
  # the cotangent g one array: fused into the tap sums' reduction, its
  # producers (the next op's BatchNorm VJP, concatenations) were
  # recomputed in that reduction's strided loop (a DARTS-V2 training step,
  # batch 96: 15.3 -> 12.0-13.8 s; benchmarks/RESULTS.md).
  x, kernel, g = jax.lax.optimization_barrier((*residuals, g))
  k = kernel.shape[0]
  xp, pad, (ho, wo) = _padded(x, k, stride, dilation)
  acc = jnp.promote_types(g.dtype, jnp.float32)  # bfloat16 sums in float32
  dk = jnp.stack(channel_sums(
      [s * g for _, _, s in _taps(xp, k, stride, dilation, (ho, wo))], acc))
  dk = dk.reshape(kernel.shape).astype(kernel.dtype)
  h, w = x.shape[1:3]
  low = (k - 1) * dilation - pad
  gz = jax.lax.pad(g, jnp.zeros((), g.dtype), (
      (0, 0, 0), (low, h + pad - (ho - 1) * stride - 1, stride - 1),
      (low, w + pad - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))
  dx = sum(s * kernel[k - 1 - i, k - 1 - j, 0]
           for i, j, s in _taps(gz, k, 1, dilation, (h, w)))
  return dx, dk


_shift_vjp.defvjp(_shift_fwd, _shift_bwd)


def max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Max pool with PyTorch's symmetric padding (padding never wins)."""
  pad = (window - 1) // 2
  return nn.max_pool(
      x,
      (window, window),
      strides=(stride, stride),
      padding=((pad, pad), (pad, pad)),
  )


class FactorizedReduce(nn.Module):
  """ReLU, two 1x1 stride-2 convs on x and on x shifted by one pixel, BN.

  DARTS's halving of the resolution without losing every other pixel: the
  two convs give features // 2 channels each, concatenated.
  """

  features: int
  bn_mode: str = 'train'
  affine: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C), H, W even
    """(B, H, W, C) -> (B, H / 2, W / 2, features), features even."""
    if self.features % 2:
      raise ValueError(f'FactorizedReduce needs an even width, got '
                       f'{self.features}')
    x = nn.relu(x)
    half = self.features // 2
    a = Conv(half, 1, 2, name='conv_1')(x)
    b = Conv(half, 1, 2, name='conv_2')(x[:, 1:, 1:, :])
    y = jnp.concatenate([a, b], axis=-1)  # (B, H / 2, W / 2, features)
    return BatchNorm(self.bn_mode, self.affine, name='bn')(y)


def global_avg_pool(x: jax.Array) -> jax.Array:  # (B, H, W, C) -> (B, C)
  """Mean over the spatial axes: (B, H, W, C) -> (B, C), x's dtype."""
  return jnp.mean(x, axis=(1, 2))
