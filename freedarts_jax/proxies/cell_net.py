"""The network of one NB201 cell on a batch, running only that cell's ops.

The data-dependent proxies score one cell at a time on a batch of images.
The one-hot supernet (spaces/nb201.py) computes every op of every edge and
multiplies four of the five by zero: about 5x the work of the cell, and its
weight gradients the most expensive part of it. Here the cell's ops are
given as a traced (6,) op index and every edge is one `jax.lax.switch`, so
one compiled function scores every cell, and on CPU (where switch runs one
branch, forward and backward) only the cell's own ops run. Under `jax.vmap`
(several cells at once on GPU/TPU) the switch becomes a select over the
branches: the supernet's cost, no worse. Each edge's switch has its own
VJP (`_switch`): autodiff's would zero-fill every branch's residuals.

Everything outside the cells is the supernet's own Flax modules applied to
its parameters (names unchanged), so the same variables score both ways;
the proxies' tests check that both give the same values. Their convs take
layers.conv's VJP (canonical_vjp), which XLA CPU runs fast also inside a
loop (TE-NAS's Jacobian is one backward pass per image under `lax.map`) or
a switch branch, at stride 1 (every cell's conv) also in grasp's second
order. The branches are built once per BatchNorm mode, so JAX traces them
once for every edge of the same shape (grad_norm's trace 11.6 s -> 3.0 s).
"""

import functools

import jax
import jax.numpy as jnp

from freedarts_jax import layers
from freedarts_jax.proxies import Setup
from freedarts_jax.spaces import nb201

CONVS = tuple(nb201.OPS.index(op) for op in ('nor_conv_1x1', 'nor_conv_3x3'))


def conv_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """k x k conv, stride 1, PyTorch padding (k // 2), odd k; NHWC, HWIO.

  Equal to nb201._conv; its VJP is layers.conv's, whose convolutions XLA CPU
  runs on its fast path inside this module's `lax.switch` branches.
  """
  p = kernel.shape[0] // 2
  return layers.conv(x, kernel, (1, 1), ((p, p), (p, p)))


def _sub(variables: dict, name: str, probes: dict | None) -> dict:
  out = {col: tree[name] for col, tree in variables.items() if name in tree}
  if probes is not None and name in probes:
    out['probes'] = probes[name]
  return out


def _module(module, variables, name, probes, x, codes):
  """A supernet module's output; its NASWOT codes are appended to codes."""
  y, state = module.apply(_sub(variables, name, probes), x,
                          mutable=['intermediates'])
  codes.extend((t, 1.0) for t in jax.tree.leaves(state.get(
      'intermediates', {})))
  return y


@functools.cache  # the same functions for every edge: JAX traces them once
def _branches(bn_mode: str) -> tuple:
  """The five ops of an edge as functions of (h, e), in nb201.OPS order.

  e holds the edge's conv kernels and BatchNorm statistics
  ({'nor_conv_1x1': {'kernel', 'mean', 'var'}, 'nor_conv_3x3': ...}; the
  statistics None outside 'eval') and its Fisher probe (or None).
  """

  def conv(op):
    def run(h, e):
      y = conv_same(jax.nn.relu(h), e[op]['kernel'].astype(h.dtype))
      if e['probe'] is not None:
        y = y * (1 + e['probe'])
      return layers.batch_norm(y, bn_mode, e[op]['mean'], e[op]['var'])
    return run

  return (lambda h, e: jnp.zeros_like(h), lambda h, e: h,
          conv('nor_conv_1x1'), conv('nor_conv_3x3'),
          lambda h, e: layers.avg_pool(h, 3, 1))


def _plain_switch(bn_mode: str, op: jax.Array, h: jax.Array, e: dict
                  ) -> jax.Array:
  """The op `op` of `_branches(bn_mode)` on (h, e); autodiff's VJP."""
  return jax.lax.switch(op, _branches(bn_mode), h, e)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _switch(bn_mode: str, op: jax.Array, h: jax.Array, e: dict) -> jax.Array:
  """`_plain_switch` with a lean VJP.

  Autodiff of a switch makes every branch return the union of all
  branches' residuals, zero-filled where a branch has none: per edge about
  9 fills and 4 copies whichever op runs (0.32 s of a 0.57 s grad_norm
  call on an all-skip cell, profiled). Here the residuals are the
  inputs alone, and the backward pass is a switch that reruns the chosen
  op's forward under jax.vjp: one more forward conv per conv edge.
  """
  return _plain_switch(bn_mode, op, h, e)


def _switch_fwd(bn_mode, op, h, e):
  return _plain_switch(bn_mode, op, h, e), (op, h, e)


@functools.cache
def _backward_branches(bn_mode: str) -> tuple:
  """The VJPs of `_branches(bn_mode)` as functions of (h, e, g)."""
  return tuple(lambda h, e, g, f=f: jax.vjp(f, h, e)[1](g)
               for f in _branches(bn_mode))


def _switch_bwd(bn_mode, residuals, g):
  op, h, e = residuals
  return (None, *jax.lax.switch(op, _backward_branches(bn_mode), h, e, g))


_switch.defvjp(_switch_fwd, _switch_bwd)


def _edge(variables, name, h, op, switch, probe):
  """The op `op` (traced index into nb201.OPS) of one edge on node h.

  switch: (op, h, e) -> the op's output (`_switch` or `_plain_switch`
  with bn_mode bound).
  """
  e = {'probe': probe}
  for conv in ('nor_conv_1x1', 'nor_conv_3x3'):
    stats = variables.get('batch_stats', {}).get(f'{name}_{conv}', {})
    e[conv] = {'kernel': variables['params'][f'{name}_{conv}']['kernel'],
               'mean': stats.get('mean'), 'var': stats.get('var')}
  return switch(op, h, e)


def _cell(variables, x, ops, switch, probes, codes):
  """One NB201 cell and its NASWOT codes.

  ops (6,) int; NASWOT codes: node j once per chosen conv op reading it
  (each has its own ReLU).
  """
  nodes = [x]
  for i in range(1, nb201.NUM_NODES):
    total = jnp.zeros_like(x)
    for e, (to, frm) in enumerate(nb201.EDGES):
      if to == i:
        name = f'edge{to}_{frm}'
        probe = None if probes is None else probes[name]
        total = total + _edge(variables, name, nodes[frm], ops[e], switch,
                              probe)
    nodes.append(total)
  for j in range(nb201.NUM_NODES - 1):
    n_convs = sum(jnp.isin(ops[e], jnp.array(CONVS))
                  for e, (_, frm) in enumerate(nb201.EDGES) if frm == j)
    codes.append((nodes[j], n_convs))
  return nodes[-1]


def apply(setup: Setup, variables: dict, x: jax.Array, ops: jax.Array,
          bn_mode: str = 'train', probes: dict | None = None,
          lean_vjp: bool = True):
  """Logits of the network of one cell, and its ReLU inputs.

  Args:
    setup: the network's shape (channels, cells per stage, classes).
    variables: the NB201 supernet's variables ('params', 'batch_stats'),
      already in the compute dtype.
    x: images (B, H, W, 3) in the compute dtype.
    ops: (6,) int, the op index (nb201.OPS) of each edge.
    bn_mode: BatchNorm mode of every BatchNorm.
    probes: None, or `probe_zeros(...)`: every conv and linear output is
      scaled by (1 + q) (layers.probe), for the Fisher proxy.
    lean_vjp: each edge's switch with `_switch`'s VJP (first-order
      gradients: the fast form), or autodiff's (second order: grasp's
      Hessian-vector product through `_switch` took over 13 minutes to
      compile, against about 4 through the plain switch; with layers.conv's
      second order canonical, 44 s against 36 at N = 1, batch 16).

  Returns:
    logits (B, classes) and a list of (ReLU input (B, ...), how many ReLUs
    read it (a traced count for the cell nodes)), NASWOT's codes.
  """
  switch = functools.partial(_switch if lean_vjp else _plain_switch, bn_mode)
  codes = []
  c = setup.channels
  x = _module(layers.Conv(c, 3, canonical_vjp=True), variables,
              'stem_conv', probes, x, codes)
  x = _module(layers.BatchNorm(bn_mode), variables, 'stem_bn', None, x, codes)
  for stage in range(3):
    if stage:
      c *= 2
      x = _module(nb201.ResBlock(c, bn_mode, canonical_vjp=True), variables,
                  f'reduce{stage}',
                  probes, x, codes)
    for i in range(setup.cells_per_stage):
      name = f'stage{stage}_cell{i}'
      x = _cell(_sub(variables, name, None), x, ops, switch,
                None if probes is None else probes[name], codes)
  x = _module(layers.BatchNorm(bn_mode), variables, 'lastact_bn', None, x,
              codes)
  codes.append((x, 1.0))
  logits = _module(layers.Dense(setup.num_classes), variables, 'classifier',
                   probes, layers.global_avg_pool(jax.nn.relu(x)), codes)
  return logits, codes


def probe_zeros(setup: Setup, batch: int, dtype) -> dict:
  """Zero probes for `apply`.

  (B, 1, 1, C) per conv output, (B, classes) for the classifier; a cell's
  edge has one probe whichever conv it runs.
  """
  def q(c):
    return {'out': jnp.zeros((batch, 1, 1, c), dtype)}

  c = setup.channels
  out = {'stem_conv': q(c),
         'classifier': {'out': jnp.zeros((batch, setup.num_classes), dtype)}}
  for stage in range(3):
    if stage:
      c *= 2
      out[f'reduce{stage}'] = {'conv_a': {'conv': q(c)},
                               'conv_b': {'conv': q(c)}, 'downsample': q(c)}
    for i in range(setup.cells_per_stage):
      out[f'stage{stage}_cell{i}'] = {
          f'edge{to}_{frm}': q(c)['out'] for to, frm in nb201.EDGES}
  return out
