"""DARTS genotypes: the choice rule, the DARTS text and JSON forms, DARTS-V2.

Design: docs/design.md section 3. A genotype holds, for the normal
and the reduction cell, 8 (op, input) pairs: two per intermediate node 2..5,
where input 0 and 1 are the cell inputs and 2..4 earlier nodes. The cell's
output is the concatenation of nodes 2..5.
"""

import ast
from collections.abc import Sequence
import json
from typing import NamedTuple

import numpy as np

from freedarts_jax import errors
from freedarts_jax import tree_util

OPS = ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3',
       'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5')
NONE = 0
NODES = (2, 3, 4, 5)  # intermediate nodes; 0 and 1 are the cell inputs
# Edge e is (to_node, from_node): rows 0-1 feed node 2, 2-4 node 3, 5-8 node
# 4, 9-13 node 5 (the DARTS order).
EDGES = tuple((k, j) for k in NODES for j in range(k))
CONCAT = (2, 3, 4, 5)
CELLS = ('normal', 'reduce')

Pairs = tuple[tuple[str, int], ...]


class Genotype(NamedTuple):
  """DARTS's Genotype, with tuples so that it is hashable."""

  normal: Pairs
  normal_concat: tuple[int, ...]
  reduce: Pairs
  reduce_concat: tuple[int, ...]


def _pairs(*pairs) -> Pairs:
  return tuple(pairs)


# DARTS (second order) from Liu et al. 2019, as in its genotypes.py.
DARTS_V2 = Genotype(
    normal=_pairs(('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
                  ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
                  ('sep_conv_3x3', 1), ('skip_connect', 0),
                  ('skip_connect', 0), ('dil_conv_3x3', 2)),
    normal_concat=CONCAT,
    reduce=_pairs(('max_pool_3x3', 0), ('max_pool_3x3', 1),
                  ('skip_connect', 2), ('max_pool_3x3', 1),
                  ('max_pool_3x3', 0), ('skip_connect', 2),
                  ('skip_connect', 2), ('max_pool_3x3', 1)),
    reduce_concat=CONCAT,
)


def choose_cell(scores: np.ndarray, mask: np.ndarray) -> Pairs:
  """The DARTS rule on one (14, 8) score matrix.

  Per node, every incoming edge is ranked by its best score among the ops
  that are still in the mask, 'none' excluded; the two best edges are kept,
  each with that best op. Ties are broken deterministically: between edges,
  the one from the earlier node wins; between ops, the earlier op in OPS.

  Args:
    scores: (14, 8) ZEROS of one cell type.
    mask: (14, 8) 1 for the ops still in the search, 0 for removed ones.

  Returns:
    8 (op, input) pairs, two per node 2..5, each node's stronger edge
    first (the order DARTS's own parser writes).
  """
  s = np.where(np.asarray(mask) > 0, np.asarray(scores, np.float64), -np.inf)
  s[:, NONE] = -np.inf
  best_op = np.argmax(s, axis=1)  # first maximum: the earlier op on ties
  strength = s[np.arange(len(EDGES)), best_op]
  pairs = []
  for k in NODES:
    rows = [e for e, (to, _) in enumerate(EDGES) if to == k]
    # Stable: on equal strength the earlier row (earlier input) stays first.
    top = sorted(rows, key=lambda e: -strength[e])[:2]
    for e in top:
      if not np.isfinite(strength[e]):
        raise errors.GenotypeError(
            f'edge {EDGES[e][0]}<-{EDGES[e][1]} has no op other than none '
            'left to choose from.')
      pairs.append((OPS[best_op[e]], EDGES[e][1]))
  return tuple(pairs)


def choose(scores: dict, mask: dict) -> Genotype:
  """The DARTS rule on {'normal': (14, 8), 'reduce': (14, 8)} scores."""
  return Genotype(choose_cell(scores['normal'], mask['normal']), CONCAT,
                  choose_cell(scores['reduce'], mask['reduce']), CONCAT)


def to_text(genotype: Genotype) -> str:
  """The `Genotype(normal=[('sep_conv_3x3', 0), ...], ...)` text of DARTS."""
  genotype = validate(genotype)

  def pairs(p):
    return '[' + ', '.join(f'({op!r}, {i})' for op, i in p) + ']'

  return (f'Genotype(normal={pairs(genotype.normal)}, normal_concat='
          f'{list(genotype.normal_concat)}, reduce={pairs(genotype.reduce)},'
          f' reduce_concat={list(genotype.reduce_concat)})')


def to_json(genotype: Genotype) -> dict:
  """{'normal': [[op, input], ...], 'normal_concat': [2, 3, 4, 5], ...}."""
  genotype = validate(genotype)
  return {'normal': [list(p) for p in genotype.normal],
          'normal_concat': list(genotype.normal_concat),
          'reduce': [list(p) for p in genotype.reduce],
          'reduce_concat': list(genotype.reduce_concat)}


def _literal(node: ast.AST):
  """A literal, or range(a, b) as a list (DARTS writes range(2, 6))."""
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
      and node.func.id == 'range' and not node.keywords):
    return list(range(*(ast.literal_eval(a) for a in node.args)))
  return ast.literal_eval(node)


def from_text(text: str) -> Genotype:
  """Parses the DARTS `Genotype(...)` text or the JSON form.

  Raises:
    errors.GenotypeError: malformed text or an invalid genotype.
  """
  if not isinstance(text, str):
    raise errors.GenotypeError(f'a genotype text must be a string, got '
                               f'{type(text).__name__}.')
  text = text.strip()
  if text.startswith('{'):
    try:
      return from_json(json.loads(text))
    except json.JSONDecodeError as e:
      raise errors.GenotypeError(f'malformed genotype JSON: {e}.') from e
  fields = None
  try:
    call = ast.parse(text, mode='eval').body
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        and call.func.id == 'Genotype' and not call.args):
      fields = {kw.arg: _literal(kw.value) for kw in call.keywords}
  except (SyntaxError, ValueError, TypeError):
    pass
  if fields is None:
    raise errors.GenotypeError(
        f'malformed DARTS genotype {text[:80]!r}: expected Genotype(normal='
        '[(op, input), ...], normal_concat=[2, 3, 4, 5], reduce=[...], '
        f'reduce_concat=[2, 3, 4, 5]) with op one of {", ".join(OPS[1:])}.')
  return from_json(fields)


def from_json(obj) -> Genotype:
  """The JSON form (a dict) -> Genotype; GenotypeError if invalid."""
  keys = set(Genotype._fields)
  if not isinstance(obj, dict) or set(obj) != keys:
    got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
    raise errors.GenotypeError(
        f'a DARTS genotype has exactly the fields {", ".join(Genotype._fields)}'
        f'; got {got}.')
  return validate(Genotype(**obj))


def _validate_pairs(cell: str, pairs) -> Pairs:
  if not isinstance(pairs, Sequence) or len(pairs) != 2 * len(NODES):
    raise errors.GenotypeError(
        f'{cell}: a DARTS cell has {2 * len(NODES)} (op, input) pairs, two '
        f'per node 2..5; got {pairs!r}.')
  out = []
  for i, pair in enumerate(pairs):
    node = NODES[i // 2]
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(
        pair) != 2:
      raise errors.GenotypeError(f'{cell}: pair {i} must be (op, input), got '
                                 f'{pair!r}.')
    op, inp = pair
    if op not in OPS[1:]:
      raise errors.GenotypeError(
          f'{cell}, pair {i}: ' + errors.one_of('op', op, OPS[1:]))
    if isinstance(inp, bool) or not isinstance(inp, int) or not (
        0 <= inp < node):
      raise errors.GenotypeError(
          f'{cell}, pair {i} (node {node}): input must be an integer in 0..'
          f'{node - 1}, got {inp!r}.')
    out.append((op, inp))
  for i in range(0, len(out), 2):
    if out[i] == out[i + 1]:
      raise errors.GenotypeError(
          f'{cell}: node {NODES[i // 2]} holds {out[i]} twice.')
  return tuple(out)


def validate(genotype) -> Genotype:
  """Checks ops, inputs and concat; returns a hashable Genotype."""
  if not isinstance(genotype, tuple) or not hasattr(genotype, '_fields'):
    raise errors.GenotypeError(f'expected a Genotype, got {genotype!r}.')
  out = {}
  for cell in CELLS:
    out[cell] = _validate_pairs(cell, getattr(genotype, cell))
    concat = getattr(genotype, f'{cell}_concat')
    if not isinstance(concat, Sequence) or tuple(concat) != CONCAT:
      raise errors.GenotypeError(
          f'{cell}_concat must be {list(CONCAT)} (the cell output is the '
          f'concatenation of nodes 2..5), got {concat!r}.')
    out[f'{cell}_concat'] = CONCAT
  return Genotype(**out)


def edge_ops(pairs: Pairs) -> tuple[tuple[str, ...], ...]:
  """Per edge of EDGES, the ops that a cell with these pairs holds."""
  ops = [[] for _ in EDGES]
  for i, (op, inp) in enumerate(pairs):
    ops[EDGES.index((NODES[i // 2], inp))].append(op)
  return tuple(tuple(o) for o in ops)


def one_hot(genotype: Genotype) -> dict[str, np.ndarray]:
  """{'normal': (14, 8), 'reduce': (14, 8)}: 1 for each op the cells keep."""
  return {kind: tree_util.one_hot(edge_ops(getattr(genotype, kind)), OPS)
          for kind in CELLS}
