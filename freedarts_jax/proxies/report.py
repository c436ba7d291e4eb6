"""Outputs of the proxy benchmark: scores.csv, correlations, plots, result.

Correlations are signed (every proxy column is 'higher is better'), over the
scored cells ('all') and over the best 10% of them by the accuracy column
('top10'); non-finite scores are left out and `n` says how many remained.
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


def correlation(score: np.ndarray, acc: np.ndarray) -> dict:
  """Spearman and Kendall of score vs accuracy over the finite scores."""
  ok = np.isfinite(score) & np.isfinite(acc)
  s, a = score[ok], acc[ok]
  if len(s) < 3 or np.all(s == s[0]):
    return {'spearman': None, 'kendall': None, 'n': int(len(s))}
  return {'spearman': float(stats.spearmanr(s, a).statistic),
          'kendall': float(stats.kendalltau(s, a).statistic),
          'n': int(len(s))}


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
      '| proxy | ' + ' | '.join(
          f'{c} rho | {c} tau | top10 rho' for c in ACCURACY)
      + ' | published (C10) | s/cell |',
      '|---|' + '---|' * (3 * len(ACCURACY) + 2)]
  for col, by_acc in corr.items():
    cells = []
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
  """Writes scores.csv, correlations.json/.md, plots/ and result.json."""
  corr = correlations(cells, scores)
  runtime.write_text(workdir / 'scores.csv', scores_csv(cells, scores))
  runtime.write_json(workdir / 'correlations.json', corr)
  runtime.write_text(workdir / 'correlations.md',
                     markdown(corr, meta, timing))
  pngs = plots(workdir, cells, scores)
  result = {**meta, 'proxies': [p.name for p in chosen],
            'columns': list(scores), 'correlations': corr,
            'published': PUBLISHED, 'pytorch_synflow': PYTORCH_SYNFLOW,
            'timing': timing, 'plots': pngs, 'device': runtime.device(),
            'versions': runtime.versions(), 'config': config}
  runtime.write_json(workdir / 'result.json', result)
  return result
