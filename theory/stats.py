"""Rank correlations with p-values and bootstrap confidence intervals."""

import numpy as np
from scipy import stats


def correlate(x, y, key: int, resamples: int = 1000,
              level: float = 0.95) -> dict:
  """Spearman's rho and Kendall's tau of paired samples, with uncertainty.

  Args:
    x: (n,) first variable.
    y: (n,) second variable.
    key: seed of the bootstrap (numpy Generator).
    resamples: bootstrap resamples of the pairs.
    level: confidence level of the percentile intervals.

  Returns:
    {'n', 'spearman': {'r', 'p', 'ci'}, 'kendall': {'tau', 'p', 'ci'}}; the
    p-values are two-sided tests of no association (scipy); the intervals
    are percentile bootstrap intervals over resampled pairs. Non-finite
    pairs are dropped first (n counts the pairs kept).
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  keep = np.isfinite(x) & np.isfinite(y)
  x, y = x[keep], y[keep]
  n = int(x.size)
  if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    nan = float('nan')
    return {'n': n, 'spearman': {'r': nan, 'p': nan, 'ci': [nan, nan]},
            'kendall': {'tau': nan, 'p': nan, 'ci': [nan, nan]}}
  rho = stats.spearmanr(x, y)
  tau = stats.kendalltau(x, y)
  rng = np.random.default_rng(key)
  boot_rho, boot_tau = [], []
  for _ in range(resamples):
    i = rng.integers(0, n, n)
    if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
      continue
    boot_rho.append(stats.spearmanr(x[i], y[i]).statistic)
    boot_tau.append(stats.kendalltau(x[i], y[i]).statistic)
  q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
  ci = lambda b: [float(v) for v in np.nanpercentile(b, q)]
  return {'n': n,
          'spearman': {'r': float(rho.statistic), 'p': float(rho.pvalue),
                       'ci': ci(boot_rho)},
          'kendall': {'tau': float(tau.statistic), 'p': float(tau.pvalue),
                      'ci': ci(boot_tau)}}


def verdict(corr: dict, expected_sign: int, alpha: float = 0.05) -> str:
  """'holds', 'contradicted' or 'inconclusive' for an expected sign.

  Holds when Kendall's tau has the expected sign, p < alpha and the
  bootstrap interval excludes 0; contradicted when the same is true for the
  opposite sign; inconclusive otherwise.
  """
  k = corr['kendall']
  if not np.isfinite(k['tau']):
    return 'inconclusive'
  significant = k['p'] < alpha and (k['ci'][0] > 0 or k['ci'][1] < 0)
  if not significant:
    return 'inconclusive'
  return 'holds' if np.sign(k['tau']) == expected_sign else 'contradicted'
