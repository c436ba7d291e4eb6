"""Outputs of the proxy benchmark: scores.csv, correlations, plots, result.

Correlations are signed (every proxy column is 'higher is better'), over the
scored cells ('all') and over the best 10% of them by the accuracy column
('top10'). Non-finite scores are ranked, not dropped (`ranks`): NaN and
-inf rank last (tied), +inf first, so 'all' counts every cell, and each
correlation says how many cells it used and how many it ranked last.
"""

import csv
import io
import math
import pathlib

import numpy as np
from scipy import stats

from freedarts_jax import nb201_table
from freedarts_jax import runtime

ACCURACY = tuple(a.column for a in nb201_table.ACCURACIES.values())
# |Spearman| over all of NB201 (docs/design.md section 5): Abdelfattah et
# al. 2021 on CIFAR-10 (an older table), their synflow on all three data
# sets, and a PyTorch per-cell synflow (BatchNorm removed, float64) on the
# shipped table.
PUBLISHED = {
    'synflow': {'cifar10_test': 0.737, 'cifar100_test': 0.763,
                'imagenet16_test': 0.751},
    'jacob_cov': {'cifar10_test': 0.73}, 'snip': {'cifar10_test': 0.60},
    'grad_norm': {'cifar10_test': 0.59}, 'grasp': {'cifar10_test': 0.51},
    'fisher': {'cifar10_test': 0.36}, 'params': {'cifar10_test': 0.75},
    'flops': {'cifar10_test': 0.73},
}
PYTORCH_SYNFLOW = {'cifar10_test': 0.779, 'cifar100_test': 0.764,
                   'imagenet16_test': 0.752}


def ranks(score: np.ndarray) -> tuple[np.ndarray, int, int]:
  """Ranks of proxy scores under the one policy for non-finite values.

  A score is 'higher is better'. NaN (undefined: e.g. jacob_cov of a cell
  whose output ignores its input) and -inf (naswot's log 0 there) rank
  last, tied with each other; +inf ranks first (a score too large to hold,
  still the best). Ties share their average rank (scipy.stats.rankdata).

  Args:
    score: (n,) float scores.

  Returns:
    (ranks (n,) float64, 1 = worst; cells ranked last for NaN or -inf;
    cells ranked first for +inf).
  """
  score = np.asarray(score, np.float64)
  worst = np.isnan(score) | np.isneginf(score)
  return (stats.rankdata(np.where(worst, -np.inf, score)),
          int(worst.sum()), int(np.isposinf(score).sum()))


def correlation(score: np.ndarray, acc: np.ndarray) -> dict:
  """Spearman and Kendall of score vs accuracy, non-finite scores ranked.

  Args:
    score: (n,) proxy scores, higher is better; see `ranks` for NaN, +-inf.
    acc: (n,) accuracies; cells whose accuracy is not finite are left out.

  Returns:
    {'spearman', 'kendall' (None where fewer than 3 cells or one rank),
    'n': cells used, 'ranked_last': of those, cells with NaN or -inf,
    'ranked_first': cells with +inf}.
  """
  ok = np.isfinite(acc)
  r, last, first = ranks(np.asarray(score)[ok])
  out = {'n': int(ok.sum()), 'ranked_last': last, 'ranked_first': first}
  if len(r) < 3 or np.all(r == r[0]):
    return {'spearman': None, 'kendall': None, **out}
  a = acc[ok]
  return {'spearman': float(stats.spearmanr(r, a).statistic),
          'kendall': float(stats.kendalltau(r, a).statistic), **out}


def correlations(cells: np.ndarray, scores: dict[str, dict]) -> dict:
  """{column: {accuracy column: {'all': ..., 'top10': ...}}}."""
  table = nb201_table.load()
  out = {}
  for col, by_index in scores.items():
    s = np.array([by_index[int(i)] for i in cells], np.float64)
    out[col] = {}
    for acc_col in ACCURACY:
      j = nb201_table.COLUMNS.index(acc_col)
      acc = np.array([table.values[int(i)][j] for i in cells], np.float64)
      top = np.argsort(-acc, kind='stable')[:math.ceil(len(acc) / 10)]
      out[col][acc_col] = {'all': correlation(s, acc),
                           'top10': correlation(s[top], acc[top])}
  return out


def scores_csv(cells: np.ndarray, scores: dict[str, dict]) -> str:
  """The scores as CSV text: index, arch, then one column per score.

  Args:
    cells: table indices (n,) int, in row order.
    scores: column name -> {table index: score}.

  Returns:
    The CSV, a header and one row per cell, scores written with repr.
  """
  table = nb201_table.load()
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator='\n')
  writer.writerow(['index', 'arch', *scores])
  for i in cells:
    writer.writerow([int(i), table.archs[int(i)],
                     *(repr(float(scores[c][int(i)])) for c in scores)])
  return buf.getvalue()


def _fmt(x) -> str:
  return '-' if x is None else f'{x:+.3f}'


def _counts(c: dict) -> str:
  """'300 (7 last)': the cells a correlation used, non-finite ranked."""
  out = f'{c["n"]} ({c["ranked_last"]} last'
  return out + (f', {c["ranked_first"]} first)' if c['ranked_first'] else ')')


def markdown(corr: dict, meta: dict, timing: dict) -> str:
  """The Spearman / Kendall table, published figures beside ours."""
  lines = [
      f'# Zero-cost proxies on NAS-Bench-201 ({meta["cells"]} cells)', '',
      f'Initialisation: {meta["init"]}; data: {meta["data"] or "none"}; '
      f'{meta["processes"]} process(es), {meta["local_devices"]} device(s) '
      'each. Signed rank correlations with the test accuracy of the shipped '
      'table (all cells / the best 10% by that column); "published": '
      '|Spearman| over the full space (docs/design.md section 5).', '',
      'snip and grasp here are the weight-level proxies of Abdelfattah et '
      'al. 2021 (per-weight saliencies summed over a cell), not the '
      "search's op-level objective=snip/grasp (|alpha * dL/dalpha|, one "
      "score per op); zeros is ZEROS summed over the cell's ops "
      '(docs/design.md section 7).', '',
      'Non-finite scores are ranked, not dropped: NaN and -inf last (tied), '
      '+inf first. "cells" is how many cells each correlation over all '
      'cells used, and how many of them it ranked last (and first).', '',
      '| proxy | cells | ' + ' | '.join(
          f'{c} rho | {c} tau | top10 rho' for c in ACCURACY)
      + ' | published (C10) | s/cell |',
      '|---|' + '---|' * (3 * len(ACCURACY) + 3)]
  for col, by_acc in corr.items():
    cells = [_counts(by_acc[ACCURACY[0]]['all'])]
    for c in ACCURACY:
      cells += [_fmt(by_acc[c]['all']['spearman']),
                _fmt(by_acc[c]['all']['kendall']),
                _fmt(by_acc[c]['top10']['spearman'])]
    proxy = col.split('_r')[0] if col == 'zeros_r' else col
    pub = PUBLISHED.get(col, {}).get('cifar10_test')
    per_cell = [t[proxy].get('per_cell_s') for t in timing.values()
                if proxy in t and t[proxy].get('per_cell_s')]
    lines.append(f'| {col} | ' + ' | '.join(cells) + f' | '
                 f'{pub if pub is not None else "-"} | '
                 + (f'{np.mean(per_cell):.4f}' if per_cell else '-') + ' |')
  lines += ['', 'PyTorch per-cell synflow on this table (BatchNorm removed, '
            'float64): ' + ' / '.join(
                f'{PYTORCH_SYNFLOW[c]}' for c in ACCURACY) + '.', '']
  return '\n'.join(lines)


def plots(workdir: pathlib.Path, cells, scores: dict) -> list[str]:
  """One PNG per score column: the score against each accuracy column."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  table = nb201_table.load()
  written = []
  for col, by_index in scores.items():
    s = np.array([by_index[int(i)] for i in cells], np.float64)
    fig, axes = plt.subplots(1, len(ACCURACY), figsize=(12, 3.6))
    for ax, acc_col in zip(axes, ACCURACY):
      j = nb201_table.COLUMNS.index(acc_col)
      acc = np.array([table.values[int(i)][j] for i in cells])
      ok = np.isfinite(s)
      ax.scatter(s[ok], acc[ok], s=2, alpha=0.4)
      if ok.any() and np.all(s[ok] > 0) and s[ok].max() > 1e3 * s[ok].min():
        ax.set_xscale('log')
      ax.set_xlabel(col)
      ax.set_ylabel(acc_col)
    fig.tight_layout()
    path = workdir / 'plots' / f'{col}.png'
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    written.append(str(path.relative_to(workdir)))
  return written


def write_outputs(workdir: pathlib.Path, chosen, cells, scores: dict,
                  timing: dict, meta: dict, config: dict) -> dict:
  """Writes scores.csv, correlations.json/.md, plots/ and result.json.

  Returns:
    result.json's dict, with 'written': the file that holds it. Where the
    workdir cannot be written any more, the result and every score go to
    runtime.save_json's fallback file instead.
  """
  corr = correlations(cells, scores)
  result = {**meta, 'proxies': [p.name for p in chosen],
            'columns': list(scores), 'correlations': corr,
            'published': PUBLISHED, 'pytorch_synflow': PYTORCH_SYNFLOW,
            'timing': timing, 'device': runtime.device(),
            'versions': runtime.versions(), 'config': config}
  path = workdir / 'result.json'
  try:
    runtime.write_text(workdir / 'scores.csv', scores_csv(cells, scores))
    runtime.write_json(workdir / 'correlations.json', corr)
    runtime.write_text(workdir / 'correlations.md',
                       markdown(corr, meta, timing))
    result['plots'] = plots(workdir, cells, scores)
    runtime.write_json(path, result)
  except OSError:
    every = {c: {str(int(i)): float(s[int(i)]) for i in cells}
             for c, s in scores.items()}
    path = runtime.save_json(path, {**result, 'scores': every})
  return {**result, 'written': str(path)}
