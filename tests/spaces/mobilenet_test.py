"""The MobileNet (ProxylessNAS) space on a narrow, 32px supernet."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mobilenet as mobilenet_config
from freedarts_jax import errors
from freedarts_jax import spaces
from freedarts_jax.search import driver
from freedarts_jax.search import guards
from freedarts_jax.search import penalties
from freedarts_jax.search import report
from freedarts_jax.search import schedule
from freedarts_jax.spaces import mobilenet

MIXED = ('mbconv3x3_e3', 'mbconv5x5_e6', 'mbconv7x7_e3') * 7


def tiny(**overrides):
  config = mobilenet_config.get_config()
  config.update({'image_size': 32, 'width_mult': 0.125, **overrides})
  return config


def test_plan_is_the_proxylessnas_layout():
  blocks = mobilenet.plan()
  assert len(blocks) == 21 and len(mobilenet.OPS) == 6
  assert [b[2] for b in blocks if b[2] == 2] == [2, 2, 2, 2]
  assert blocks[0] == (16, 32, 2, False) and blocks[12] == (112, 128, 1,
                                                            False)
  assert blocks[-1] == (256, 432, 1, False)
  assert sum(b[3] for b in blocks) == 15  # residual: stride 1, same width


def test_cost_counts_the_parameters_of_the_discrete_network():
  # One case: tracing the network costs ~10 s; the formula is the same for
  # every width and size.
  width_mult, size, classes = 0.25, 32, 10
  net = mobilenet.Network(classes, width_mult, 'train', genotype=MIXED)
  shapes = jax.eval_shape(net.init, jax.random.key(0), jax.ShapeDtypeStruct(
      (1, size, size, 3), jnp.float32))
  counted = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      shapes['params']))
  params, flops = mobilenet.cost(MIXED, classes, size, width_mult)
  assert params == counted
  assert flops > params


def test_cost_grows_with_kernel_and_expansion():
  small = mobilenet.cost(('mbconv3x3_e3',) * 21)
  large = mobilenet.cost(('mbconv7x7_e6',) * 21)
  assert small[0] < large[0] and small[1] < large[1]
  # ProxylessNAS-size networks: a few million parameters, a few hundred
  # million multiply-adds.
  assert 2e6 < small[0] < large[0] < 1.5e7
  assert 1e8 < small[1] < large[1] < 1.5e9


def test_choose_and_describe_without_a_none_column():
  rng = np.random.default_rng(0)
  scores = {'blocks': rng.uniform(0.1, 1.0, (21, 6))}
  mask = {'blocks': np.ones((21, 6))}
  mask['blocks'][0, np.argmax(scores['blocks'][0])] = 0  # pruned: skipped
  space = spaces.get('mobilenet')
  genotype = space.choose(scores, mask)
  masked = np.where(mask['blocks'] > 0, scores['blocks'], -np.inf)
  assert list(genotype) == [mobilenet.OPS[i] for i in masked.argmax(1)]
  described = space.describe(genotype)
  assert described['blocks'] == list(genotype)
  assert (described['params'], described['flops']) == mobilenet.cost(genotype)
  assert (space.one_hot(genotype)['blocks'].sum(1) == 1).all()


def test_without_none_every_column_is_ranked():
  scores = {'blocks': np.tile(np.arange(6.0)[::-1], (21, 1))}  # col 5 least
  mask = {'blocks': np.ones((21, 6))}
  removed = schedule.removals('iterative_edge', scores, mask, has_none=False)
  assert removed == [('blocks', b, 5) for b in range(21)]
  # With a 'none' column, column 0 would go first instead.
  assert schedule.removals('iterative_edge', scores, mask)[0] == (
      'blocks', 0, 0)
  # The guards check column 0 too: a zero score there is a zero row.
  zero = np.zeros((21, 6))
  zero[:, 1:] = 1.0
  labels = spaces.get('mobilenet').edge_labels
  guards.check_scores(1.0, {'blocks': zero}, mask, mobilenet.OPS, labels,
                      'float32')
  one_left = {'blocks': np.eye(6)[np.zeros(21, int)]}  # only column 0 left
  with pytest.raises(guards.Tripped, match='zero_row'):
    guards.check_scores(1.0, {'blocks': zero}, one_left, mobilenet.OPS,
                        labels, 'float32', has_none=False)


def test_scaled_dtype_and_bad_width_are_config_errors():
  with pytest.raises(errors.ConfigError, match='float32_scaled'):
    driver.run_search(tiny(dtype='float32_scaled', bn_mode='eval'))
  with pytest.raises(errors.ConfigError, match='width_mult'):
    driver.run_search(tiny(width_mult=-1.0))


def test_release_variant_runs_and_records_the_penalty():
  # zeros on a (synthetic) batch, R times the mul#log FLOPs penalty, on the
  # narrow 32px supernet.
  result = driver.run_search(tiny(
      zeros_input='data', flops_penalty='mul#log', data='synthetic',
      batch_size=2))
  assert (result['zeros_input'], result['flops_penalty']) == ('data',
                                                             'mul#log')
  assert result['meaningful'] is False and 'synthetic' in result['warning']
  assert result['r_is'] == 'sum of the logits of 2 images on |theta|'
  assert len(result['blocks']) == 21
  penalty = result['penalty']
  cheapest = mobilenet.cost(('mbconv3x3_e3',) * 21, 1000, 32, 0.125)[1]
  dearest = mobilenet.cost(('mbconv7x7_e6',) * 21, 1000, 32, 0.125)[1]
  assert cheapest < penalty['expected_flops'] < dearest
  assert penalty['factor'] == pytest.approx(float(penalties.mul_log(
      jnp.float64(penalty['expected_flops']))), rel=1e-12)
  assert 0 < penalty['share_median'] <= penalty['share_max']
  assert 'FLOPs penalty mul#log: expected FLOPs' in report.format_result(
      result)
