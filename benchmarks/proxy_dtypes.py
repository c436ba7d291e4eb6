"""float32 against float64 for the data-dependent proxies on the full network.

  PYTHONPATH=. python benchmarks/proxy_dtypes.py [--cells=16] [--name=...]

Scores a seeded sample of NB201 cells with each proxy twice, the network in
float32 (`Setup(data_dtype='float32')`, what 'auto' picks for these
proxies) and in float64, with the same weights and the same Gaussian batch
of 64 (as `peer_cpu.py`), compiled as the proxy benchmark compiles them on
CPU, and records every value and the relative differences (median, max,
how many cells exceed 1e-5, whether the two rank the cells alike) and
the seconds a cell in each dtype (compile excluded: the first call is
timed apart) with the machine, versions, load and date in
benchmarks/results/<name>.json. The tests hold the 1e-5 bound on a small
network (tests/proxies/cell_net_test.py); this measures the full one.
"""

import os
import pathlib
import sys
import time

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
import scipy.stats

from benchmarks import common
from freedarts_jax import cli
from freedarts_jax import data
from freedarts_jax import nb201_table
from freedarts_jax import proxies
from freedarts_jax import runtime
from freedarts_jax.proxies import bench

_PROXIES = flags.DEFINE_list(
    'proxies', ['jacob_cov', 'grad_norm', 'snip', 'fisher'],
    'Proxies to compare (those Setup.data_dtype "auto" runs in float32).')
_CELLS = flags.DEFINE_integer('cells', 16, 'Cells sampled (seed 1).')
_BATCH = flags.DEFINE_integer('batch', 64, 'Images in the batch.')
_NAME = flags.DEFINE_string('name', 'proxy_dtypes', 'Record name.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')


def _values(name: str, dtype: str, alphas, batch) -> tuple[np.ndarray, dict]:
  """One proxy's value per cell with the network in `dtype`, and its times.

  The times: 'first_s' (the first cell, compile included) and 'per_cell_s'
  (the mean over the others).
  """
  variables, fn = bench.cell_scorer(name, proxies.Setup(data_dtype=dtype),
                                    jax.random.key(0), batch)
  start = time.perf_counter()
  values = [float(fn(variables, alphas[0]))]
  first = time.perf_counter() - start
  start = time.perf_counter()
  values += [float(fn(variables, a)) for a in alphas[1:]]
  per_cell = (time.perf_counter() - start) / max(len(alphas) - 1, 1)
  return np.array(values), {'first_s': first, 'per_cell_s': per_cell}


def main(argv):
  """Scores the sample in both dtypes; prints and records the differences."""
  del argv
  for name in _PROXIES.value:
    proxies.get(name)  # an unknown name fails here, before any compile
  indices = np.sort(np.random.default_rng(1).choice(
      nb201_table.SIZE, _CELLS.value, replace=False))
  alphas = bench.one_hots(indices)
  setup = proxies.Setup()
  batch = data.gaussian_batch(jax.random.key(1), _BATCH.value,
                              setup.input_shape, setup.num_classes)
  record = {**common.provenance(), 'loadavg_start': os.getloadavg(),
            'batch': _BATCH.value, 'data': 'gaussian',
            'cells': [int(i) for i in indices], 'proxies': {}}
  for name in _PROXIES.value:
    f32, t32 = _values(name, 'float32', alphas, batch)
    f64, t64 = _values(name, 'float64', alphas, batch)
    ok = np.isfinite(f32) & np.isfinite(f64) & (f64 != 0)
    rel = np.abs(f32[ok] - f64[ok]) / np.abs(f64[ok])
    row = {'float32': f32.tolist(), 'float64': f64.tolist(),
           'finite_mismatch': int(np.sum(np.isfinite(f32)
                                         != np.isfinite(f64))),
           'compared': int(ok.sum()),
           'median_rel': float(np.median(rel)) if rel.size else None,
           'max_rel': float(np.max(rel)) if rel.size else None,
           'over_1e-5': int(np.sum(rel > 1e-5)),
           'spearman_float32_float64': float(scipy.stats.spearmanr(
               f32[ok], f64[ok]).statistic) if ok.sum() > 1 else None,
           'timing': {'float32': t32, 'float64': t64}}
    record['proxies'][name] = row
    print(f'{name}: {row["compared"]} cells, float32 against float64: '
          f'median {row["median_rel"]:.1e}, max {row["max_rel"]:.1e} '
          f'relative, {row["over_1e-5"]} over 1e-5, '
          f'{row["finite_mismatch"]} finite in one dtype only; '
          f'{t32["per_cell_s"]:.3f} s a cell in float32, '
          f'{t64["per_cell_s"]:.3f} s in float64', flush=True)
  record['loadavg_end'] = os.getloadavg()
  runtime.write_json(pathlib.Path(_OUT.value) / f'{_NAME.value}.json',
                     record)


if __name__ == '__main__':
  cli.run(main)  # float64 on
