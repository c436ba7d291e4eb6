"""Rank correlations with p-values and bootstrap confidence intervals."""

import warnings

import numpy as np
from scipy import stats


def _rank_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """(Spearman's rho, Kendall's tau) of one resample; NaN if x or y is flat."""
  if np.ptp(x) == 0 or np.ptp(y) == 0:
    return np.full(2, np.nan)
  return np.array([stats.spearmanr(x, y).statistic,
                   stats.kendalltau(x, y).statistic])


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
    {'n', 'dropped', 'spearman': {'r', 'p', 'ci'}, 'kendall': {'tau', 'p',
    'ci'}}; the p-values are two-sided tests of no association (scipy); the
    intervals are percentile bootstrap intervals over resampled pairs
    (`scipy.stats.bootstrap(paired=True, method='percentile')`). Non-finite
    pairs are dropped first: n counts the pairs kept, 'dropped' the others
    (a singular kernel's condition number, say), so a report can say so.
    Where a resample leaves x or y constant its correlation is undefined,
    and the interval is then [nan, nan] (only likely for n below about 10).
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  keep = np.isfinite(x) & np.isfinite(y)
  x, y = x[keep], y[keep]
  n, dropped = int(x.size), int(keep.size - keep.sum())
  if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    nan = float('nan')
    return {'n': n, 'dropped': dropped,
            'spearman': {'r': nan, 'p': nan, 'ci': [nan, nan]},
            'kendall': {'tau': nan, 'p': nan, 'ci': [nan, nan]}}
  rho = stats.spearmanr(x, y)
  tau = stats.kendalltau(x, y)
  with warnings.catch_warnings():  # a NaN interval is reported as such
    warnings.simplefilter('ignore', stats.DegenerateDataWarning)
    boot = stats.bootstrap(
        (x, y), _rank_correlations, n_resamples=resamples, vectorized=False,
        paired=True, confidence_level=level, method='percentile',
        rng=np.random.default_rng(key))
  low, high = boot.confidence_interval
  return {'n': n, 'dropped': dropped,
          'spearman': {'r': float(rho.statistic), 'p': float(rho.pvalue),
                       'ci': [float(low[0]), float(high[0])]},
          'kendall': {'tau': float(tau.statistic), 'p': float(tau.pvalue),
                      'ci': [float(low[1]), float(high[1])]}}


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
