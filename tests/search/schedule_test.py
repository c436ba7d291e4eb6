"""The one-shot and iterative schedules on fixed fake scores."""

import numpy as np
import pytest

from freedarts_jax import spaces
from freedarts_jax.search import schedule

SHAPES = {'cell': (6, 5)}
RNG = np.random.default_rng(0)
BASE = RNG.uniform(0.1, 1.0, (6, 5))
BASE[:, 0] = 0.0


def _fake_score(calls):
  def score(mask):  # mask['cell']: (K, 6, 5)
    calls.append({k: m.copy() for k, m in mask.items()})
    num = mask['cell'].shape[0]
    return np.ones(num), {'cell': BASE * mask['cell']}
  return score


def test_oneshot_scores_once_and_chooses_argmax():
  calls = []
  rounds = schedule.run('oneshot', _fake_score(calls), SHAPES)
  assert len(rounds) == 1 and len(calls) == 1
  genotype = spaces.get('nb201').choose(
      {'cell': rounds[-1]['scores']['cell'][0]},
      {'cell': rounds[-1]['mask_after']['cell'][0]})
  ops = spaces.get('nb201').ops
  assert genotype == tuple(ops[i] for i in np.argmax(BASE, axis=1))


def test_iterative_edge_removes_none_first_then_the_weakest():
  calls = []
  rounds = schedule.run('iterative_edge', _fake_score(calls), SHAPES)
  assert len(rounds) == 4 == schedule.num_rounds('iterative_edge', SHAPES)
  assert all(o == 0 for _, _, o in rounds[0]['removed'][0])
  for record in rounds[1:]:
    for _, e, o in record['removed'][0]:
      live = record['mask']['cell'][0, e] > 0
      assert BASE[e, o] == BASE[e][live].min()
  final = rounds[-1]['mask_after']['cell'][0]
  assert (final.sum(axis=1) == 1).all()
  # With fixed scores the survivor is the per-edge argmax.
  np.testing.assert_array_equal(np.argmax(final, 1), np.argmax(BASE, 1))


def test_iterative_global_removes_one_op_per_round():
  calls = []
  rounds = schedule.run('iterative_global', _fake_score(calls), SHAPES)
  assert len(rounds) == 6 * 4 == schedule.num_rounds('iterative_global',
                                                      SHAPES)
  assert all(len(r['removed'][0]) == 1 for r in rounds)
  assert all(r['removed'][0][0][2] == 0 for r in rounds[:6])
  final = rounds[-1]['mask_after']['cell'][0]
  assert (final.sum(axis=1) == 1).all()


def test_nb201_choose_never_keeps_none_while_another_op_remains():
  scores = {'cell': np.zeros((6, 5))}
  mask = {'cell': np.ones((6, 5))}
  scores['cell'][:, 2] = -1.0  # even a negative score beats 'none'
  genotype = spaces.get('nb201').choose(scores, mask)
  assert 'none' not in genotype


def test_unknown_schedule():
  with pytest.raises(ValueError, match='unknown schedule'):
    schedule.run('twice', _fake_score([]), SHAPES)


def test_searches_in_lockstep_are_independent():
  calls = []
  rounds = schedule.run('iterative_edge', _fake_score(calls), SHAPES, num=3)
  assert len(calls) == 4 and calls[0]['cell'].shape == (3, 6, 5)
  single = schedule.run('iterative_edge', _fake_score([]), SHAPES)
  for b in range(3):
    np.testing.assert_array_equal(rounds[-1]['mask_after']['cell'][b],
                                  single[-1]['mask_after']['cell'][0])
