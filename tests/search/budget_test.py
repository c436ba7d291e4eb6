"""The budgeted choice against brute force; the config check; the driver.

The driver tests read the budget fields of result.json and the report.
"""

import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from configs import mobilenet as mobilenet_config
from configs import nb201 as nb201_config
from freedarts_jax import errors
from freedarts_jax import spaces
from freedarts_jax.search import budget
from freedarts_jax.search import checks
from freedarts_jax.search import driver
from freedarts_jax.search import report
from freedarts_jax.spaces import darts_genotype as dg
from freedarts_jax.spaces import nb201

ROOT = pathlib.Path(__file__).resolve().parents[2]
NB201 = spaces.get('nb201')
DARTS = spaces.get('darts')


def nb201_budget(metric: str, limit: float = 1e12) -> budget.Budget:
  config = nb201_config.get_config()
  config.budget_metric, config.budget = metric, limit
  return budget.from_config(NB201, config)


def with_limit(b: budget.Budget, limit: float) -> budget.Budget:
  return budget.Budget(b.metric, limit, b.base, b.tables, b.groups,
                       b.network, b.has_none)


def best_of(options) -> tuple | None:
  """Brute force: the best (score, arch) of (cost, score, arch) within."""
  fits = [(s, a) for fits_, s, a in options if fits_]
  return max(fits, key=lambda x: x[0]) if fits else None


@pytest.mark.parametrize('metric', ['params', 'flops'])
def test_nb201_choice_is_the_brute_force_optimum(metric):
  full = nb201_budget(metric)
  rng = np.random.default_rng(0)
  for _ in range(25):
    scores = {'cell': rng.random((6, 5))}
    mask = {'cell': (rng.random((6, 5)) < 0.6).astype(float)}
    mask['cell'][np.arange(6), rng.integers(1, 5, 6)] = 1  # a real op each
    allowed = [[o for o in range(1, 5) if mask['cell'][e, o]]
               for e in range(6)]
    cells = [tuple(nb201.OPS[o] for o in ops)
             for ops in itertools.product(*allowed)]
    costs = [budget.cost(NB201, full, c) for c in cells]
    limit = rng.uniform(min(costs), max(costs) * 1.1)
    got = budget.choose(NB201, with_limit(full, limit), [(scores, mask)])
    want = best_of((k <= limit, budget.score(NB201, scores, c), c)
                   for k, c in zip(costs, cells))
    assert got.genotype == want[1]
    assert budget.cost(NB201, full, got.genotype) <= limit
    assert nb201.is_connected(got.genotype) and 'none' not in got.genotype


def _darts_node_options(rows, allowed):
  """Every (row, op) pair set of one node: two distinct rows, one op each."""
  per_row = [[(r, o) for o in np.flatnonzero(allowed[r])] for r in rows]
  return [p for two in itertools.combinations(per_row, 2)
          for p in itertools.product(*two)]


def test_two_node_darts_cells_brute_force():
  # Normal and reduction cells of two intermediate nodes (node 2: rows 0-1,
  # node 3: rows 2-4) under one budget, random costs and scores.
  groups = tuple(budget.Group(kind, rows, 2) for kind in dg.CELLS
                 for rows in ((0, 1), (2, 3, 4)))
  rng = np.random.default_rng(1)
  for _ in range(15):
    tables = {k: rng.integers(0, 1000, (5, 8)).astype(float) for k in dg.CELLS}
    scores = {k: rng.random((5, 8)) for k in dg.CELLS}
    allowed = {k: rng.random((5, 8)) < 0.4 for k in dg.CELLS}
    for a in allowed.values():
      a[:, 0] = False
      a[np.arange(5), rng.integers(1, 8, 5)] = True
    cells = {}  # kind -> (archs, costs, scores) of that cell alone
    for k in dg.CELLS:
      nodes = [_darts_node_options(rows, allowed[k]) for rows in
               ((0, 1), (2, 3, 4))]
      archs = [tuple((k, r, o) for r, o in a + b)
               for a, b in itertools.product(*nodes)]
      cells[k] = (archs, np.array([sum(tables[k][r, o] for _, r, o in a)
                                   for a in archs]),
                  np.array([sum(scores[k][r, o] for _, r, o in a)
                            for a in archs]))
    (archs_n, cost_n, value_n), (archs_r, cost_r, value_r) = (
        cells['normal'], cells['reduce'])
    cost = cost_n[:, None] + cost_r[None, :] + 7.0  # every joint choice
    value = value_n[:, None] + value_r[None, :]
    limit = rng.uniform(cost.min(), cost.max())
    got = budget.select(groups, allowed, scores, tables, 7.0, limit)
    n, r = np.unravel_index(
        np.argmax(np.where(cost <= limit, value, -np.inf)), cost.shape)
    assert sorted(got) == sorted(archs_n[n] + archs_r[r])
    assert sum(tables[k][e, o] for k, e, o in got) + 7.0 <= limit
    assert budget.select(groups, allowed, scores, tables, 7.0,
                         cost.min() - 1.0) is None


def test_darts_choice_keeps_two_inputs_per_node_and_is_optimal():
  # The full 4-node structure with random costs: the reduction cell fixed to
  # one option per node, the normal cell free on two ops per edge.
  rng = np.random.default_rng(2)
  tables = {k: rng.integers(0, 1000, (14, 8)).astype(float)
            for k in dg.CELLS}
  for t in tables.values():
    t[:, 0] = 0
  b = budget.Budget('params', 0.0, 100.0, tables, budget.groups(DARTS),
                    'test network', True)
  scores = {k: rng.random((14, 8)) for k in dg.CELLS}
  mask = {k: np.zeros((14, 8)) for k in dg.CELLS}
  for e in range(14):
    mask['normal'][e, rng.choice(np.arange(1, 8), 2, replace=False)] = 1
  for e in (0, 1, 2, 3, 5, 6, 9, 10):  # two inputs of each node, one op
    mask['reduce'][e, rng.integers(1, 8)] = 1
  free = DARTS.choose(scores, mask)
  nodes = [_darts_node_options(rows, mask['normal'] > 0)
           for rows in (range(0, 2), range(2, 5), range(5, 9), range(9, 14))]
  normal = [sum(n, ()) for n in itertools.product(*nodes)]
  fixed = sum(tables['reduce'][mask['reduce'] > 0]) + 100.0
  cost = np.array([fixed + sum(tables['normal'][r, o] for r, o in a)
                   for a in normal])
  value = np.array([sum(scores['normal'][r, o] for r, o in a)
                    for a in normal])
  for limit in np.quantile(cost, [0.0, 0.1, 0.5, 0.9]):
    got = budget.choose(DARTS, with_limit(b, limit), [(scores, mask)])
    dg.validate(got.genotype)
    hot = DARTS.one_hot(got.genotype)
    best = normal[int(np.argmax(np.where(cost <= limit, value, -np.inf)))]
    assert sorted(zip(*np.nonzero(hot['normal']))) == sorted(best)
    assert budget.cost(DARTS, b, got.genotype) <= limit
    assert got.free == free
  assert budget.choose(DARTS, with_limit(b, cost.max()),
                       [(scores, mask)]).genotype == free


@pytest.mark.parametrize('space_name', ['nb201', 'darts', 'mobilenet'])
def test_without_a_budget_the_choice_is_space_choose(space_name):
  space = spaces.get(space_name)
  rng = np.random.default_rng(3)
  for _ in range(5):
    scores = {k: rng.random(s) for k, s in space.alpha_shapes.items()}
    mask = {k: (rng.random(s) < 0.7).astype(float)
            for k, s in space.alpha_shapes.items()}
    for m in mask.values():
      m[np.arange(len(m)), 1] = 1
    want = space.choose(scores, mask)
    for b in (None, budget.Budget(
        'params', 1e12, 0.0, {k: np.ones(s) for k, s in
                              space.alpha_shapes.items()},
        budget.groups(space), 'test network', space.has_none)):
      got = budget.choose(space, b, [(scores, mask)])
      assert got.genotype == got.free == want and got.step == 0


def test_iterative_rounds_fall_back_to_the_last_round_that_fits():
  # Round 1 left only nor_conv_3x3 on every edge: nothing within the budget
  # there, so the choice reads round 0's scores on its full mask.
  b = nb201_budget('params', 300_000)
  full = {'cell': np.ones((1, 6, 5))}
  convs = {'cell': np.zeros((1, 6, 5))}
  convs['cell'][..., 3] = 1
  rng = np.random.default_rng(4)
  rounds = [{'mask': full, 'mask_after': convs,
             'scores': {'cell': rng.random((1, 6, 5))}},
            {'mask': convs, 'mask_after': convs,
             'scores': {'cell': rng.random((1, 6, 5))}}]
  choice = budget.choose(NB201, b, budget.steps(rounds))
  assert choice.free == ('nor_conv_3x3',) * 6
  assert budget.step_round(choice.step, 2) == 0
  scores0 = {'cell': rounds[0]['scores']['cell'][0]}
  assert choice.genotype == budget.choose(NB201, b,
                                          [(scores0, full_mask())]).genotype
  fields = budget.describe(NB201, b, [choice], 2)
  assert fields['round'] == 0 and fields['cost'] <= 300_000
  assert fields['unconstrained']['cost'] == 1_531_546
  assert fields['score_given_up'] == pytest.approx(
      budget.score(NB201, scores0, choice.free)
      - budget.score(NB201, scores0, choice.genotype))


def full_mask():
  return {'cell': np.ones((6, 5))}


@pytest.mark.parametrize('overrides, match', [
    ({'budget_metric': 'latency'}, 'budget_metric.*none, params, flops'),
    ({'budget_metric': 'params'}, 'needs config.budget'),
    ({'budget': 1e6}, 'budget=.*needs config.budget_metric'),
    ({'budget_metric': 'params', 'budget': -5.0}, 'positive number'),
    ({'budget_metric': 'params', 'budget': 7e4}, '73,306 parameters'),
    ({'budget_metric': 'flops', 'budget': 7e6}, '7,783,040 multiply-adds'),
])
def test_config_check_refuses_bad_budgets(overrides, match):
  config = nb201_config.get_config()
  config.update(overrides)
  with pytest.raises(errors.ConfigError, match=match):
    checks.check(config)


def test_mobilenet_budget_below_its_smallest_network_is_refused():
  config = mobilenet_config.get_config()
  config.update(budget_metric='flops', budget=400e6)
  with pytest.raises(errors.ConfigError, match='436,'):
    checks.check(config)
  config.update(flops_penalty='mul#log', budget=600e6)  # allowed together
  checks.check(config)


def test_cli_exits_2_with_one_line_on_a_bad_budget(tmp_path):
  env = {**os.environ, 'FREEDARTS_CACHE_DIR': str(tmp_path / 'cache')}
  proc = subprocess.run(
      [sys.executable, '-m', 'freedarts_jax.search',
       f'--config={ROOT / "configs" / "nb201.py"}',
       '--config.budget_metric=params', '--config.budget=1000',
       f'--workdir={tmp_path / "run"}'],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 2
  assert 'Traceback' not in proc.stderr
  assert 'config.budget=1000 is below' in proc.stderr
  assert not (tmp_path / 'run').exists()


def tiny(**overrides):
  config = nb201_config.get_config()
  config.update({'channels': 4, 'cells_per_stage': 1,
                 'budget_metric': 'params', 'budget': 300_000.0,
                 **overrides})
  return config


@pytest.mark.parametrize('schedule', ['oneshot', 'iterative_edge',
                                      'iterative_global'])
def test_search_under_a_budget_records_it(schedule):
  result = driver.run_search(tiny(schedule=schedule))
  fields = result['budget']
  genotype = tuple(result['genotype'])
  assert fields['metric'] == 'params' and fields['limit'] == 300_000
  assert fields['cost'] == budget.cost(NB201, nb201_budget('params'),
                                       genotype) <= 300_000
  assert fields['score'] <= fields['unconstrained_score']
  assert fields['score_given_up'] >= 0
  assert fields['unconstrained']['cost'] == budget.cost(
      NB201, nb201_budget('params'),
      nb201.from_string(fields['unconstrained']['arch']))
  assert result['connected']
  text = report.format_result(result)
  assert 'budget: parameters <= 300,000' in text
  assert 'score given up' in text


def test_seed_ensemble_consensus_fits_the_budget():
  result = driver.run_search(tiny(num_seeds=2))
  fields = result['budget']
  assert len(fields['seeds']) == 2
  assert fields['cost'] == budget.cost(
      NB201, nb201_budget('params'), tuple(result['genotype'])) <= 300_000
  for cell, seed_fields in zip(result['ensemble']['cells'], fields['seeds']):
    assert seed_fields['cost'] == budget.cost(
        NB201, nb201_budget('params'), tuple(cell['genotype'])) <= 300_000
  assert 'seed 1:' in report.format_result(result)


def test_unbudgeted_search_has_no_budget_fields():
  result = driver.run_search(tiny(budget_metric='none', budget=None))
  assert 'budget' not in result
