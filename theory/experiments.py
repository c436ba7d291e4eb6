"""The three NTK checks: op level, architecture level, stax.

Design: docs/design.md section 6.

Each function returns a dict of per-item records and correlations (see
`theory.stats.correlate`); `theory.verify_ntk_lib` writes them out.

Sign conventions (what the paper's claim predicts):
- op level: removing op o from edge e changes B by dB = B_masked / B - 1 and
  lambda_min by dlam = lambda_masked / lambda_min - 1; a larger ZEROS[e, o]
  should give a larger increase of B (Kendall tau(ZEROS, dB) > 0) and a
  larger drop of lambda_min (tau(ZEROS, dlam) < 0).
- architecture level: higher accuracy goes with larger lambda_min, smaller
  condition number, smaller B and (FreeDARTS' premise) larger summed ZEROS;
  and the claim itself: larger summed ZEROS with smaller B.
"""

import functools
import time

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from freedarts_jax import nb201_table
from freedarts_jax import zeros
from freedarts_jax.spaces import nb201
from theory import ntk as ntk_lib
from theory import stats
from theory import stax_cell

NUM_OPS = len(nb201.OPS)


def _candidates() -> list[tuple[int, int]]:
  """Every (edge, op) with op != 'none'."""
  return [(e, o) for e in range(len(nb201.EDGES)) for o in range(NUM_OPS)
          if o != nb201.NONE]


def _setup(config: ml_collections.ConfigDict, bn_mode: str):
  model = nb201.Network(config.num_classes, config.channels,
                        config.cells_per_stage, bn_mode)
  shape = (config.image_size, config.image_size, 3)
  init = zeros.make_init_fn(model, shape, nb201.alpha_shapes(),
                            config.alpha_init, config.alpha_scale)
  score = zeros.make_score_fn(model, shape, jnp.float64)
  return model, shape, init, score


def _zeros(score, variables, alpha) -> np.ndarray:
  ones = {'cell': jnp.ones(alpha.shape, jnp.float32)}
  return np.asarray(score(variables, {'cell': alpha}, ones).scores['cell'],
                    np.float64)


def _op_records(quantities_of, alpha: np.ndarray, scores: np.ndarray,
                seed: int) -> tuple[dict, list[dict]]:
  """Bound quantities of the full alpha and of every single-op removal."""
  full = quantities_of(alpha)
  records = []
  for e, o in _candidates():
    masked = alpha.copy()
    masked[e, o] = 0.0
    q = quantities_of(masked)
    records.append({
        'seed': seed, 'edge': f'{nb201.EDGES[e][0]}<-{nb201.EDGES[e][1]}',
        'op': nb201.OPS[o], 'zeros': float(scores[e, o]),
        'zeros_share': float(scores[e, o] / scores.sum()),
        'dB': q['B'] / full['B'] - 1,
        'dlambda_min': q['lambda_min'] / full['lambda_min'] - 1,
        'B': q['B'], 'lambda_min': q['lambda_min']})
  return full, records


def op_correlations(records: list[dict], config, key: int) -> dict:
  """ZEROS vs dB and dlam: per seed, pooled, and pooled within each op.

  Pooled groups use ZEROS as a share of its draw's total (the scale of
  ZEROS varies by orders of magnitude between draws); 'op=<name>' groups
  keep only one op type, which separates the ranking within an op type from
  the ranking between op types.
  """
  out = {}
  seeds = sorted({r['seed'] for r in records})
  for target, sign in (('dB', 1), ('dlambda_min', -1)):
    groups = {f'seed{s}': [r for r in records if r['seed'] == s]
              for s in seeds}
    groups['pooled'] = records
    for op in nb201.OPS[1:]:
      groups[f'op={op}'] = [r for r in records if r['op'] == op]
    for name, rs in groups.items():
      x = 'zeros' if name.startswith('seed') else 'zeros_share'
      c = stats.correlate([r[x] for r in rs], [r[target] for r in rs],
                          key, config.bootstrap)
      c.update(x=x, y=target, expected_sign=sign,
               verdict=stats.verdict(c, sign))
      out[f'zeros_vs_{target}/{name}'] = c
  return out


def op_level(config: ml_collections.ConfigDict, key: jax.Array) -> dict:
  """(i) ZEROS[e, o] against the change of B and lambda_min without o."""
  model, shape, init, score = _setup(config, config.bn_mode)
  ntk = ntk_lib.make_ntk_fn(model)
  fulls, records = [], []
  for s in range(config.op_seeds):
    k_init, k_x, k_y = jax.random.split(jax.random.fold_in(key, s), 3)
    variables, alpha = init(k_init)
    alpha = np.asarray(alpha['cell'], np.float64)
    x = ntk_lib.gaussian_inputs(k_x, config.n, shape)
    y = ntk_lib.centred_one_hot(k_y, config.n, config.num_classes)
    scores = _zeros(score, variables, jnp.asarray(alpha, jnp.float32))
    t = time.perf_counter()

    def quantities_of(a, variables=variables, x=x, y=y):
      theta = ntk_lib.gram(ntk, variables, {'cell': jnp.asarray(a)}, x,
                           config.block)
      return ntk_lib.bound_quantities(theta, y, config.rel_ridge)

    full, rs = _op_records(quantities_of, alpha, scores, s)
    fulls.append({'seed': s, **full})
    records += rs
    logging.info('op level: seed %d/%d, 25 NTKs in %.0f s (B %.4g, '
                 'lambda_min %.4g)', s + 1, config.op_seeds,
                 time.perf_counter() - t, full['B'], full['lambda_min'])
  return {'full': fulls, 'records': records,
          'correlations': op_correlations(records, config, config.seed)}


def _geometric_mean(quantities: list[dict], key: str) -> float:
  """Geometric mean of q[key] over the seeds' records; 0 if any is <= 0."""
  return float(np.exp(np.mean([np.log(q[key]) if q[key] > 0 else -np.inf
                               for q in quantities])))


def _one_hot(genotype: nb201.Genotype) -> np.ndarray:
  """alpha selecting one op per edge.

  The supernet's output and NTK then equal those of the discrete network
  (the other ops' parameters get zero gradient; tests/theory/ntk_test.py
  checks it).
  """
  a = np.zeros((len(nb201.EDGES), NUM_OPS), np.float64)
  for e, op in enumerate(genotype):
    if op != 'none':
      a[e, nb201.OPS.index(op)] = 1.0
  return a


def arch_level(config: ml_collections.ConfigDict, key: jax.Array) -> dict:
  """(ii) K sampled NB201 cells: NTK quantities and summed ZEROS vs accuracy."""
  model, shape, init, score = _setup(config, config.bn_mode)
  ntk = ntk_lib.make_ntk_fn(model)
  table = nb201_table.load()
  rng = np.random.default_rng(config.seed)
  indices = rng.choice(len(table), config.arch_k, replace=False)
  rows = [table.row(int(i)) for i in indices]
  per_seed = []
  for s in range(config.arch_seeds):
    k_init, k_x, k_y = jax.random.split(jax.random.fold_in(key, s), 3)
    variables, alpha = init(k_init)
    scores = _zeros(score, variables, alpha['cell'])
    share = scores / scores.sum()
    x = ntk_lib.gaussian_inputs(k_x, config.n, shape)
    y = ntk_lib.centred_one_hot(k_y, config.n, config.num_classes)
    t = time.perf_counter()
    out = []
    for row in rows:
      genotype = nb201.from_string(row['arch'])
      theta = ntk_lib.gram(ntk, variables,
                           {'cell': jnp.asarray(_one_hot(genotype))}, x,
                           config.block)
      q = ntk_lib.bound_quantities(theta, y, config.rel_ridge)
      q['zeros_sum'] = float(sum(share[e, nb201.OPS.index(op)]
                                 for e, op in enumerate(genotype)))
      out.append(q)
    per_seed.append(out)
    logging.info('arch level: seed %d/%d, %d NTKs in %.0f s', s + 1,
                 config.arch_seeds, len(rows), time.perf_counter() - t)
  records = []
  for i, row in enumerate(rows):
    qs = [per_seed[s][i] for s in range(config.arch_seeds)]
    geo = functools.partial(_geometric_mean, qs)
    records.append({
        'index': row['index'], 'arch': row['arch'],
        'connected': nb201.is_connected(nb201.from_string(row['arch'])),
        'accuracy': row[nb201_table.ACCURACIES['cifar10'].column],
        'B': geo('B'), 'lambda_min': geo('lambda_min'), 'cond': geo('cond'),
        'zeros_sum': float(np.mean([q['zeros_sum'] for q in qs]))})
  acc = [r['accuracy'] for r in records]
  correlations = {}
  for metric, sign in (('lambda_min', 1), ('cond', -1), ('B', -1),
                       ('zeros_sum', 1)):
    c = stats.correlate([r[metric] for r in records], acc, config.seed,
                        config.bootstrap)
    c.update(x=metric, y='cifar10_test', expected_sign=sign,
             verdict=stats.verdict(c, sign))
    correlations[f'{metric}_vs_accuracy'] = c
  c = stats.correlate([r['zeros_sum'] for r in records],
                      [r['B'] for r in records], config.seed,
                      config.bootstrap)
  c.update(x='zeros_sum', y='B', expected_sign=-1,
           verdict=stats.verdict(c, -1))
  correlations['zeros_sum_vs_B'] = c
  return {'records': records, 'correlations': correlations}


def infinite_width(config: ml_collections.ConfigDict, key: jax.Array) -> dict:
  """(iii) The op-level test on the analytic NTK of the stax network.

  ZEROS comes from the finite Flax supernet without BatchNorm (the mode the
  stax network mirrors) at the same alpha, as a share of the total, averaged
  over `stax_zeros_seeds` draws of theta.
  """
  _, shape, init, score = _setup(config, 'none')
  fulls, records = [], []
  for s in range(config.stax_seeds):
    k_alpha, k_x, k_y, k_theta = jax.random.split(
        jax.random.fold_in(key, s), 4)
    alpha = np.abs(config.alpha_scale * np.asarray(jax.random.normal(
        k_alpha, (len(nb201.EDGES), NUM_OPS), jnp.float32), np.float64))
    alpha[:, nb201.NONE] = 0.0
    shares = []
    for t in range(config.stax_zeros_seeds):
      variables, _ = init(jax.random.fold_in(k_theta, t))
      sc = _zeros(score, variables, jnp.asarray(alpha, jnp.float32))
      shares.append(sc / sc.sum())
    scores = np.mean(shares, axis=0)
    x = np.asarray(ntk_lib.gaussian_inputs(k_x, config.stax_n, shape))
    y = ntk_lib.centred_one_hot(k_y, config.stax_n, config.num_classes)
    t0 = time.perf_counter()

    def quantities_of(a, x=x, y=y):
      theta = stax_cell.ntk(a, x, config.num_classes)
      return ntk_lib.bound_quantities(theta, y, config.rel_ridge)

    full, rs = _op_records(quantities_of, alpha, scores, s)
    fulls.append({'seed': s, **full})
    records += rs
    logging.info('infinite width: alpha draw %d/%d, 25 kernels in %.0f s',
                 s + 1, config.stax_seeds, time.perf_counter() - t0)
  return {'full': fulls, 'records': records,
          'correlations': op_correlations(records, config, config.seed)}
