"""The search schedules of spec section 2: one-shot and iterative pruning.

A schedule drives `score(mask) -> (R, scores)` (scores and masks are dicts of
numpy (edges, ops) arrays) and returns the rounds. Column 0 is 'none': it is
removed first on every edge and never kept while another op remains.
"""

from collections.abc import Callable

import numpy as np

SCHEDULES = ('oneshot', 'iterative_edge', 'iterative_global')

ScoreFn = Callable[[dict], tuple[float, dict]]


def _ranked(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Scores for removal: pruned ops +inf, 'none' -inf (removed first)."""
  s = np.where(mask > 0, scores, np.inf)
  s[:, 0] = np.where(mask[:, 0] > 0, -np.inf, np.inf)
  return s


def run(schedule: str, score: ScoreFn, shapes: dict[str, tuple[int, int]],
        on_round: Callable[[int, dict], None] = lambda i, r: None
        ) -> list[dict]:
  """Runs a schedule.

  Args:
    schedule: one of SCHEDULES.
    score: mask -> (R, scores); it raises if a guard trips.
    shapes: alpha tensor name -> (edges, ops).
    on_round: called with (round index, round record) after each round.

  Returns:
    Rounds, each {'mask': mask scored, 'r': R, 'scores': scores, 'removed':
    [(tensor, edge, op index), ...]}; the final mask is the last round's mask
    with its removals applied ('mask_after' of the last round).
  """
  mask = {k: np.ones(s, np.float64) for k, s in shapes.items()}
  rounds = []
  while True:
    r, scores = score(mask)
    record = {'mask': {k: m.copy() for k, m in mask.items()}, 'r': r,
              'scores': scores, 'removed': []}
    if schedule == 'oneshot':
      removals = []
    elif schedule == 'iterative_edge':
      removals = [(k, e, int(np.argmin(_ranked(scores[k], mask[k])[e])))
                  for k in sorted(mask) for e in range(mask[k].shape[0])
                  if mask[k][e].sum() > 1]
    elif schedule == 'iterative_global':
      best = None
      for k in sorted(mask):
        ranked = _ranked(scores[k], mask[k])
        for e in range(mask[k].shape[0]):
          if mask[k][e].sum() > 1:
            o = int(np.argmin(ranked[e]))
            if best is None or ranked[e, o] < best[0]:
              best = (ranked[e, o], (k, e, o))
      removals = [best[1]] if best else []
    else:
      raise ValueError(f'unknown schedule {schedule!r}')
    for k, e, o in removals:
      mask[k][e, o] = 0.0
    record['removed'] = removals
    record['mask_after'] = {k: m.copy() for k, m in mask.items()}
    rounds.append(record)
    on_round(len(rounds) - 1, record)
    if schedule == 'oneshot' or all(
        (m.sum(axis=1) == 1).all() for m in mask.values()):
      return rounds
