"""Each proxy against an independent computation, on a tiny NB201 network.

Two kinds of check: (1) the one-hot supernet, vmapped over cells, gives the
score of the discrete network of each cell scored alone (its own module,
only its ops' parameters); (2) each definition against a closed form, a
finite difference or an explicit loop. Everything runs eagerly (no jit):
compiling a network per proxy would cost minutes on 2 cores.
"""

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from freedarts_jax import proxies
from freedarts_jax import tree_util
from freedarts_jax.init import torch_init
from freedarts_jax.init import torch_init_fn
from freedarts_jax.proxies import gradient
from freedarts_jax.proxies import jacobian
from freedarts_jax.proxies import nets
from freedarts_jax.spaces import nb201

SETUP = proxies.Setup(dataset='imagenet16', channels=4, cells_per_stage=1)
GENOTYPES = [
    ('nor_conv_3x3', 'skip_connect', 'nor_conv_1x1', 'avg_pool_3x3',
     'nor_conv_3x3', 'none'),
    ('skip_connect', 'none', 'avg_pool_3x3', 'nor_conv_1x1', 'none',
     'skip_connect'),
    ('nor_conv_1x1', 'nor_conv_3x3', 'nor_conv_3x3', 'none', 'nor_conv_1x1',
     'nor_conv_3x3'),
]


@dataclasses.dataclass(frozen=True)
class DiscreteSetup(proxies.Setup):
  """A Setup whose model is the discrete network of one genotype."""

  genotype: tuple = ()

  def model(self, bn_mode):
    return nb201.Network(self.num_classes, self.channels,
                         self.cells_per_stage, bn_mode,
                         genotype=self.genotype)


def _alpha(genotype):
  a = np.zeros((6, 5), np.float32)
  a[np.arange(6), [nb201.OPS.index(op) for op in genotype]] = 1
  return {'cell': jnp.asarray(a)}


def _variables(bn_mode, key=0):
  x = jax.ShapeDtypeStruct((1, *SETUP.input_shape), jnp.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((6, 5), jnp.float32)}
  return torch_init(SETUP.model(bn_mode).init, jax.random.key(key), x, alpha)


def _subset(variables, genotype, bn_mode):
  """The discrete network's variables, taken from the supernet's."""
  model = DiscreteSetup(**dataclasses.asdict(SETUP), genotype=genotype).model(
      bn_mode)
  x = jax.ShapeDtypeStruct((1, *SETUP.input_shape), jnp.float32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)

  def get(path, _):
    node = variables
    for p in path:
      node = node[p.key]
    return node

  return model, jax.tree_util.tree_map_with_path(get, shapes)


def _batch(n=6):
  x = jax.random.normal(jax.random.key(5), (n, *SETUP.input_shape),
                        jnp.float32)
  return x, jnp.arange(n, dtype=jnp.int32) % SETUP.num_classes


DATA_PROXIES = ('snip', 'grasp', 'grad_norm', 'fisher', 'jacob_cov', 'naswot',
                'te_nas')
CELLS = GENOTYPES[:2]

@functools.cache
def _vmapped(names: tuple[str, ...], bn_mode: str, setup=SETUP) -> dict:
  """The proxies, vmapped over CELLS on the supernet, in one compiled call."""
  fns = [proxies.get(n).make(setup) for n in names]

  def score(v, a, b):
    return {k: t for f in fns for k, t in f(v, a, b).items()}

  alphas = {'cell': jnp.stack([_alpha(g)['cell'] for g in CELLS])}
  out = jax.jit(jax.vmap(score, in_axes=(None, 0, None)))(
      _variables(bn_mode), alphas, _batch())
  return {k: np.asarray(t) for k, t in out.items()}


def _kernels_sum(tree, fn):
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return sum(fn(path, leaf) for path, leaf in flat if path[-1].key == 'kernel')


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_synflow_is_reverse_mode_sum_of_abs_theta_grad(i):
  genotype = CELLS[i]
  model, sub = _subset(_variables('none'), genotype, 'none')
  sub = jax.tree.map(lambda t: jnp.abs(t.astype(jnp.float64)), sub)
  x = jnp.ones((1, *SETUP.input_shape), jnp.float64)
  g = jax.jit(jax.grad(lambda v: jnp.sum(model.apply(v, x))))(sub)
  expected = _kernels_sum(
      g, lambda path, gk: np.sum(np.abs(np.asarray(gk) * np.asarray(
          _at(sub, path)))))
  got = _vmapped(('synflow',), 'none')['synflow']
  assert got.dtype == np.float64
  np.testing.assert_allclose(got[i], expected, rtol=1e-10)


def _at(tree, path):
  for p in path:
    tree = tree[p.key]
  return tree


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_zeros_is_finite_difference_of_r_over_the_chosen_ops(i):
  setup = dataclasses.replace(SETUP, zeros_dtype='float64')
  variables, alpha = _variables('train'), _alpha(CELLS[i])
  out = {k: t[i] for k, t in _vmapped(('zeros',), 'train', setup).items()}
  model = setup.model('train')
  v = tree_util.linearise(tree_util.cast(variables, jnp.float64))
  x = jnp.ones((1, *setup.input_shape), jnp.float64)

  r_jit = jax.jit(lambda a: jnp.sum(model.apply(v, x, {'cell': a})))

  def r(a):
    return float(r_jit(jnp.asarray(a)))

  a0, h, total = np.asarray(alpha['cell'], np.float64), 1e-4, 0.0
  for e, op in enumerate(CELLS[i]):
    o = nb201.OPS.index(op)
    up, down = a0.copy(), a0.copy()
    up[e, o] += h
    down[e, o] -= h
    total += abs((r(up) - r(down)) / (2 * h))
  np.testing.assert_allclose(out['zeros_r'], r(a0), rtol=1e-12)
  np.testing.assert_allclose(out['zeros'], total, rtol=1e-6)


def _loss_and_params(genotype):
  model, sub = _subset(_variables('train'), genotype, 'train')
  sub = tree_util.cast(sub, jnp.float64)
  x, y = _batch()

  def loss(params):
    logits = model.apply({**sub, 'params': params}, x.astype(jnp.float64))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits, y))

  return loss, sub['params']


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_snip_grad_norm_and_grasp_match_their_definitions(i):
  loss, params = _loss_and_params(CELLS[i])
  grad = jax.jit(jax.grad(loss))
  g = grad(params)
  snip = _kernels_sum(g, lambda p, t: np.sum(np.abs(t * _at(params, p))))
  norm = _kernels_sum(g, lambda p, t: np.linalg.norm(np.ravel(t)))
  # grasp: -theta . (H g) with H g by a central difference of the gradient.
  direction = jax.tree_util.tree_map_with_path(
      lambda p, t: t if p[-1].key == 'kernel' else jnp.zeros_like(t), g)
  h = 1e-6  # ReLU kinks: a larger step crosses them (1e-4 is 15x off)
  plus = grad(jax.tree.map(lambda w, d: w + h * d, params, direction))
  minus = grad(jax.tree.map(lambda w, d: w - h * d, params, direction))
  hg = jax.tree.map(lambda a, b: (a - b) / (2 * h), plus, minus)
  grasp = _kernels_sum(hg, lambda p, t: -np.sum(t * _at(params, p)))
  got = _vmapped(DATA_PROXIES, 'train')
  for name, expected in (('snip', snip), ('grad_norm', norm),
                         ('grasp', grasp)):
    np.testing.assert_allclose(got[name][i], expected, rtol=2e-3,
                               err_msg=name)


class _Linear(nn.Module):
  @nn.compact
  def __call__(self, x, alpha=None):
    from freedarts_jax import layers  # pylint: disable=g-import-not-at-top
    return layers.Dense(3, name='classifier')(x)


def test_fisher_closed_form_on_a_linear_classifier():
  model = _Linear()
  x = jax.random.normal(jax.random.key(0), (5, 4), jnp.float32)
  y = jnp.array([0, 1, 2, 0, 1], jnp.int32)
  variables = model.init(jax.random.key(1), x)
  setup = dataclasses.replace(SETUP, routed=False)  # the model below
  object.__setattr__(setup, 'model', lambda bn_mode: model)  # frozen
  got = gradient.make_fisher(setup)(variables, {}, (x, y))['fisher']
  z = np.asarray(model.apply(variables, x), np.float64)  # (5, 3)
  p = np.exp(z - z.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  dz = (p - np.eye(3)[np.asarray(y)]) / len(y)  # d mean CE / d z
  expected = 0.5 * np.sum(np.mean((z * dz) ** 2, axis=0))
  np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_jacob_cov_against_numpy(i):
  variables, batch = _variables('train'), _batch()
  model, sub = _subset(variables, CELLS[i], 'train')
  jac = jax.jit(jax.grad(lambda x: jnp.sum(model.apply(sub, x))))(batch[0])
  j = np.asarray(jac, np.float64).reshape(len(jac), -1)
  v = np.linalg.eigvalsh(np.corrcoef(j))
  expected = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
  got = _vmapped(DATA_PROXIES, 'train')['jacob_cov'][i]
  np.testing.assert_allclose(got, expected, rtol=1e-4)


def _relu_units(genotype) -> int:
  """ReLU inputs of one example in the cell's network (closed form)."""
  c, h = SETUP.channels, SETUP.input_shape[0]
  convs = sum(op.startswith('nor_conv') for op in genotype)
  total = 0
  for s in range(3):
    cs, hs = c * 2**s, h // 2**s
    total += SETUP.cells_per_stage * convs * hs * hs * cs
    if s:  # ResBlock: conv_a reads the previous stage, conv_b this one
      total += (2 * hs) ** 2 * (cs // 2) + hs * hs * cs
  return total + (h // 4) ** 2 * 4 * c  # lastact


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_naswot_kernel_diagonal_counts_every_relu(i):
  variables, batch = _variables('train'), _batch()
  net = nets.cell(SETUP, 'train', jnp.float32)
  k = jax.jit(functools.partial(jacobian.naswot_kernel, net))(
      variables, _alpha(CELLS[i]), batch[0])
  np.testing.assert_array_equal(np.diag(k), _relu_units(CELLS[i]))
  assert np.all(k >= 0) and np.all(k <= _relu_units(CELLS[i]))
  got = _vmapped(DATA_PROXIES, 'train')['naswot'][i]
  np.testing.assert_allclose(got, np.linalg.slogdet(k)[1], rtol=1e-6)


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_te_nas_against_a_loop_over_examples(i):
  variables, batch = _variables('train'), _batch()
  model, sub = _subset(variables, CELLS[i], 'train')
  rows = []
  grad = jax.jit(jax.grad(lambda p, n: jnp.sum(
      model.apply({**sub, 'params': p}, batch[0])[n])))
  for n in range(len(batch[0])):
    g = grad(sub['params'], n)
    flat, _ = jax.tree_util.tree_flatten_with_path(g)
    rows.append(np.concatenate([np.ravel(t) for p, t in flat
                                if p[-1].key in ('kernel', 'scale')]))
  j = np.array(rows, np.float64)
  v = np.linalg.eigvalsh(j @ j.T)
  got = _vmapped(DATA_PROXIES, 'train')['te_nas'][i]
  np.testing.assert_allclose(got, -v[-1] / v[0], rtol=2e-3)


def _conv_macs(fn, *args) -> int:
  """Multiply-adds of every conv and matmul in fn's jaxpr."""
  total = 0
  for eqn in jax.make_jaxpr(fn)(*args).eqns:
    sub = [v for v in eqn.params.values()
           if isinstance(v, jax.extend.core.ClosedJaxpr)]
    for closed in sub:
      total += _macs_of(closed.jaxpr)
    total += _macs_of_eqn(eqn)
  return total


def _macs_of(jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    for v in eqn.params.values():
      if isinstance(v, jax.extend.core.ClosedJaxpr):
        total += _macs_of(v.jaxpr)
      elif isinstance(v, jax.extend.core.Jaxpr):
        total += _macs_of(v)
    total += _macs_of_eqn(eqn)
  return total


def _macs_of_eqn(eqn) -> int:
  if eqn.primitive.name == 'conv_general_dilated':
    out = eqn.outvars[0].aval.shape  # NHWC
    kernel = eqn.invars[1].aval.shape  # HWIO
    return math.prod(out) * math.prod(kernel[:3])
  if eqn.primitive.name == 'dot_general':
    a = eqn.invars[0].aval.shape
    return math.prod(a) * eqn.outvars[0].aval.shape[-1]
  return 0


@pytest.mark.parametrize('genotype', GENOTYPES)
def test_params_and_flops_count_the_discrete_network(genotype):
  setup = DiscreteSetup(**dataclasses.asdict(SETUP), genotype=genotype)
  model = setup.model('train')
  x = jnp.ones((1, *SETUP.input_shape), jnp.float32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  count = sum(math.prod(t.shape) for t in jax.tree.leaves(shapes['params']))
  # NB201's evaluation cells carry BatchNorm affine: 2 C_s per conv op.
  convs = sum(op.startswith('nor_conv') for op in genotype)
  count += convs * sum(2 * SETUP.channels * 2**s for s in range(3))
  got = proxies.get('params').make(SETUP)({}, _alpha(genotype), None)
  assert got['params'] == count
  variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
  macs = _conv_macs(lambda v: model.apply(v, x), variables)
  got = proxies.get('flops').make(SETUP)({}, _alpha(genotype), None)
  assert got['flops'] == macs


def test_torch_init_fn_traced_equals_torch_init():
  model = SETUP.model('train')
  x = jax.ShapeDtypeStruct((1, *SETUP.input_shape), jnp.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((6, 5), jnp.float32)}
  draw = jax.jit(torch_init_fn(model.init, x, alpha))
  for seed in (0, 7):
    key = jax.random.key(seed)
    host = torch_init(model.init, key, x, alpha)
    assert jax.tree.all(jax.tree.map(np.array_equal, host, draw(key)))


def test_parse_rejects_unknown_ids_and_names_the_valid_ones():
  assert [p.name for p in proxies.parse('synflow, zeros,synflow')] == [
      'synflow', 'zeros']
  assert len(proxies.parse('all')) == len(proxies.names()) == 11
  with pytest.raises(proxies.errors.ConfigError, match='synflo.*valid.*snip'):
    proxies.parse('synflo')
  with pytest.raises(proxies.errors.ConfigError, match='comma'):
    proxies.parse('synflow,,zeros')


@pytest.mark.parametrize('i', range(len(CELLS)))
def test_fisher_on_the_supernet_equals_the_cell_alone(i):
  setup = DiscreteSetup(**{**dataclasses.asdict(SETUP), 'routed': False},
                        genotype=CELLS[i])  # runs setup.model
  _, sub = _subset(_variables('train'), CELLS[i], 'train')
  alone = jax.jit(gradient.make_fisher(setup))(sub, _alpha(CELLS[i]),
                                               _batch())['fisher']
  got = _vmapped(DATA_PROXIES, 'train')
  np.testing.assert_allclose(got['fisher'][i], alone, rtol=1e-4)
  for name in DATA_PROXIES:  # the two cells' scores differ
    assert got[name][0] != got[name][1], name
