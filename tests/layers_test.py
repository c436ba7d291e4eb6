"""Shared layers: BatchNorm modes, the average pool, dtype discipline."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import layers
from freedarts_jax import zeros
from freedarts_jax.spaces import nb201


@pytest.mark.parametrize('stride', [1, 2])
def test_avg_pool_excludes_padding_like_pytorch(stride):
  x = jax.random.normal(jax.random.key(0), (2, 7, 9, 3), jnp.float64)
  expected = nn.avg_pool(x, (3, 3), strides=(stride, stride),
                         padding=((1, 1), (1, 1)), count_include_pad=False)
  np.testing.assert_allclose(layers.avg_pool(x, 3, stride), expected,
                             rtol=1e-12)
  # corner of a stride-1 pool: 4 real pixels
  assert layers.avg_pool(x, 3, 1)[0, 0, 0, 0] == pytest.approx(
      float(x[0, :2, :2, 0].mean()))


def test_avg_pool_keeps_float32():
  x = jnp.ones((1, 4, 4, 2), jnp.float32)
  assert layers.avg_pool(x, 3, 1).dtype == jnp.float32


def test_batch_norm_modes():
  x = jax.random.normal(jax.random.key(1), (2, 4, 4, 3), jnp.float64) * 3 + 1
  y = layers.batch_norm(x, 'train')
  np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-12)
  np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1, rtol=1e-4)
  mean, var = jnp.full((3,), 2.0), jnp.full((3,), 4.0)
  np.testing.assert_allclose(layers.batch_norm(x, 'eval', mean, var),
                             (x - 2) / np.sqrt(4 + layers.BN_EPS))
  assert layers.batch_norm(x, 'none') is x


@pytest.mark.parametrize('dtype,acc,rtol', [('float64', None, 1e-12),
                                             ('float32', None, 1e-5),
                                             ('bfloat16', 'float32', 1e-5)])
def test_channel_sum_equals_sum(dtype, acc, rtol):
  # The two-step per-channel sum equals the one reduction to rounding, in
  # the accumulation dtype asked for, and stays two reductions once compiled
  # (the barrier holds; merged, it is the slow form again).
  x = jax.random.normal(jax.random.key(3), (3, 5, 7, 6), dtype) * 3 + 1
  want = jnp.sum(x.astype(acc or dtype), axis=(0, 1, 2))
  got = jax.jit(layers.channel_sum, static_argnums=1)(x, acc)
  assert got.shape == (6,) and got.dtype == want.dtype
  np.testing.assert_allclose(got, want, rtol=rtol,
                             atol=rtol * float(jnp.max(jnp.abs(want))))
  hlo = jax.jit(layers.channel_sum).lower(x).compile().as_text()
  assert hlo.count(' reduce(') == 2


@pytest.mark.parametrize('dtype,acc,rtol', [('float64', None, 1e-12),
                                             ('float32', None, 1e-5),
                                             ('bfloat16', 'float32', 1e-5)])
def test_channel_sums_equal_sums(dtype, acc, rtol):
  # Several arrays in one variadic reduction (then one sum each): each
  # equals its own reduction to rounding.
  x = jax.random.normal(jax.random.key(4), (3, 5, 7, 6), dtype) * 3 + 1
  xs = [x, x * x, -2 * x + 1]
  got = jax.jit(layers.channel_sums, static_argnums=1)(xs, acc)
  assert len(got) == 3
  for g, a in zip(got, xs):
    want = jnp.sum(a.astype(acc or dtype), axis=(0, 1, 2))
    assert g.shape == (6,) and g.dtype == want.dtype
    np.testing.assert_allclose(g, want, rtol=rtol,
                               atol=rtol * float(jnp.max(jnp.abs(want))))
  hlo = jax.jit(layers.channel_sums).lower(xs).compile().as_text()
  assert hlo.count(' reduce(') == 1 + len(xs)


@pytest.mark.parametrize('dtype,rtol', [('float64', 1e-12), ('float32', 1e-6)])
def test_matmul_vjp_conv_equals_the_convolution(dtype, rtol):
  # The CPU training step's 1x1 conv (matmul_nhwc: the kernel gradient
  # summed per image) against nn.Conv's convolution: values and the
  # gradients for the input and the kernel.
  x = jax.random.normal(jax.random.key(5), (3, 4, 5, 6), dtype)
  conv = layers.Conv(7, 1)
  variables = conv.init(jax.random.key(0), x)
  variables = jax.tree.map(lambda v: v.astype(dtype), variables)
  out = {}
  for matmul in (False, True):
    module = layers.Conv(7, 1, matmul_vjp=matmul)
    f = lambda v, x, m=module: jnp.sum(jnp.sin(m.apply(v, x)))
    out[matmul] = (module.apply(variables, x),
                   jax.grad(f, argnums=(0, 1))(variables, x))
  for a, b in zip(jax.tree.leaves(out[True]), jax.tree.leaves(out[False]),
                  strict=True):
    assert a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=rtol,
                               atol=rtol * float(jnp.max(jnp.abs(b))))
  with pytest.raises(ValueError, match=r'matmul_vjp.*\(3, 1, 1, 1\)'):
    layers.Conv(7, 3, matmul_vjp=True).init(jax.random.key(0), x)


@pytest.mark.parametrize('affine', [False, True])
@pytest.mark.parametrize('dtype,rtol', [('float64', 1e-12), ('float32', 1e-5)])
def test_train_batch_norm_vjp_equals_autodiff(affine, dtype, rtol):
  # The written VJP of a training step's BatchNorm: the same forward values
  # and autodiff's gradients for x, scale and bias, to rounding (its batch
  # statistics are channel_sums, added in another order).
  k = jax.random.split(jax.random.key(2), 4)
  x = jax.random.normal(k[0], (4, 5, 3, 6), dtype) * 3 + 1
  g = jax.random.normal(k[1], x.shape, dtype)
  scale = bias = None
  if affine:
    scale = jax.random.normal(k[2], (6,), jnp.float32) + 1
    bias = jax.random.normal(k[3], (6,), jnp.float32)
  out = {}
  for reverse_only in (False, True):

    def f(x, scale, bias, reverse_only=reverse_only):
      return layers.batch_norm(x, 'train', scale=scale, bias=bias,
                               reverse_only=reverse_only)

    y, vjp = jax.vjp(f, x, scale, bias)
    out[reverse_only] = jax.jit(f)(x, scale, bias), y, vjp(g)
  (jit_a, y_a, grads_a), (jit_b, y_b, grads_b) = out[True], out[False]
  np.testing.assert_allclose(jit_a, jit_b, rtol=rtol, atol=rtol)
  np.testing.assert_allclose(y_a, y_b, rtol=rtol, atol=rtol)
  assert len(jax.tree.leaves(grads_a)) == (3 if affine else 1)
  for a, b in zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b),
                  strict=True):
    assert a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=rtol,
                               atol=rtol * float(np.max(np.abs(b))))


@pytest.mark.parametrize('scaled', [False, True])
def test_float32_score_has_no_float64_inside(scaled):
  model = nb201.Network(10, channels=4, cells_per_stage=1, bn_mode='eval',
                        scaled=scaled)
  init = zeros.make_init_fn(model, (8, 8, 3), nb201.alpha_shapes(), 'normal',
                            1e-3)
  variables, alpha = init(jax.random.key(0))
  score = zeros.make_score_fn(model, (8, 8, 3), jnp.float32)
  jaxpr = str(jax.make_jaxpr(score)(variables, alpha, alpha))
  assert 'f64' not in jaxpr


@pytest.mark.parametrize('stride', [1, 2])
def test_max_pool_pads_like_pytorch(stride):
  x = -jnp.abs(jax.random.normal(jax.random.key(2), (1, 6, 6, 2),
                                 jnp.float32)) - 1  # all negative
  y = layers.max_pool(x, 3, stride)
  assert y.shape == (1, 6 // stride, 6 // stride, 2)
  assert y.dtype == jnp.float32
  assert y[0, 0, 0, 0] == x[0, :2, :2, 0].max()  # padding never wins


def test_factorized_reduce_halves_and_shifts():
  module = layers.FactorizedReduce(6, 'none')
  x = jax.random.normal(jax.random.key(3), (1, 8, 8, 4), jnp.float32)
  variables = module.init(jax.random.key(0), x)
  y = module.apply(variables, x)
  assert y.shape == (1, 4, 4, 6)
  k1 = variables['params']['conv_1']['conv']['kernel'][0, 0]  # (4, 3)
  k2 = variables['params']['conv_2']['conv']['kernel'][0, 0]
  relu = np.maximum(np.asarray(x), 0)
  np.testing.assert_allclose(y[0, 1, 2, :3], relu[0, 2, 4] @ k1, rtol=1e-5)
  np.testing.assert_allclose(y[0, 1, 2, 3:], relu[0, 3, 5] @ k2, rtol=1e-5)
  with pytest.raises(ValueError, match='even'):
    layers.FactorizedReduce(5, 'none').init(jax.random.key(0), x)


@pytest.mark.parametrize('k,dilation,stride,hw', [
    (3, 1, 1, 6), (5, 1, 2, 7), (3, 2, 1, 6), (5, 2, 2, 8)])
def test_depthwise_conv_equals_grouped_conv(k, dilation, stride, hw):
  x = jax.random.normal(jax.random.key(4), (2, hw, hw, 3), jnp.float64)
  kernel = jax.random.normal(jax.random.key(5), (k, k, 1, 3), jnp.float64)
  pad = dilation * (k - 1) // 2
  expected = jax.lax.conv_general_dilated(
      x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
      rhs_dilation=(dilation, dilation),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=3)
  for impl in ('shift', 'shift_vjp', 'conv', 'auto'):
    y = layers.depthwise_conv(x, kernel, stride, dilation, impl)
    assert y.shape == expected.shape and y.dtype == jnp.float64
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('dtype,tol', [(jnp.float32, 1e-6),
                                       (jnp.float64, 1e-12)])
@pytest.mark.parametrize('k,dilation,stride,hw', [
    (3, 1, 1, 6), (5, 1, 2, 7), (3, 2, 1, 6), (3, 1, 2, 8), (5, 2, 2, 9)])
def test_depthwise_shift_gradients_equal_the_grouped_conv(
    k, dilation, stride, hw, dtype, tol):
  x = jax.random.normal(jax.random.key(4), (2, hw, hw, 3), dtype)
  kernel = jax.random.normal(jax.random.key(5), (k, k, 1, 3), dtype)
  probe = jax.random.normal(jax.random.key(6), layers.depthwise_conv(
      x, kernel, stride, dilation, 'conv').shape, dtype)

  def loss(impl):
    return lambda x, w: jnp.sum(probe * jnp.tanh(
        layers.depthwise_conv(x, w, stride, dilation, impl)))

  want = jax.grad(loss('conv'), argnums=(0, 1))(x, kernel)
  for impl in ('shift', 'shift_vjp'):  # autodiff; the written VJP
    got = jax.grad(loss(impl), argnums=(0, 1))(x, kernel)
    for g, w in zip(got, want):
      assert g.dtype == dtype
      scale = float(np.max(np.abs(w)))
      np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale)
  # Forward-over-reverse (the grasp objective's Hessian-vector product).
  hvp = [jax.jvp(jax.grad(loss(impl), argnums=1), (x, kernel), (x, kernel))[1]
         for impl in ('shift', 'conv')]
  tol = 1e-5 if dtype == jnp.float32 else tol  # second-order rounding
  np.testing.assert_allclose(hvp[0], hvp[1], rtol=tol,
                             atol=tol * float(np.max(np.abs(hvp[1]))))


@pytest.mark.parametrize('k,stride,pad,hw', [
    (3, 1, 1, 6), (1, 1, 0, 5), (3, 1, 0, 6), (5, 1, 1, 7), (3, 2, 1, 8),
    (3, 2, 1, 7), (5, 2, 2, 9)])
def test_conv_vjp_equals_autodiff_of_the_lax_conv(k, stride, pad, hw):
  x = jax.random.normal(jax.random.key(4), (2, hw, hw, 3), jnp.float64)
  kernel = jax.random.normal(jax.random.key(5), (k, k, 3, 4), jnp.float64)
  strides, padding = (stride, stride), ((pad, pad), (pad, pad))

  def loss(conv):
    return lambda x, w: jnp.sum(jnp.sin(conv(x, w)) ** 2)

  lax_conv = lambda x, w: jax.lax.conv_general_dilated(  # noqa: E731
      x, w, strides, padding, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  ours = lambda x, w: layers.conv(x, w, strides, padding)  # noqa: E731
  np.testing.assert_allclose(ours(x, kernel), lax_conv(x, kernel),
                             rtol=1e-12, atol=1e-12)
  for order in (1, 2, 3):  # the gradient, reverse over reverse (grasp's)
    f, g = loss(ours), loss(lax_conv)
    for _ in range(order - 1):
      f, g = [lambda x, w, h=h: jnp.vdot(jax.grad(h, 1)(x, w), kernel)
              for h in (f, g)]
    for got, want in zip(jax.grad(f, (0, 1))(x, kernel),
                         jax.grad(g, (0, 1))(x, kernel)):
      np.testing.assert_allclose(got, want, rtol=1e-12,
                                 atol=1e-12 * float(np.max(np.abs(want))))


def test_conv_gradient_inside_a_loop_is_canonical_on_cpu():
  """layers.conv's gradient convs in a loop body have NHWC / HWIO labels.

  XLA CPU canonicalises only top-level convs for its Eigen path; the ones
  autodiff emits in a loop body keep transposed labels. At stride 1 the
  second order (a Hessian-vector product, grasp's) stays canonical too.
  """
  x = jnp.ones((2, 8, 8, 3), jnp.float32)
  kernel = jnp.ones((3, 3, 3, 4), jnp.float32)

  def labels(conv, order=1):
    def grad(w, s):
      g = jax.grad(lambda w: jnp.sum(jnp.sin(conv(x * s, w))))
      if order == 1:
        return g(w)
      return jax.grad(lambda w: jnp.vdot(g(w), kernel))(w)

    hlo = jax.jit(lambda s: jax.lax.map(lambda t: grad(kernel, t), s)).lower(
        jnp.ones(2, jnp.float32)).compile().as_text()
    return set(__import__('re').findall(r'dim_labels=(\S+?),', hlo))

  padding = ((1, 1), (1, 1))
  canonical = {'b01f_01io->b01f'}
  assert labels(lambda x, w: layers.conv(x, w, (2, 2), padding)) == canonical
  assert labels(lambda x, w: layers.conv(x, w, (1, 1), padding),
                order=2) == canonical
  for stride, order in (((2, 2), 1), ((1, 1), 2)):
    assert labels(lambda x, w, s=stride: jax.lax.conv_general_dilated(
        x, w, s, padding, dimension_numbers=('NHWC', 'HWIO', 'NHWC')),
                  order) != canonical
  with pytest.raises(ValueError, match='canonical_vjp with dilation=2'):
    layers.Conv(4, 3, dilation=2, canonical_vjp=True).init(
        jax.random.key(0), x)
