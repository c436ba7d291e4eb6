"""The search schedules: one-shot and iterative pruning.

Design: docs/design.md section 3.

A schedule drives `score(masks) -> (R, scores)` for a batch of K independent
searches (seeds) in lockstep: masks (float32, 0 or 1) and scores are dicts
of numpy (K, edges, ops) arrays, R is (K,). In spaces with a 'none' op
(has_none) it is column 0: removed first on every edge and never kept while
another op remains. Spaces without one (MobileNet) rank every column by its
score.
"""

from collections.abc import Callable

import numpy as np

SCHEDULES = ('oneshot', 'iterative_edge', 'iterative_global')

ScoreFn = Callable[[dict], tuple[np.ndarray, dict]]
Removal = tuple[str, int, int]  # (alpha tensor, edge, op)


def num_rounds(schedule: str, shapes: dict[str, tuple[int, int]]) -> int:
  """How many scoring rounds a schedule takes."""
  if schedule == 'oneshot':
    return 1
  if schedule == 'iterative_edge':
    return max(o for _, o in shapes.values()) - 1
  return sum(e * (o - 1) for e, o in shapes.values())


def _ranked(scores: np.ndarray, mask: np.ndarray,
            has_none: bool = True) -> np.ndarray:
  """Scores for removal: pruned ops +inf, 'none' -inf (removed first)."""
  s = np.where(mask > 0, scores, np.inf)
  if has_none:
    s[:, 0] = np.where(mask[:, 0] > 0, -np.inf, np.inf)
  return s


def removals(schedule: str, scores: dict, mask: dict,
             has_none: bool = True) -> list[Removal]:
  """The ops one search removes this round (scores, mask: (E, O) each).

  has_none: column 0 is 'none' (removed first); False where no op is.
  """
  if schedule == 'oneshot':
    return []
  candidates = []
  for k in sorted(mask):
    ranked = _ranked(scores[k], mask[k], has_none)
    for e in range(mask[k].shape[0]):
      if mask[k][e].sum() > 1:
        o = int(np.argmin(ranked[e]))
        candidates.append((ranked[e, o], (k, e, o)))
  if schedule == 'iterative_edge':
    return [c for _, c in candidates]
  if schedule == 'iterative_global':
    return [min(candidates, key=lambda c: c[0])[1]] if candidates else []
  raise ValueError(f'unknown schedule {schedule!r}')


def run(schedule: str, score: ScoreFn, shapes: dict[str, tuple[int, int]],
        num: int = 1,
        on_round: Callable[[int, dict], None] = lambda i, r: None,
        has_none: bool = True) -> list[dict]:
  """Runs `num` searches of one schedule in lockstep.

  Args:
    schedule: one of SCHEDULES.
    score: masks -> (R, scores), batched over the K searches; it raises if a
      guard trips.
    shapes: alpha tensor name -> (edges, ops).
    num: K, the number of searches.
    on_round: called with (round index, round record) after each round.
    has_none: column 0 is 'none' (see `removals`).

  Returns:
    Rounds, each {'mask': masks scored, 'r': R, 'scores': scores, 'removed':
    per search a list of (tensor, edge, op), 'mask_after': masks with the
    removals applied}.
  """
  if schedule not in SCHEDULES:
    raise ValueError(f'unknown schedule {schedule!r}')
  mask = {k: np.ones((num, *s), np.float32) for k, s in shapes.items()}
  rounds = []
  while True:
    r, scores = score(mask)
    record = {'mask': {k: m.copy() for k, m in mask.items()}, 'r': r,
              'scores': scores, 'removed': []}
    for b in range(num):
      removed = removals(schedule, {k: s[b] for k, s in scores.items()},
                         {k: m[b] for k, m in mask.items()}, has_none)
      for k, e, o in removed:
        mask[k][b, e, o] = 0.0
      record['removed'].append(removed)
    record['mask_after'] = {k: m.copy() for k, m in mask.items()}
    rounds.append(record)
    on_round(len(rounds) - 1, record)
    if schedule == 'oneshot' or all(
        (m.sum(axis=-1) == 1).all() for m in mask.values()):
      return rounds
