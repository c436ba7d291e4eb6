"""The NB201 space: structure, init, supernet == discrete network, strings."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from freedarts_jax import errors
from freedarts_jax import tree_util
from freedarts_jax import zeros
from freedarts_jax.init import torch_init
from freedarts_jax.spaces import nb201

GENOTYPES = [
    ('nor_conv_3x3', 'nor_conv_3x3', 'nor_conv_3x3', 'nor_conv_1x1',
     'nor_conv_3x3', 'nor_conv_3x3'),
    ('skip_connect', 'none', 'avg_pool_3x3', 'nor_conv_1x1', 'none',
     'skip_connect'),
    ('avg_pool_3x3', 'nor_conv_1x1', 'none', 'none', 'skip_connect',
     'nor_conv_3x3'),
]


def _count(tree) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def test_full_supernet_has_the_released_parameter_count():
  model = nb201.Network(10)
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((6, 5), jnp.float32)}
  variables = jax.eval_shape(model.init, jax.random.key(0), x, alpha)
  assert _count(variables['params']) == 1_686_106  # docs/design.md 4.1


def test_torch_init_bounds_and_constants():
  model = nb201.Network(10, channels=4, cells_per_stage=1)
  x = jnp.ones((1, 8, 8, 3), jnp.float32)
  alpha = {'cell': jnp.ones((6, 5), jnp.float32)}
  v = torch_init(model.init, jax.random.key(0), x, alpha)
  k = v['params']['stage0_cell0']['edge1_0_nor_conv_3x3']['kernel']
  bound = 1 / math.sqrt(3 * 3 * 4)
  assert k.dtype == jnp.float32
  assert np.abs(k).max() <= bound and np.abs(k).max() > 0.8 * bound
  fc = v['params']['classifier']['fc']
  assert np.abs(fc['bias']).max() <= 1 / math.sqrt(16)
  assert np.all(v['params']['stem_bn']['scale'] == 1)
  assert np.all(v['params']['stem_bn']['bias'] == 0)
  assert np.all(v['batch_stats']['lastact_bn']['var'] == 1)
  again = torch_init(model.init, jax.random.key(0), x, alpha)
  assert jax.tree.all(jax.tree.map(np.array_equal, v, again))


@pytest.mark.parametrize('bn_mode', ['train', 'eval', 'none'])
@pytest.mark.parametrize('genotype', GENOTYPES)
def test_one_hot_supernet_equals_discrete_network(bn_mode, genotype):
  supernet = nb201.Network(10, channels=4, cells_per_stage=1, bn_mode=bn_mode)
  init = zeros.make_init_fn(supernet, (8, 8, 3), nb201.alpha_shapes(),
                            'normal', 1e-3)
  variables, _ = init(jax.random.key(1))
  variables = tree_util.cast(variables, jnp.float64)
  one_hot = np.zeros((6, 5))
  one_hot[np.arange(6), [nb201.OPS.index(op) for op in genotype]] = 1
  x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3), jnp.float64)
  out_super = supernet.apply(variables, x, {'cell': jnp.asarray(one_hot)})

  discrete = nb201.Network(10, channels=4, cells_per_stage=1,
                           bn_mode=bn_mode, genotype=genotype)
  shapes = jax.eval_shape(discrete.init, jax.random.key(0), x)
  subset = jax.tree_util.tree_map_with_path(
      lambda path, _: _get(variables, path), shapes)
  assert _count(subset) < _count(variables)
  out_discrete = discrete.apply(subset, x)
  np.testing.assert_allclose(out_super, out_discrete, rtol=1e-6, atol=1e-6)
  assert out_super.dtype == jnp.float64


def _get(tree, path):
  for p in path:
    tree = tree[p.key]
  return tree


def test_string_round_trip_and_benchmark_form():
  arch = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
          '+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|')
  genotype = nb201.from_string(arch)
  assert genotype == GENOTYPES[0]
  assert nb201.to_string(genotype) == arch


@pytest.mark.parametrize('bad', [
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|',
    '|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|',
    '',
    None,
])
def test_malformed_strings_name_the_valid_ops(bad):
  with pytest.raises(errors.GenotypeError, match='nor_conv_3x3'):
    nb201.from_string(bad)


def test_validate_rejects_wrong_length():
  with pytest.raises(errors.GenotypeError, match='got 2'):
    nb201.validate(['none', 'none'])


def test_is_connected():
  assert nb201.is_connected(GENOTYPES[0])
  assert not nb201.is_connected(('none',) * 6)
  # only 1<-0 and 2<-1 and 3<-1: 0 -> 1 -> 3
  assert nb201.is_connected(('skip_connect', 'none', 'none', 'none',
                             'nor_conv_1x1', 'none'))
  # 3 is fed only from node 2, which has no live input
  assert not nb201.is_connected(('skip_connect', 'none', 'none', 'none',
                                 'none', 'nor_conv_1x1'))
