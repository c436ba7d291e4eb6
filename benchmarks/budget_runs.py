"""Searches under a size budget (issue 18), recorded.

  PYTHONPATH=. python benchmarks/budget_runs.py --run=nb201|darts|mobilenet \
      [--out=benchmarks/results] [--schedule=oneshot]

nb201: each data set, seeds 0-9 as one ensemble, budget_metric=params with
the budget at the median parameter count of the table's 15,625 cells (NB201's
network of the cell); each seed's budgeted and unconstrained cells with their
test accuracies in the shipped table.
darts: configs/darts.py (8 cells), seeds 0-4 as one ensemble,
budget_metric=params, budget=3.4e6; each seed's genotype, its evaluation
network's parameters counted again by darts.eval_params (the built network),
its multiply-adds, the unconstrained genotype and the score given up.
mobilenet: configs/mobilenet.py, seed 0, budget_metric=flops, budget=600e6;
the found network's parameters and multiply-adds (mobilenet.cost).

Writes budget_<run>.json under --out with the provenance header, the load
average before and after, wall time and peak RSS, and prints a summary.
"""

import os
import pathlib
import resource
import sys
import time

from absl import app
from absl import flags
import ml_collections
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402

from configs import darts as darts_config  # noqa: E402
from configs import mobilenet as mobilenet_config  # noqa: E402
from configs import nb201 as nb201_config  # noqa: E402
from freedarts_jax import nb201_table  # noqa: E402
from freedarts_jax import runtime  # noqa: E402
from freedarts_jax import spaces  # noqa: E402
from freedarts_jax.search import budget  # noqa: E402
from freedarts_jax.search import driver  # noqa: E402
from freedarts_jax.spaces import darts  # noqa: E402
from freedarts_jax.spaces import darts_genotype  # noqa: E402
from freedarts_jax.spaces import nb201  # noqa: E402

_RUN = flags.DEFINE_enum('run', None, ['nb201', 'darts', 'mobilenet'],
                         'Which recorded run.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')
_SCHEDULE = flags.DEFINE_string(
    'schedule', None, 'nb201 only: this schedule in place of the default '
    'one (the record is then budget_nb201_<schedule>.json).')
DATASETS = ('cifar10', 'cifar100', 'imagenet16')


def _search(config) -> tuple[dict, dict]:
  """run_search with its wall time, load averages and peak RSS."""
  load_before, t = os.getloadavg(), time.perf_counter()
  result = driver.run_search(config)
  return result, {
      'wall_s': time.perf_counter() - t, 'load_before': load_before,
      'load_after': os.getloadavg(),
      'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024, 'timing': result['timing'],
      'dtype': result['dtype'], 'config': result['config']}


def _with(config, **fields) -> ml_collections.ConfigDict:
  out = ml_collections.ConfigDict(config.to_dict())
  out.update(fields)
  return out


def _nb201_params(config) -> np.ndarray:
  """Parameters of NB201's network of each of the table's 15,625 cells."""
  space = spaces.get('nb201')
  model = budget.from_config(space, _with(config, budget_metric='params',
                                          budget=1e12))
  return np.array([budget.cost(space, model, nb201.from_string(a))
                   for a in nb201_table.load().archs])


def _within(params: np.ndarray, limit: float, column: str) -> dict:
  """The table's cells within the budget: how many, mean and best accuracy."""
  table = nb201_table.load()
  col = nb201_table.COLUMNS.index(column)
  accs = np.array([v[col] for v in table.values])[params <= limit]
  best = int(np.flatnonzero(params <= limit)[np.argmax(accs)])
  return {'cells': len(accs), 'mean': accs.mean(), 'best': accs.max(),
          'best_arch': table.archs[best]}


def run_nb201() -> dict:
  """NB201, each data set: seeds 0-9 at the median parameter count."""
  runs, table = {}, nb201_table.load()
  for dataset in DATASETS:
    config = nb201_config.get_config()
    config.dataset = dataset
    params = _nb201_params(config)
    median = float(np.median(params))
    config.update(budget_metric='params', budget=median, num_seeds=10)
    if _SCHEDULE.value:
      config.schedule = _SCHEDULE.value
    result, record = _search(config)
    column = nb201_table.ACCURACIES[dataset].column
    seeds = []
    for cell, fields in zip(result['ensemble']['cells'],
                            result['budget']['seeds']):
      free = fields['unconstrained']['arch']
      seeds.append({'seed': cell['seed'], 'arch': cell['arch'],
                    'params': fields['cost'],
                    'test_acc': cell['benchmark'][column],
                    'unconstrained_arch': free,
                    'unconstrained_params': fields['unconstrained']['cost'],
                    'unconstrained_test_acc': table.lookup(free)[column],
                    'round': fields['round'],
                    'score_given_up_fraction':
                        fields['score_given_up_fraction']})
    accs = np.array([s['test_acc'] for s in seeds])
    free_accs = np.array([s['unconstrained_test_acc'] for s in seeds])
    runs[dataset] = {**record, 'budget': median, 'column': column,
                     'seeds': seeds, 'mean': accs.mean(), 'std': accs.std(),
                     'unconstrained_mean': free_accs.mean(),
                     'unconstrained_std': free_accs.std(),
                     'table_within_budget': _within(params, median, column)}
    print(f'{dataset}: budget {median:,.0f} params: {accs.mean():.2f} +- '
          f'{accs.std():.2f} (unconstrained {free_accs.mean():.2f} +- '
          f'{free_accs.std():.2f})', flush=True)
  return runs


def run_darts() -> dict:
  """DARTS 8 cells, seeds 0-4 at 3.4 M parameters."""
  config = darts_config.get_config()
  config.update(budget_metric='params', budget=3.4e6, num_seeds=5)
  result, record = _search(config)
  space = spaces.get('darts')
  flops = budget.from_config(space, _with(config, budget_metric='flops',
                                          budget=1e12))
  seeds = []
  for cell, fields in zip(result['ensemble']['cells'],
                          result['budget']['seeds']):
    genotype = darts_genotype.from_json(cell['genotype'])
    seeds.append({'seed': cell['seed'], 'arch': cell['arch'],
                  'eval_params': darts.eval_params(genotype),
                  'budget_cost': fields['cost'],
                  'flops': budget.cost(space, flops, genotype),
                  'unconstrained_arch': fields['unconstrained']['arch'],
                  'unconstrained_params': fields['unconstrained']['cost'],
                  'round': fields['round'],
                  'score_given_up': fields['score_given_up'],
                  'score_given_up_fraction':
                      fields['score_given_up_fraction']})
    print(f'seed {cell["seed"]}: {seeds[-1]["eval_params"]:,} params '
          f'(unconstrained {fields["unconstrained"]["cost"]:,.0f}), score '
          f'given up {100 * fields["score_given_up_fraction"]:.2f}%: '
          f'{cell["arch"]}', flush=True)
  assert all(s['eval_params'] <= 3.4e6 for s in seeds)
  return {**record, 'budget': result['budget'], 'seeds': seeds,
          'consensus': result['arch']}


def run_mobilenet() -> dict:
  """MobileNet, seed 0 at 600 M multiply-adds."""
  config = mobilenet_config.get_config()
  config.update(budget_metric='flops', budget=600e6)
  result, record = _search(config)
  print(f'{result["flops"]:,} multiply-adds, {result["params"]:,} params '
        f'(unconstrained {result["budget"]["unconstrained"]["cost"]:,.0f} '
        f'multiply-adds): {result["arch"]}', flush=True)
  assert result['flops'] <= 600e6
  return {**record, 'blocks': result['blocks'], 'params': result['params'],
          'flops': result['flops'], 'budget': result['budget']}


def main(_):
  """Runs --run and writes its record."""
  runtime.enable_compilation_cache()
  run = {'nb201': run_nb201, 'darts': run_darts,
         'mobilenet': run_mobilenet}[_RUN.value]()
  record = {**common.provenance(), 'run': _RUN.value, 'result': run}
  suffix = f'_{_SCHEDULE.value}' if _SCHEDULE.value else ''
  path = pathlib.Path(_OUT.value) / f'budget_{_RUN.value}{suffix}.json'
  runtime.write_json(path, record)
  print(f'wrote {path}')


if __name__ == '__main__':
  flags.mark_flag_as_required('run')
  app.run(main)
