"""Rank correlations and their bootstrap intervals (theory/stats.py)."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from theory import report_md
from theory import stats


def _loop_intervals(x, y, key, resamples, level):
  """The percentile bootstrap written out: the code scipy's call replaced."""
  rng = np.random.default_rng(key)
  rho, tau = [], []
  for _ in range(resamples):
    i = rng.integers(0, x.size, x.size)
    rho.append(scipy_stats.spearmanr(x[i], y[i]).statistic)
    tau.append(scipy_stats.kendalltau(x[i], y[i]).statistic)
  q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
  return list(np.percentile(rho, q)), list(np.percentile(tau, q))


def test_intervals_match_the_written_out_bootstrap():
  rng = np.random.default_rng(7)
  x = rng.normal(size=24)
  y = 0.5 * x + rng.normal(size=24)
  c = stats.correlate(x, y, key=3, resamples=200, level=0.9)
  rho_ci, tau_ci = _loop_intervals(x, y, 3, 200, 0.9)
  assert c['spearman']['ci'] == pytest.approx(rho_ci, abs=1e-12)
  assert c['kendall']['ci'] == pytest.approx(tau_ci, abs=1e-12)
  assert c['n'] == 24
  assert c['spearman']['r'] == pytest.approx(
      scipy_stats.spearmanr(x, y).statistic)
  assert c['kendall']['p'] == pytest.approx(
      scipy_stats.kendalltau(x, y).pvalue)
  low, high = c['kendall']['ci']
  assert low < c['kendall']['tau'] < high
  assert all(isinstance(v, float) for v in c['kendall']['ci'])


def test_same_key_same_intervals_and_nonfinite_pairs_dropped():
  x = np.array([1., 2., 3., 4., 5., 6., 7., 8., np.nan, 10.])
  y = np.array([2., 1., 4., 3., 6., 5., 8., 7., 9., np.inf])
  a = stats.correlate(x, y, key=0, resamples=100)
  b = stats.correlate(x, y, key=0, resamples=100)
  assert a == b
  assert a['n'] == 8 and a['dropped'] == 2


def test_constant_or_short_samples_give_nan_and_inconclusive():
  c = stats.correlate([1., 1., 1., 1.], [1., 2., 3., 4.], key=0)
  assert math.isnan(c['kendall']['tau']) and math.isnan(c['spearman']['ci'][0])
  assert stats.verdict(c, 1) == 'inconclusive'
  assert stats.correlate([1., 2.], [2., 1.], key=0)['n'] == 2


def test_verdict_follows_sign_p_value_and_interval():
  strong = {'kendall': {'tau': 0.6, 'p': 0.001, 'ci': [0.3, 0.8]}}
  assert stats.verdict(strong, 1) == 'holds'
  assert stats.verdict(strong, -1) == 'contradicted'
  wide = {'kendall': {'tau': 0.6, 'p': 0.001, 'ci': [-0.1, 0.8]}}
  assert stats.verdict(wide, 1) == 'inconclusive'


def test_the_report_line_says_how_many_pairs_were_left_out():
  # pylint: disable=protected-access
  x = np.array([1., 2., 3., 4., 5., 6., np.nan])
  c = stats.correlate(x, -x, key=0, resamples=50)
  assert '(non-finite pairs left out: 1)' in report_md._fmt(c)
  whole = stats.correlate(x[:-1], x[:-1], key=0, resamples=50)
  assert 'left out' not in report_md._fmt(whole)
