"""Search under a size budget: the best-scoring architecture that fits.

`config.budget_metric` (none | params | flops) and `config.budget` bound the
network that result.json describes; it costs a fixed part plus one entry per
chosen (edge, op) or block candidate (costs.py).

Selection is exact: an architecture is a choice of options in independent
groups (an NB201 edge or a MobileNet block: one op; a DARTS node: two
distinct incoming edges with one op each, normal and reduction nodes under
one budget), its score the sum of its ops' scores. Merging the groups'
(cost, score) Pareto frontiers one group at a time, dropping what cannot be
completed within the budget, keeps an optimal architecture.

'none' is never chosen, as `space.choose` never chooses it while another op
is left: it scores 0 and costs what skip_connect costs (0 parameters, 0
multiply-adds), so a cell with 'none' is never cheaper than the same cell
with skip_connect there, and without 'none' every NB201 cell is connected
(edges 1<-0, 2<-1, 3<-2 always hold a real op).

Iterative schedules prune as without a budget; the budget applies to the
final choice. That choice is exact on the last round's scores over the ops
left; where no architecture within the budget is left, on the latest round
whose scored ops still hold one (masks only shrink, so round 0 always does
once the config check has passed). The unconstrained choice stays the
search's own, and both choices are scored by the same round.
"""

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import itertools
import math
from typing import NamedTuple

import ml_collections
import numpy as np

from freedarts_jax import errors
from freedarts_jax import validation
from freedarts_jax.search import costs
from freedarts_jax.spaces import darts_genotype
from freedarts_jax.spaces import nb201
from freedarts_jax.spaces.space import Space

METRICS = ('none', 'params', 'flops')
UNITS = {'params': 'parameters', 'flops': 'multiply-adds'}

Tables = costs.Tables
Pick = tuple[str, int, int]  # (alpha tensor, edge, op)


class Group(NamedTuple):
  """`take` distinct rows of one alpha tensor, one op on each."""

  tensor: str
  rows: tuple[int, ...]
  take: int


@dataclasses.dataclass(frozen=True)
class Budget:
  """A cost model and its limit.

  Attributes:
    metric: 'params' or 'flops' (multiply-adds).
    limit: the largest cost allowed.
    base: the cost every architecture has (stems, classifier, ...).
    tables: alpha tensor name -> (edges, ops) cost of each op.
    groups: how an architecture picks its ops.
    network: the network the costs count, in words.
    has_none: column 0 is 'none' (never chosen).
  """

  metric: str
  limit: float
  base: float
  tables: Tables
  groups: tuple[Group, ...]
  network: str
  has_none: bool


class Choice(NamedTuple):
  """A budgeted choice and what it gave up.

  Attributes:
    genotype: the architecture chosen within the budget.
    free: the unconstrained choice (space.choose on the last round).
    step: index into the steps (`steps`) whose scores chose `genotype`.
    scores: those scores, {name: (edges, ops)}.
  """

  genotype: object
  free: object
  step: int
  scores: dict


_ARCH = {'nb201': nb201.to_string, 'darts': darts_genotype.to_text,
         'mobilenet': ' '.join}


def groups(space: Space) -> tuple[Group, ...]:
  """How an architecture of `space` picks its ops (spec section 2).

  Returns:
    DARTS: per cell type and node 2..5, two of its incoming edges; other
    spaces: per row of their one alpha tensor (edge or block), one op.
  """
  if space.name == 'darts':  # each node: two distinct inputs, one op each
    return tuple(
        Group(kind, tuple(e for e, (to, _) in enumerate(darts_genotype.EDGES)
                          if to == k), 2)
        for kind in darts_genotype.CELLS for k in darts_genotype.NODES)
  (tensor, (rows, _)), = space.alpha_shapes.items()
  return tuple(Group(tensor, (r,), 1) for r in range(rows))


def from_config(space: Space,
                config: ml_collections.ConfigDict) -> Budget | None:
  """The config's budget (budget_metric, budget) on `space`.

  Returns:
    The Budget with its cost model (costs.model); None for
    budget_metric=none.
  """
  if config.budget_metric == 'none':
    return None
  base, tables, network = costs.model(space, config, config.budget_metric)
  return Budget(config.budget_metric, float(config.budget), base, tables,
                groups(space), network, space.has_none)


def cost(space: Space, budget: Budget, genotype) -> float:
  """The cost of a genotype's network: parameters or multiply-adds."""
  return budget.base + sum(float(np.sum(budget.tables[k] * hot))
                           for k, hot in space.one_hot(genotype).items())


def score(space: Space, scores: dict, genotype) -> float:
  """The sum of the genotype's ops' scores (name -> (edges, ops))."""
  return sum(float(np.sum(np.asarray(scores[k])[hot > 0]))
             for k, hot in space.one_hot(genotype).items())


def _allowed(budget: Budget, mask: dict) -> dict[str, np.ndarray]:
  """Ops an architecture may pick: in the mask, never 'none'."""
  out = {k: np.asarray(m) > 0 for k, m in mask.items()}
  if budget.has_none:
    for a in out.values():
      a[:, 0] = False
  return out


def min_cost(budget: Budget, mask: dict) -> float:
  """The smallest cost of an architecture within a mask.

  Args:
    budget: the cost model.
    mask: name -> (edges, ops), > 0 for the ops that may be chosen.

  Returns:
    That cost; inf where the mask holds no architecture.
  """
  allowed, total = _allowed(budget, mask), budget.base
  for g in budget.groups:
    rows = list(g.rows)
    least = np.where(allowed[g.tensor][rows], budget.tables[g.tensor][rows],
                     np.inf).min(axis=1)
    total += float(np.sort(least)[:g.take].sum())
  return total


def _options(group: Group, allowed: np.ndarray, scores: np.ndarray,
             table: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
  """(costs (n,), scores (n,), picks) of every way to fill one group."""
  per_row = [[(group.tensor, r, int(o)) for o in np.flatnonzero(allowed[r])]
             for r in group.rows]
  picks = [p for rows in itertools.combinations(per_row, group.take)
           for p in itertools.product(*rows)]
  option_cost = np.array([sum(table[r, o] for _, r, o in p) for p in picks],
                         np.float64)
  option_score = np.array([sum(scores[r, o] for _, r, o in p)
                           for p in picks], np.float64)
  return option_cost, option_score, picks


def _pareto(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
  """Indices of the points that no cheaper-or-equal point matches in score.

  Sorted by cost; each kept point scores strictly more than every point
  before it (ties: the earlier index).
  """
  order = np.lexsort((-value, cost))
  best = np.maximum.accumulate(value[order])
  keep = np.concatenate([[True], value[order][1:] > best[:-1]])
  return order[keep]


def select(group_list: Sequence[Group], allowed: dict, scores: dict,
           tables: Tables, base: float, limit: float) -> list[Pick] | None:
  """The picks of the highest summed score whose cost is within `limit`.

  Exact: the groups' (cost, score) frontiers are merged one group at a
  time; a partial choice that another matches or beats in both cost and
  score, or that no choice of the remaining groups can complete within the
  limit, is dropped, which never drops every optimum (a dynamic programme
  over the groups, e.g. Kellerer, Pferschy and Pisinger, "Knapsack
  Problems", 2004, ch. 11, the multiple-choice knapsack).

  Args:
    group_list: the groups an architecture fills.
    allowed: name -> (edges, ops) bool, the ops that may be picked.
    scores: name -> (edges, ops) scores.
    tables: name -> (edges, ops) costs.
    base: the cost of every architecture.
    limit: the largest total cost allowed.

  Returns:
    (tensor, edge, op) picks of an optimal architecture, or None when no
    architecture fits.
  """
  options = [_options(g, allowed[g.tensor], np.asarray(scores[g.tensor]),
                      tables[g.tensor]) for g in group_list]
  least = [c.min() if len(c) else math.inf for c, _, _ in options]
  rest = [sum(least[i + 1:]) for i in range(len(least))]
  spent, gained, trail = np.array([base]), np.array([0.0]), []
  for (c, s, _), remaining in zip(options, rest):
    if not len(c):
      return None
    total_c = (spent[:, None] + c[None, :]).ravel()
    total_s = (gained[:, None] + s[None, :]).ravel()
    fits = np.flatnonzero(total_c + remaining <= limit)
    if not len(fits):
      return None
    keep = fits[_pareto(total_c[fits], total_s[fits])]
    trail.append(np.divmod(keep, len(c)))
    spent, gained = total_c[keep], total_s[keep]
  at, picks = int(np.argmax(gained)), []
  for (parent, option), (_, _, group_picks) in zip(reversed(trail),
                                                   reversed(options)):
    picks.extend(group_picks[option[at]])
    at = parent[at]
  return picks


def steps(rounds: list[dict], b: int = 0) -> list[tuple[dict, dict]]:
  """Search b's (scores, mask) pairs, in the order the choice tries them.

  Args:
    rounds: schedule.run's rounds, arrays (K, edges, ops).
    b: which of the K searches.

  Returns:
    The last round's scores on the ops it left, then each round's scores
    on the ops it scored, from the last round back; name -> (edges, ops).
  """
  pick = lambda d: {k: v[b] for k, v in d.items()}
  last = rounds[-1]
  return [(pick(last['scores']), pick(last['mask_after']))] + [
      (pick(r['scores']), pick(r['mask'])) for r in reversed(rounds)]


def step_round(step: int, num_rounds: int) -> int:
  """The round whose scores step `step` of `steps` holds."""
  return num_rounds - max(step, 1)


def _genotype(space, scores: dict, picks: list[Pick]):
  """The space's genotype of the picks (space.choose on them alone)."""
  chosen = {k: np.zeros(np.shape(s)) for k, s in scores.items()}
  for k, e, o in picks:
    chosen[k][e, o] = 1.0
  return space.choose(scores, chosen)


def choose(space: Space, budget: Budget | None,
           step_list: Sequence[tuple[dict, dict]]) -> Choice:
  """The search's final choice under the budget.

  Args:
    space: the Space.
    budget: the budget; None chooses as space.choose.
    step_list: (scores, mask) pairs, name -> (edges, ops) each; the first
      one's space.choose is the unconstrained choice.

  Returns:
    The unconstrained choice where it fits; else the exact best within the
    budget on the first step whose mask holds one.

  Raises:
    errors.ConfigError: nothing within the budget in any step (the config
      check refuses such a budget before the search).
  """
  scores, mask = step_list[0]
  free = space.choose(scores, mask)
  if budget is None or cost(space, budget, free) <= budget.limit:
    return Choice(free, free, 0, scores)
  for i, (scores, mask) in enumerate(step_list):
    if min_cost(budget, mask) > budget.limit:
      continue
    picks = select(budget.groups, _allowed(budget, mask), scores,
                   budget.tables, budget.base, budget.limit)
    return Choice(_genotype(space, scores, picks), free, i, scores)
  raise errors.ConfigError(
      f'config.budget={budget.limit:.6g}: no architecture left in the search '
      f'has at most that many {UNITS[budget.metric]}.')


def chooser(space: Space,
            budget: Budget | None) -> Callable[[dict, dict], object]:
  """(scores, mask) -> genotype: space.choose under the budget.

  For the ensemble's consensus on win counts.
  """
  return lambda scores, mask: choose(space, budget, [(scores, mask)]).genotype


def _full_mask(space: Space) -> dict:
  return {k: np.ones(s) for k, s in space.alpha_shapes.items()}


def _fields(space: Space, budget: Budget, choice: Choice,
            num_rounds: int) -> dict:
  """One choice's cost, its unconstrained choice's, the score given up.

  The score given up is the unconstrained choice's summed score minus the
  chosen one's, both on the scores that chose (`round`).
  """
  given = score(space, choice.scores, choice.genotype)
  free = score(space, choice.scores, choice.free)
  return {
      'cost': cost(space, budget, choice.genotype),
      'unconstrained': {'arch': _ARCH[space.name](choice.free),
                        'cost': cost(space, budget, choice.free)},
      'round': step_round(choice.step, num_rounds),
      'score': given, 'unconstrained_score': free,
      'score_given_up': free - given,
      'score_given_up_fraction': (free - given) / free if free else 0.0,
  }


def describe(space: Space, budget: Budget, choices: Sequence[Choice],
             num_rounds: int, consensus=None) -> dict:
  """The budget fields of result.json.

  Args:
    space: the Space.
    budget: the budget.
    choices: each seed's Choice.
    num_rounds: scoring rounds the search ran.
    consensus: an ensemble's consensus genotype (None for one seed).

  Returns:
    metric, limit, network, the smallest cost in the space and, for one
    seed, the choice's fields (cost, unconstrained choice and cost, score
    given up); for an ensemble the consensus's cost and each seed's fields.
  """
  fields = {'metric': budget.metric, 'limit': budget.limit,
            'network': budget.network,
            'min_cost': min_cost(budget, _full_mask(space))}
  if consensus is None:
    return {**fields, **_fields(space, budget, choices[0], num_rounds)}
  return {**fields, 'cost': cost(space, budget, consensus),
          'seeds': [_fields(space, budget, c, num_rounds) for c in choices]}


def check(config: ml_collections.ConfigDict, space: Space) -> None:
  """Validates budget_metric and budget (errors name the valid values).

  Raises:
    errors.ConfigError: an unknown metric, a budget without a metric or a
      metric without a budget, a budget that is not a positive number, or
      one below the smallest architecture of the space (named).
  """
  validation.choice(config, 'budget_metric', METRICS)
  metric, limit = config.budget_metric, config.budget
  if limit is not None and (
      isinstance(limit, bool) or not isinstance(limit, (int, float))
      or not math.isfinite(limit) or limit <= 0):
    raise errors.ConfigError(
        f'config.budget must be a positive number of '
        f'{UNITS.get(metric, "parameters or multiply-adds")}, got {limit!r}.')
  if metric == 'none':
    if limit is not None:
      raise errors.ConfigError(
          f'config.budget={limit!r} needs config.budget_metric params or '
          'flops (it is none); set one, or leave budget unset.')
    return
  if limit is None:
    raise errors.ConfigError(
        f'config.budget_metric={metric} needs config.budget: the largest '
        f'number of {UNITS[metric]} allowed, a positive number.')
  budget = from_config(space, config)
  smallest = min_cost(budget, _full_mask(space))
  if limit < smallest:
    raise errors.ConfigError(
        f'config.budget={limit:.6g} is below the smallest architecture of '
        f'the {space.name} space: {smallest:,.0f} {UNITS[metric]} '
        f'({budget.network}); valid: budget >= {smallest:.0f}.')
