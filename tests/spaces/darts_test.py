"""The DARTS space.

Genotype rule and forms, supernet == discrete network, sizes, the
degenerate train-mode detection, the CLI end to end.
"""

import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import darts as darts_config
from freedarts_jax import errors
from freedarts_jax import tree_util
from freedarts_jax import zeros
from freedarts_jax.search import checks
from freedarts_jax.search import driver
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import darts_genotype as dg
from freedarts_jax.spaces import darts_ops
from tests.conftest import assert_scaled_equals_plain

ROOT = pathlib.Path(__file__).parent.parent.parent
OPS = dg.OPS
V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
# Every op, stride-2 skips (FactorizedReduce) and pools from the reduction
# cell's inputs, and two ops on one edge (node 4 of the normal cell).
ALL_OPS = dg.Genotype(
    normal=(('dil_conv_5x5', 1), ('avg_pool_3x3', 0), ('sep_conv_5x5', 2),
            ('skip_connect', 1), ('max_pool_3x3', 3), ('sep_conv_3x3', 3),
            ('dil_conv_3x3', 4), ('dil_conv_3x3', 0)),
    normal_concat=dg.CONCAT,
    reduce=(('skip_connect', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0),
            ('avg_pool_3x3', 1), ('sep_conv_3x3', 1), ('dil_conv_3x3', 3),
            ('max_pool_3x3', 0), ('skip_connect', 4)),
    reduce_concat=dg.CONCAT)


def _rows(node_rows: dict[int, list[float]]) -> np.ndarray:
  """(14, 8) scores: given rows by edge index, 0 elsewhere."""
  s = np.zeros((14, 8))
  for e, row in node_rows.items():
    s[e] = row
  return s


def _edge(to: int, frm: int) -> int:
  return dg.EDGES.index((to, frm))


# --- the genotype rule --------------------------------------------------------


def test_edges_are_the_darts_rows():
  assert [e for e, (to, _) in enumerate(dg.EDGES) if to == 3] == [2, 3, 4]
  assert [e for e, (to, _) in enumerate(dg.EDGES) if to == 5] == list(
      range(9, 14))


def test_rule_keeps_top_two_edges_and_their_best_op():
  s = np.full((14, 8), 1e-6)
  s[:, 0] = 1.0  # 'none' scores highest everywhere: never chosen
  s[_edge(2, 1), OPS.index('sep_conv_5x5')] = 0.5
  s[_edge(2, 0), OPS.index('avg_pool_3x3')] = 0.2
  s[_edge(3, 2), OPS.index('dil_conv_3x3')] = 0.9
  s[_edge(3, 0), OPS.index('skip_connect')] = 0.8
  s[_edge(3, 1), OPS.index('sep_conv_3x3')] = 0.7  # third: dropped
  s[_edge(4, 3), OPS.index('max_pool_3x3')] = 0.3
  s[_edge(4, 1), OPS.index('dil_conv_5x5')] = 0.2
  s[_edge(5, 4), OPS.index('sep_conv_3x3')] = 0.4
  s[_edge(5, 2), OPS.index('skip_connect')] = 0.1
  pairs = dg.choose_cell(s, np.ones((14, 8)))
  assert pairs == (('sep_conv_5x5', 1), ('avg_pool_3x3', 0),
                   ('dil_conv_3x3', 2), ('skip_connect', 0),
                   ('max_pool_3x3', 3), ('dil_conv_5x5', 1),
                   ('sep_conv_3x3', 4), ('skip_connect', 2))
  assert all(op != 'none' for op, _ in pairs)


def test_rule_ignores_masked_ops():
  s = np.full((14, 8), 1e-3)
  mask = np.ones((14, 8))
  s[_edge(2, 0), OPS.index('sep_conv_3x3')] = 5.0
  mask[_edge(2, 0), OPS.index('sep_conv_3x3')] = 0  # pruned: its 5.0 is gone
  s[_edge(2, 0), OPS.index('max_pool_3x3')] = 0.01
  s[_edge(3, 0), OPS.index('sep_conv_5x5')] = 9.0
  mask[_edge(3, 0)] = 0
  mask[_edge(3, 0), 0] = 1  # only 'none' left: this edge has no strength
  pairs = dg.choose_cell(s, mask)
  assert pairs[0] == ('max_pool_3x3', 0)
  assert all(inp != 0 for _, inp in pairs[2:4])


def test_rule_breaks_ties_by_earlier_input_then_earlier_op():
  s = np.full((14, 8), 0.5)  # every op on every edge ties
  pairs = dg.choose_cell(s, np.ones((14, 8)))
  assert pairs == tuple(('max_pool_3x3', i) for _ in range(4)
                        for i in (0, 1))
  s[_edge(4, 3), OPS.index('dil_conv_5x5')] = 0.6  # one edge stronger
  pairs = dg.choose_cell(s, np.ones((14, 8)))
  assert pairs[4:6] == (('dil_conv_5x5', 3), ('max_pool_3x3', 0))


def test_rule_refuses_an_edge_with_only_none_left():
  mask = np.zeros((14, 8))
  mask[:, 0] = 1
  mask[_edge(2, 0), 4] = 1
  with pytest.raises(errors.GenotypeError, match='2<-1'):
    dg.choose_cell(np.ones((14, 8)), mask)


def test_one_hot_marks_the_kept_ops():
  hot = dg.one_hot(ALL_OPS)
  assert hot['normal'].sum() == hot['reduce'].sum() == 8
  assert hot['normal'][_edge(4, 3)].tolist() == [0, 1, 0, 0, 1, 0, 0, 0]
  # As ensemble.summarise uses it: the rule on win counts.
  again = dg.choose(hot, {k: np.ones((14, 8)) for k in hot})
  assert set(again.normal[:2]) == set(ALL_OPS.normal[:2])
  assert set(again.reduce) == set(ALL_OPS.reduce)


def test_choose_both_cells():
  s = {'normal': np.ones((14, 8)), 'reduce': np.ones((14, 8))}
  m = {'normal': np.ones((14, 8)), 'reduce': np.ones((14, 8))}
  g = dg.choose(s, m)
  assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
  assert len(g.normal) == len(g.reduce) == 8


# --- text and JSON forms ------------------------------------------------------


def test_darts_v2_text_and_json_round_trip():
  assert dg.to_text(dg.DARTS_V2) == V2_TEXT
  assert dg.from_text(V2_TEXT) == dg.DARTS_V2
  js = dg.to_json(dg.DARTS_V2)
  assert js['normal'][7] == ['dil_conv_3x3', 2]
  assert dg.from_json(json.loads(json.dumps(js))) == dg.DARTS_V2
  assert dg.from_text(json.dumps(js)) == dg.DARTS_V2
  # DARTS's genotypes.py writes the concat as range(2, 6)
  assert dg.from_text(V2_TEXT.replace('[2, 3, 4, 5]', 'range(2, 6)')) == (
      dg.DARTS_V2)
  hash(dg.DARTS_V2)


@pytest.mark.parametrize('bad,match', [
    (V2_TEXT.replace('dil_conv_3x3', 'conv_7x7'), 'sep_conv_3x3'),
    (V2_TEXT.replace("('dil_conv_3x3', 2)", "('none', 2)"), 'sep_conv_3x3'),
    (V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),
     'input must be an integer in 0..4'),
    (V2_TEXT.replace(", ('dil_conv_3x3', 2)", ''), '8 .op, input. pairs'),
    (V2_TEXT.replace('normal_concat=[2, 3, 4, 5]', 'normal_concat=[4, 5]'),
     'normal_concat must be'),
    ("Genotype(normal=[('sep_conv_3x3', 0)]", 'malformed'),
    ('Genotype(normal=os.system("x"))', 'malformed'),
    ('|nor_conv_3x3~0|', 'malformed'),
    ('{"normal": []}', 'exactly the fields'),
    ('{"normal": ', 'malformed genotype JSON'),
    (None, 'must be a string'),
])
def test_malformed_genotypes_are_clear_errors(bad, match):
  with pytest.raises(errors.GenotypeError, match=match):
    dg.from_text(bad)


def test_duplicate_pair_is_an_error():
  g = dg.to_json(dg.DARTS_V2)
  g['normal'][1] = g['normal'][0]
  with pytest.raises(errors.GenotypeError, match='twice'):
    dg.from_json(g)


# --- networks -----------------------------------------------------------------


def _count(tree) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def _hand_count_cifar_supernet(c: int, layers: int, classes: int) -> int:
  """Parameters of the CIFAR supernet counted by hand (affine=False cells).

  Stem: a 3x3 conv 3 -> 3C and an affine BN (2 x 3C). Per cell of width C:
  preprocess0 C_pp * C (a 1x1 conv, or FactorizedReduce's two 1x1 convs to
  C / 2 each), preprocess1 C_p * C; on each of the 14 edges sep_conv_kxk
  2 (k^2 C + C^2), dil_conv_kxk k^2 C + C^2, and on the 8 stride-2 edges of
  a reduction cell skip_connect's FactorizedReduce C^2; pools and BNs none.
  Head: 4 C_last * classes + classes.
  """
  total = 27 * 3 * c + 2 * 3 * c
  c_pp = c_p = 3 * c
  for i in range(layers):
    reduction = i in (layers // 3, 2 * layers // 3)
    c = 2 * c if reduction else c
    edge = 2 * (9 * c + c * c) + 2 * (25 * c + c * c) + (9 * c + c * c) + (
        25 * c + c * c)
    total += c_pp * c + c_p * c + 14 * edge + (8 * c * c if reduction else 0)
    c_pp, c_p = c_p, 4 * c
  return total + c_p * classes + classes


@pytest.mark.parametrize('dtype,rtol', [('float64', 1e-12), ('float32', 1e-6)])
def test_block_diagonal_pointwise_equals_the_batched_matmul(dtype, rtol):
  # The CPU training step's form of the ops' fused 1x1 convs against the
  # batched matmul the search uses: values, and the gradients for the input
  # and each kernel.
  k = jax.random.split(jax.random.key(4), 4)
  y = jax.random.normal(k[0], (2, 5, 3, 3 * 6), dtype)
  kernels = [jax.random.normal(key, (6, 6), dtype) for key in k[1:]]
  g = jnp.cos(jnp.arange(y.size, dtype=dtype)).reshape(y.shape)
  out = {}
  for block_diagonal in (False, True):
    f = lambda y, kernels, b=block_diagonal: darts_ops.pointwise(y, kernels, b)
    value, vjp = jax.vjp(jax.jit(f), y, kernels)
    out[block_diagonal] = (value, vjp(g))
  for a, b in zip(jax.tree.leaves(out[True]), jax.tree.leaves(out[False]),
                  strict=True):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=rtol,
                               atol=rtol * float(jnp.max(jnp.abs(b))))


def test_cifar_supernet_parameter_count():
  model = darts.Network(10)  # C = 16, 8 cells
  n = darts.count_params(model, 32, alpha=True)
  assert n == _hand_count_cifar_supernet(16, 8, 10) == 1_930_618
  assert darts.count_params(darts.Network(10, 4, 3), 8, alpha=True) == (
      _hand_count_cifar_supernet(4, 3, 10))


def test_darts_v2_evaluation_network_size():
  # DARTS paper: 3.3 M; DARTS's count_parameters_in_MB (auxiliary head
  # excluded) prints 3.349342 for DARTS-V2 at 20 cells, C = 36.
  assert darts.darts_v2_params() == 3_349_342


def test_imagenet_stem_and_first_preprocess():
  model = darts.Network(1000, 4, 3, 'imagenet', 'eval')
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  alpha = {k: jax.ShapeDtypeStruct(s, jnp.float32)
           for k, s in darts.alpha_shapes().items()}
  variables = jax.eval_shape(model.init, jax.random.key(0), x, alpha)
  params = variables['params']
  assert params['stem0_conv1']['conv']['kernel'].shape == (3, 3, 3, 6)
  assert params['stem1_conv']['conv']['kernel'].shape == (
      3, 3, 12, 12)
  assert 'conv_1' in params['cell0']['preprocess0']  # FactorizedReduce
  out = jax.eval_shape(model.apply, variables, x, alpha)
  assert out.shape == (1, 1000)


def _get(tree, path):
  for p in path:
    tree = tree[p.key]
  return tree


@pytest.mark.parametrize('genotype,bn_mode', [
    (ALL_OPS, 'train'), (ALL_OPS, 'eval'), (ALL_OPS, 'none'),
    (dg.DARTS_V2, 'eval')])
def test_one_hot_supernet_equals_discrete_network(genotype, bn_mode):
  # 3 cells: normal (1x1 preprocess0), reduce, reduce after a reduction
  # (FactorizedReduce preprocess0).
  supernet = darts.Network(10, 4, 3, bn_mode=bn_mode)
  init = zeros.make_init_fn(supernet, (8, 8, 3), darts.alpha_shapes(),
                            'normal', 1e-3)
  variables = tree_util.cast(init(jax.random.key(1))[0], jnp.float64)
  x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3), jnp.float64)
  alpha = {k: jnp.asarray(a, jnp.float64)  # 0 on unchosen edges and ops
           for k, a in dg.one_hot(genotype).items()}
  out_super = supernet.apply(variables, x, alpha)

  discrete = darts.Network(10, 4, 3, bn_mode=bn_mode, genotype=genotype)
  shapes = jax.eval_shape(discrete.init, jax.random.key(0), x)
  subset = jax.tree_util.tree_map_with_path(
      lambda path, _: _get(variables, path), shapes)
  assert _count(subset) < _count(variables) / 2
  out_discrete = discrete.apply(subset, x)
  assert out_super.dtype == out_discrete.dtype == jnp.float64
  np.testing.assert_allclose(out_super, out_discrete, rtol=1e-6, atol=1e-6)


# --- search -------------------------------------------------------------------


@pytest.mark.parametrize('zeros_input', ['ones', 'data'])
def test_train_mode_zeros_is_refused_by_the_config_check(zeros_input,
                                                         monkeypatch):
  """The release's setting, refused before anything is built or compiled."""
  config = darts_config.get_config()
  config.update(bn_mode='train', zeros_input=zeros_input, data='synthetic')
  monkeypatch.setattr(driver, '_draw', None)  # nothing built or compiled
  with pytest.raises(errors.ConfigError, match='exactly zero') as e:
    driver.run_search(config)
  assert 'bn_mode=eval or none' in str(e.value)
  assert 'float64' not in str(e.value).replace('in any dtype', '')
  config.update(objective='snip', zeros_input='ones')  # a cross-entropy
  checks.check(config)


@pytest.mark.slow  # a float64 compile of a 3-cell supernet: about a minute
def test_train_mode_makes_zeros_blind_to_alpha():
  """Why the check refuses it: dR/dalpha = 0 in train mode.

  With train-mode BatchNorm without affine parameters, R = batch size *
  sum |classifier bias| and dR/dalpha = 0, for the all-ones image and for a
  batch alike.
  """
  model = darts.Network(10, 4, 3, bn_mode='train')
  init = zeros.make_init_fn(model, (8, 8, 3), darts.alpha_shapes(), 'normal',
                            1.0)
  with jax.enable_x64(True):
    variables, alpha = init(jax.random.key(0))
    mask = jax.tree.map(jnp.ones_like, alpha)
    fc = variables['params']['classifier']['fc']
    bias = float(jnp.sum(jnp.abs(fc['bias'])))
    batch = jax.random.normal(jax.random.key(1), (3, 8, 8, 3))
    for images, size in ((None, 1), (batch, 3)):
      score = zeros.make_score_fn(model, (8, 8, 3), jnp.float64, images)
      out = score(variables, alpha, mask)
      np.testing.assert_allclose(float(out.r), size * bias, rtol=1e-12)
      for s in out.scores.values():
        assert float(jnp.max(s)) < 1e-12 * size * bias


def test_odd_channels_and_unknown_stem_are_config_errors():
  config = darts_config.get_config()
  config.channels = 5
  with pytest.raises(errors.ConfigError, match='even'):
    driver.run_search(config)
  config = darts_config.get_config()
  config.stem = 'mobile'
  with pytest.raises(errors.ConfigError, match='imagenet'):
    driver.run_search(config)


@pytest.mark.slow  # one float32 compile of a 3-cell supernet: 1-2 minutes
def test_cli_end_to_end_on_a_tiny_supernet(tmp_path):
  env = {**os.environ, 'FREEDARTS_CACHE_DIR': str(tmp_path / 'cache')}
  proc = subprocess.run(
      [sys.executable, '-m', 'freedarts_jax.search',
       f'--config={ROOT / "configs" / "darts.py"}', '--config.channels=4',
       '--config.layers=3', f'--workdir={tmp_path / "run"}'],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr
  result = json.loads((tmp_path / 'run' / 'result.json').read_text())
  genotype = dg.from_json(result['genotype'])
  assert dg.from_text(result['arch']) == genotype
  assert all(op != 'none' for kind in dg.CELLS
             for op, _ in getattr(genotype, kind))
  for kind in dg.CELLS:
    assert np.asarray(result['scores'][kind]).shape == (14, 8)
  assert result['bn_mode'] == 'eval' and result['dtype_requested'] == 'auto'
  assert result['dtype'] == 'float32_scaled' and not result['dtype_fallback']
  assert result['darts_v2_params'] == 3_349_342
  assert result['eval_params'] == darts.eval_params(genotype)
  assert result['artifacts'] == ['normal.png', 'reduce.png']
  for name in result['artifacts']:
    assert (tmp_path / 'run' / name).read_bytes()[:4] == b'\x89PNG'
  assert len(result['rounds']) == 7  # iterative_edge: 8 ops -> 1
  assert '3,349,342' in proc.stdout


@pytest.mark.parametrize('scaled', [False, True])
def test_float32_score_has_no_float64_inside(scaled):
  model = darts.Network(10, 4, 3, bn_mode='eval', scaled=scaled)
  init = zeros.make_init_fn(model, (8, 8, 3), darts.alpha_shapes(), 'normal',
                            1e-3)
  variables, alpha = init(jax.random.key(0))
  score = zeros.make_score_fn(model, (8, 8, 3), jnp.float32)
  assert 'f64' not in str(jax.make_jaxpr(score)(variables, alpha, alpha))


def test_scaled_network_is_exact_where_positively_homogeneous():
  """In float64 the scaled supernet's logits are the plain ones.

  ImageNet stem, so both the FactorizedReduce and the 1x1 preprocess are
  crossed; bn_mode eval, the DARTS default; 'none' is the NB201 test's.
  Weights times 10, so that the scale is not 1.
  """
  assert_scaled_equals_plain(
      darts.Network(10, 4, 3, 'imagenet', 'eval'),
      darts.Network(10, 4, 3, 'imagenet', 'eval', scaled=True), (32, 32, 3),
      darts.alpha_shapes(), weight_factor=10.0)
