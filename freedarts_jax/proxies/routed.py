"""synflow and ZEROS on a batch of cells, computing only each cell's ops.

The vmapped one-hot supernet runs all five ops on every edge of every cell
(about 5x the work of one cell). Here a batch of B cells is one array
(B, H, W, C) and each edge runs each op only on the rows (cells) that chose
it: the rows are gathered into a block of static size `cap`, the op applied
once to the block and the result scattered back. `plan_groups` packs cells
into groups in which no (edge, op) is chosen more than `cap` times.

Everything else is the NB201 supernet's own code: the stem, reduction
blocks and classifier are its Flax modules applied to its parameters row by
row (jax.vmap: BatchNorm statistics stay per cell, as in the supernet with
one image), the convolutions are nb201._conv on the same kernels. Both
proxies are the definitions of data_free.py; tests check equality with the
vmapped supernet.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import layers
from freedarts_jax import tree_util
from freedarts_jax.proxies import Setup
from freedarts_jax.spaces import nb201

SKIP = nb201.OPS.index('skip_connect')
GATHERED = tuple(nb201.OPS.index(op) for op in
                 ('nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3'))
EMPTY = -1  # a padding row: no cell


def capacity(group: int) -> int:
  """Rows per (edge, op) block for groups of `group` cells."""
  return max(1, math.ceil(group / 5 * 1.3))


def plan_groups(ops: np.ndarray, group: int, cap: int) -> list[np.ndarray]:
  """Packs cells into groups of <= `group` with no (edge, op) over `cap`.

  Args:
    ops: (n, 6) op index per edge of each cell.
    group: cells per group.
    cap: the most cells of a group that may choose one op on one edge.

  Returns:
    Lists of row numbers into `ops`, each of length `group`, padded with
    EMPTY; deterministic (first fit in the given order).
  """
  groups, counts, open_ = [], [], []
  for row, cell in enumerate(ops):
    for g in open_:
      if all(counts[g][e, o] < cap for e, o in enumerate(cell)
             if o in GATHERED):
        break
    else:
      g = len(groups)
      groups.append([])
      counts.append(np.zeros((len(nb201.EDGES), len(nb201.OPS)), int))
      open_.append(g)
    groups[g].append(row)
    counts[g][np.arange(len(cell)), cell] += 1
    if len(groups[g]) == group:
      open_.remove(g)
  return [np.array(g + [EMPTY] * (group - len(g))) for g in groups]


def check_capacity(ops: np.ndarray, cap: int) -> None:
  """Raises if some op on some edge is chosen by more than cap rows.

  The batched network would silently leave the extra rows out.
  """
  for o in GATHERED:
    if (ops == o).sum(axis=0).max(initial=0) > cap:
      raise ValueError(f'more than {cap} cells choose {nb201.OPS[o]} on one '
                       'edge: pack them with plan_groups first.')


def _sub(variables, name):
  return {col: tree[name] for col, tree in variables.items() if name in tree}


def _rows(fn, x):
  """fn on each row (1, ...) of x: per-cell BatchNorm statistics."""
  return jax.vmap(lambda r: fn(r[None])[0])(x)


def _rescale(x, log2_scale):
  if log2_scale is None:
    return x, None
  (x,), k = jax.vmap(lambda r, k: layers.rescale((r,), k))(x, log2_scale)
  return x, k


def _cell(variables, x, ops, mult, cap: int, bn_mode: str):
  """One NB201 cell on B rows; ops (B, 6) op index, mult (B, 6) alpha."""
  b = x.shape[0]
  nodes = [x]
  for i in range(1, nb201.NUM_NODES):
    total = jnp.zeros_like(x)
    for e, (to, frm) in enumerate(nb201.EDGES):
      if to != i:
        continue
      h = nodes[frm]
      skip = jnp.where(ops[:, e] == SKIP, mult[:, e], 0).astype(x.dtype)
      total = total + h * skip[:, None, None, None]
      for o in GATHERED:
        idx = jnp.nonzero(ops[:, e] == o, size=cap, fill_value=b)[0]
        rows = h.at[idx].get(mode='fill', fill_value=0)  # (cap, H, W, C)
        op = nb201.OPS[o]
        if op == 'avg_pool_3x3':
          y = layers.avg_pool(rows, 3, 1)
        else:
          name = f'edge{to}_{frm}_{op}'
          kernel = variables['params'][name]['kernel']
          y = nb201._conv(  # pylint: disable=protected-access
              jax.nn.relu(rows), kernel)
          stats = variables.get('batch_stats', {}).get(name, {})
          y = _rows(lambda r, s=stats: layers.batch_norm(
              r, bn_mode, s.get('mean'), s.get('var')), y)
        m = mult[:, e].at[idx].get(mode='fill', fill_value=0)
        total = total.at[idx].add(y * m[:, None, None, None].astype(x.dtype),
                                  mode='drop')
    nodes.append(total)
  return nodes[-1]


def routed_apply(setup: Setup, bn_mode: str, variables, x1, ops, mult,
                 cap: int, scaled: bool = False):
  """Logits of B cells (B, classes) on one shared image x1 (1, H, W, 3).

  Returns (logits without bias, log2_scale (B,), bias): logits are
  `logits * 2**log2_scale + bias` (log2_scale 0 unless scaled).
  """
  b, c = ops.shape[0], setup.channels
  x = layers.Conv(c, 3).apply(_sub(variables, 'stem_conv'), x1)
  x = layers.BatchNorm(bn_mode).apply(_sub(variables, 'stem_bn'), x)
  x = jnp.broadcast_to(x, (b, *x.shape[1:]))  # every cell's stem is the same
  log2_scale = jnp.zeros((b,), jnp.int32) if scaled else None
  for stage in range(3):
    if stage:
      c *= 2
      x, log2_scale = _rescale(x, log2_scale)
      block = nb201.ResBlock(c, bn_mode)
      sub = _sub(variables, f'reduce{stage}')
      x = _rows(lambda r, blk=block, v=sub: blk.apply(v, r), x)
    for i in range(setup.cells_per_stage):
      x, log2_scale = _rescale(x, log2_scale)
      x = _cell(_sub(variables, f'stage{stage}_cell{i}'), x, ops, mult, cap,
                bn_mode)
  bn = layers.BatchNorm(bn_mode)
  x = jax.nn.relu(_rows(lambda r: bn.apply(_sub(variables, 'lastact_bn'),
                                           r), x))
  logits, bias = layers.Dense(setup.num_classes).apply(
      _sub(variables, 'classifier'), layers.global_avg_pool(x),
      split_bias=True)
  if log2_scale is None:
    log2_scale = jnp.zeros((b,), jnp.int32)
  return logits, log2_scale, bias


def _ops_of(alphas):
  """(B, 6, 5) one-hot -> (B, 6) op index; all-zero rows (padding) -> none."""
  return jnp.argmax(alphas, axis=-1)


def make_synflow(setup: Setup, cap: int):
  """Batched synflow: alphas (B, 6, 5) -> {'synflow': (B,) float64}."""
  scaled = setup.synflow_dtype == 'float32'
  dtype = jnp.dtype(setup.synflow_dtype)

  def score(variables, alphas, batch):
    del batch
    v = tree_util.linearise(tree_util.cast(variables, dtype))
    ops = _ops_of(alphas)
    mult = jnp.ones(ops.shape, dtype)
    x1 = jnp.ones((1, *setup.input_shape), dtype)
    tangent = tree_util.kernels_only(v)

    def r(w):  # per cell R without the bias, in units of 2**log2_scale
      logits, k, _ = routed_apply(setup, 'none', w, x1, ops, mult, cap,
                                  scaled)
      return jnp.sum(logits, axis=-1), k

    _, dr, k = jax.jvp(r, (v,), (tangent,), has_aux=True)
    return {'synflow': jnp.ldexp(dr.astype(jnp.float64), k)}

  return score


def make_zeros(setup: Setup, cap: int):
  """Batched ZEROS of cells: {'zeros': (B,), 'zeros_r': (B,)}."""
  dtype = jnp.dtype(setup.zeros_dtype)

  def score(variables, alphas, batch):
    del batch
    v = tree_util.linearise(tree_util.cast(variables, dtype))
    ops = _ops_of(alphas)
    x1 = jnp.ones((1, *setup.input_shape), dtype)

    def r(mult):  # sum over cells of R; d/d mult[b, e] is cell b's own
      logits, _, bias = routed_apply(setup, setup.zeros_bn_mode, v, x1, ops,
                                     mult, cap)
      per_cell = jnp.sum(logits, axis=-1) + jnp.sum(bias)
      return jnp.sum(per_cell), per_cell

    mult = jnp.ones(ops.shape, dtype)
    grad, r_cells = jax.grad(r, has_aux=True)(mult)
    chosen = jnp.where(ops == nb201.NONE, 0, jnp.abs(grad))  # (B, 6)
    return {'zeros': jnp.sum(chosen.astype(jnp.float64), axis=-1),
            'zeros_r': r_cells.astype(jnp.float64)}

  return score


BATCHED = {'synflow': make_synflow, 'zeros': make_zeros}
