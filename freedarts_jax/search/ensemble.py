"""Seed ensembles: K searches scored together, and what they agree on."""

from collections.abc import Callable

import jax
import numpy as np


def batch_size(requested: int, num: int) -> int:
  """Seeds vmapped together inside the one compiled call.

  0 means auto: all of them on an accelerator; one at a time on CPU, where
  vmapping the weights turns every convolution into a grouped one (measured
  on 2 cores: 4 seeds vmapped took 9x one seed's time, sequential 4x).
  """
  if requested:
    return min(requested, num)
  return 1 if jax.default_backend() == 'cpu' else num


def summarise(space, seeds: list[int], genotypes: list, r: np.ndarray,
              choose: Callable[[dict, dict], object] | None = None) -> dict:
  """Per-edge op wins, the consensus cell and how many seeds chose it.

  The consensus applies the space's own rule (`space.choose`, or `choose`
  where given: the budgeted one) to the win counts: per-edge majority on
  NB201, ties to the earlier op.
  """
  wins = None
  for g in genotypes:
    hot = space.one_hot(g)
    wins = hot if wins is None else {k: wins[k] + hot[k] for k in wins}
  consensus = (choose or space.choose)(
      wins, {k: np.ones_like(w) for k, w in wins.items()})
  cells = []
  for seed, g, r_seed in zip(seeds, genotypes, r):
    cell = {'seed': seed, **space.describe(g), 'r': float(r_seed)}
    if space.benchmark:
      cell['benchmark'] = space.benchmark(g)
    cells.append(cell)
  ensemble = {
      'seeds': seeds,
      'wins': {k: w.astype(int).tolist() for k, w in wins.items()},
      'agree': sum(g == consensus for g in genotypes),
      'cells': cells,
  }
  if space.benchmark:
    columns = [c for c, v in cells[0]['benchmark'].items()
               if isinstance(v, float)]
    ensemble['benchmark_stats'] = {
        c: {'mean': float(np.mean([x['benchmark'][c] for x in cells])),
            'std': float(np.std([x['benchmark'][c] for x in cells]))}
        for c in columns}
  return {
      'consensus_genotype': consensus,
      'consensus_benchmark': (space.benchmark(consensus)
                              if space.benchmark else None),
      'ensemble': ensemble,
  }
