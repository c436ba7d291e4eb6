"""The training model: evaluation networks and what they use.

Evaluation networks, drop-path, BatchNorm running statistics, genotype
resolution and the learning-rate schedules.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import train_cifar10
from configs import train_imagenet
from freedarts_jax import errors
from freedarts_jax import init
from freedarts_jax import layers
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import darts_eval
from freedarts_jax.spaces import nb201
from freedarts_jax.train import model as model_lib
from freedarts_jax.train import steps as steps_lib

NB201_BEST = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|'
              'skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')


def _shapes(module, size):
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  return jax.eval_shape(module.init, jax.random.key(0), x)


def test_darts_v2_parameter_counts_follow_darts():
  arch = model_lib.resolve('DARTS_V2')
  cifar = model_lib.build(arch, train_cifar10.get_config(), 10, 'eval')
  params, with_aux = model_lib.count_params(_shapes(cifar, 32))
  assert params == 3_349_342 == darts.darts_v2_params()  # DARTS: 3.3 M
  # The head: 1x1 C->128, BN, 2x2 128->768, BN, Linear(768, 10).
  c = 4 * 4 * 36
  assert with_aux - params == (c * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768
                               + 768 * 10 + 10)
  imagenet = model_lib.build(arch, train_imagenet.get_config(), 1000, 'eval')
  params, _ = model_lib.count_params(_shapes(imagenet, 224))
  assert params == 4_718_752  # DARTS: 4.7 M in the mobile setting


def test_nb201_string_builds_nb201s_network():
  config = train_cifar10.get_config()
  config.channels, config.cells_per_stage = 16, 5
  arch = model_lib.resolve(NB201_BEST)
  net = model_lib.build(arch, config, 10, 'eval')
  assert isinstance(net, nb201.Network) and net.genotype == nb201.from_string(
      NB201_BEST)
  variables = _shapes(net, 32)
  assert 'stage2_cell4' in variables['params']


@pytest.mark.parametrize('stem,size', [('cifar', 8), ('imagenet', 7)])
def test_auxiliary_head_takes_the_reference_input_sizes(stem, size):
  head = darts_eval.AuxiliaryHead(10, stem, 'train')
  x = jnp.ones((2, size, size, 16), jnp.float32)
  variables = init.torch_init(head.init, jax.random.key(0), x)
  out, state = head.apply(variables, x, mutable=['batch_stats'])
  assert out.shape == (2, 10) and out.dtype == jnp.float32
  assert ('bn2' in variables['params']) == (stem == 'cifar')
  with pytest.raises(ValueError, match='larger images'):
    head.init(jax.random.key(0), jnp.ones((2, 4, 4, 16), jnp.float32))


def test_network_auxiliary_logits_drop_path_and_per_op_statistics():
  net = darts.Network(10, 4, 3, 'cifar', 'train', affine=True,
                      genotype=darts.DARTS_V2, auxiliary=True)
  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3), jnp.float32)
  variables = init.torch_init(net.init, jax.random.key(0), x)

  def run(rate):
    return net.apply(variables, x, None, rate,
                     rngs={'drop_path': jax.random.key(2)},
                     mutable=['batch_stats'])

  (logits, aux), state = run(0.0)
  assert logits.shape == aux.shape == (4, 10)
  assert not np.allclose(run(0.5)[0][0], logits)
  # The fused ops of one node keep their own running statistics.
  cell = state['batch_stats']['cell0']
  a = cell['edge2_0_sep_conv_3x3']['bn1']['mean']
  b = cell['edge2_1_sep_conv_3x3']['bn1']['mean']
  assert np.abs(a).max() > 0 and not np.allclose(a, b)


def _assert_loss_and_grads_close(ours, reference):
  """(loss, grads) pairs in float64: loss 1e-12, each gradient 1e-10."""
  (v, g), (w, h) = ours, reference
  np.testing.assert_allclose(v, w, rtol=1e-12)
  flat_g, flat_h = jax.tree.leaves(g), jax.tree.leaves(h)
  assert len(flat_g) == len(flat_h) > 0
  for a, b in zip(flat_g, flat_h):
    np.testing.assert_allclose(a, b, rtol=1e-10,
                               atol=1e-12 * float(np.max(np.abs(b)) + 1))


def test_written_depthwise_vjp_gives_the_network_gradient_of_the_primitive():
  # The CPU training network's 'shift_vjp' against the grouped convolution:
  # the loss and every parameter's gradient of DARTS-V2 with the auxiliary
  # head, BatchNorm in train mode, float64.
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3), jnp.float64)
  grads = {}
  for impl in ('shift_vjp', 'conv'):
    net = darts.Network(10, 4, 3, 'cifar', 'train', affine=True,
                        genotype=darts.DARTS_V2, auxiliary=True,
                        depthwise=impl)
    variables = init.torch_init(net.init, jax.random.key(0), x)
    params = jax.tree.map(lambda p: p.astype(jnp.float64),
                          variables['params'])

    def loss(params, net=net, variables=variables):
      (logits, aux), _ = net.apply({**variables, 'params': params}, x,
                                   mutable=['batch_stats'])
      return jnp.sum(jnp.sin(logits)) + jnp.sum(aux ** 2)

    grads[impl] = jax.value_and_grad(loss)(params)
  _assert_loss_and_grads_close(grads['shift_vjp'], grads['conv'])


@pytest.mark.parametrize('space', ['darts', 'nb201'])
def test_training_step_batch_norm_vjp_gives_the_autodiff_gradient(space):
  # A training step (batch_stats mutable) takes layers.train_batch_norm's
  # VJP and, on CPU, the DARTS ops' block-diagonal 1x1 convs
  # (darts_ops.pointwise); without mutable batch_stats the same network
  # differentiates its train-mode BatchNorms by autodiff and keeps the
  # batched 1x1 convs. Loss and every parameter's gradient, float64.
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3), jnp.float64)
  if space == 'darts':
    net = darts.Network(10, 4, 3, 'cifar', 'train', affine=True,
                        genotype=darts.DARTS_V2, auxiliary=True,
                        depthwise='shift_vjp')
  else:
    net = nb201.Network(10, 4, 1, 'train', genotype=nb201.from_string(
        NB201_BEST))
  variables = init.torch_init(net.init, jax.random.key(0), x)
  params = jax.tree.map(lambda p: p.astype(jnp.float64), variables['params'])
  grads, calls, real = {}, {}, layers.train_batch_norm
  for mutable in (['batch_stats'], False):
    used = []

    def counted(*args, used=used):
      used.append(1)
      return real(*args)

    def loss(params, mutable=mutable):
      out = net.apply({**variables, 'params': params}, x, mutable=mutable)
      out = out[0] if mutable else out
      logits, aux = out if space == 'darts' else (out, 0.0)
      return jnp.sum(jnp.sin(logits)) + jnp.sum(aux ** 2)

    with pytest.MonkeyPatch.context() as m:
      m.setattr(layers, 'train_batch_norm', counted)
      grads[bool(mutable)] = jax.value_and_grad(loss)(params)
    calls[bool(mutable)] = len(used)
  assert calls[True] > 0 and calls[False] == 0
  _assert_loss_and_grads_close(grads[True], grads[False])


def test_cpu_training_step_uses_the_written_vjp_without_ynn_fusions():
  # The CPU training step's choices (benchmarks/RESULTS.md, issue 16): the
  # depthwise form with the written VJP, and XLA's YNN fusions off (their
  # buffers nearly trebled the step's memory).
  config = train_cifar10.get_config()
  config.channels, config.layers, config.batch_size = 4, 3, 4
  arch = model_lib.resolve('DARTS_V2')
  train_model = model_lib.build(arch, config, 10, 'train')
  assert train_model.depthwise == 'shift_vjp'
  eval_model = model_lib.build(arch, config, 10, 'eval')
  mesh = jax.make_mesh((1,), ('data',), devices=jax.devices('cpu')[:1])
  recipe = steps_lib.Recipe.from_config(config, 3)
  train_step, _, tx = steps_lib.make_steps(train_model, eval_model, recipe,
                                           mesh)
  x = jnp.zeros((4, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(train_model.init, jax.random.key(0), x)
  params = variables['params']
  state = {'params': params, 'batch_stats': variables['batch_stats'],
           'opt_state': jax.eval_shape(tx.init, params),
           'step': jax.ShapeDtypeStruct((), jnp.int32),
           'rng': jax.ShapeDtypeStruct((2,), jnp.uint32)}
  hlo = train_step.lower(state, x, jnp.zeros((4,), jnp.int32)).compile(
  ).as_text()
  assert 'reduce' in hlo and '__ynn_fusion' not in hlo


def test_drop_path_zeroes_whole_images_and_keeps_the_mean():
  x = jnp.ones((4000, 2, 2, 3), jnp.float32)
  np.testing.assert_array_equal(darts_eval.drop_path(x, 0.0,
                                                     jax.random.key(0)), x)
  y = np.asarray(darts_eval.drop_path(x, 0.25, jax.random.key(0)))
  per_image = y.reshape(4000, -1)
  assert set(np.unique(per_image)) == {0.0, np.float32(1 / 0.75)}
  assert (per_image.min(1) == per_image.max(1)).all()
  assert abs(y.mean() - 1) < 0.05
  assert darts_eval.is_identity('skip_connect', False, 0)
  assert darts_eval.is_identity('skip_connect', True, 2)
  assert not darts_eval.is_identity('skip_connect', True, 1)
  assert not darts_eval.is_identity('sep_conv_3x3', False, 3)


def test_batchnorm_running_statistics_follow_pytorch():
  bn = layers.BatchNorm('train')
  x = jax.random.normal(jax.random.key(0), (4, 3, 3, 2), jnp.float32) * 2 + 1
  variables = init.torch_init(bn.init, jax.random.key(0), x)
  _, state = bn.apply(variables, x, mutable=['batch_stats'])
  xs = np.asarray(x).reshape(-1, 2)
  np.testing.assert_allclose(state['batch_stats']['mean'],
                             0.1 * xs.mean(0), rtol=1e-5)
  np.testing.assert_allclose(state['batch_stats']['var'],
                             0.9 + 0.1 * xs.var(0, ddof=1), rtol=1e-5)
  # Without a mutable collection (the search) nothing is updated.
  assert bn.apply(variables, x).shape == x.shape


def test_fused_nb201_convolutions_update_each_ops_statistics():
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 3), jnp.float32)
  nb = nb201.Network(10, 4, 1, 'train', nb201.from_string(NB201_BEST))
  v = init.torch_init(nb.init, jax.random.key(0), x)
  _, s = nb.apply(v, x, mutable=['batch_stats'])
  m = s['batch_stats']['stage0_cell0']
  assert np.abs(m['edge1_0_nor_conv_3x3']['mean']).max() > 0
  assert not np.allclose(m['edge1_0_nor_conv_3x3']['mean'],
                         m['edge2_0_nor_conv_3x3']['mean'])


def test_genotypes_resolve_from_files_names_and_strings(tmp_path):
  darts_file = tmp_path / 'darts.json'
  darts_file.write_text(json.dumps({
      'space': 'darts', 'genotype': {
          'normal': [list(p) for p in darts.DARTS_V2.normal],
          'normal_concat': [2, 3, 4, 5],
          'reduce': [list(p) for p in darts.DARTS_V2.reduce],
          'reduce_concat': [2, 3, 4, 5]}}))
  assert model_lib.resolve(str(darts_file)).genotype == darts.DARTS_V2
  nb_file = tmp_path / 'nb.json'
  nb_file.write_text(json.dumps({
      'space': 'nb201', 'arch': NB201_BEST,
      'genotype': list(nb201.from_string(NB201_BEST))}))
  assert model_lib.resolve(str(nb_file)).space == 'nb201'
  text = model_lib.resolve('DARTS_V2').describe()['arch']
  assert model_lib.resolve(text).genotype == darts.DARTS_V2
  bad = tmp_path / 'bad.json'
  bad.write_text('{not json')
  with pytest.raises(errors.GenotypeError, match='not valid JSON'):
    model_lib.resolve(str(bad))
  bad.write_text('{"space": "mobilenet", "genotype": []}')
  with pytest.raises(errors.GenotypeError, match='nb201'):
    model_lib.resolve(str(bad))


def _recipe(**kw):
  config = train_cifar10.get_config()
  config.epochs = 10
  config.update(kw)
  return steps_lib.Recipe.from_config(config, 5)


def test_learning_rate_schedules_change_once_per_epoch():
  def lr(recipe, epoch, offset=0):
    return float(steps_lib.learning_rate(recipe, epoch * 5 + offset))

  cos = _recipe()
  assert lr(cos, 0) == pytest.approx(0.025)
  assert lr(cos, 5, 4) == pytest.approx(0.0125, rel=1e-6)
  assert lr(cos, 3) == pytest.approx(0.0125 * (1 + math.cos(math.pi * .3)))
  lin = _recipe(lr_schedule='linear', learning_rate=0.5)
  assert lr(lin, 4) == pytest.approx(0.3)
  step = _recipe(lr_schedule='step', learning_rate=0.1, lr_decay_rate=0.5,
                 lr_decay_epochs=2)
  assert [round(lr(step, e), 6) for e in (0, 1, 2, 5)] == [
      0.1, 0.1, 0.05, 0.025]
  warm = _recipe(warmup_epochs=2)
  assert lr(warm, 0) == pytest.approx(0.5 * lr(cos, 0))
  assert float(steps_lib.drop_path_rate(cos, 25)) == pytest.approx(0.1)

