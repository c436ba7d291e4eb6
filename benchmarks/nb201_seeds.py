"""NB201 FreeDARTS cells for seeds 0-9 on each data set, every schedule.

  python benchmarks/nb201_seeds.py [--seeds=10] [--out=benchmarks/results]

Each data set is searched on its own input shape (CIFAR 32px, ImageNet16-120
16px). Writes nb201_seeds.json and nb201_seeds.md under --out and prints the
table: per (data set, schedule), the mean +- std test accuracy of the found
cells in the shipped table, next to the release's numbers (docs/design.md 5).
"""

import json
import pathlib
import sys

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402

from configs import nb201 as nb201_config  # noqa: E402
from freedarts_jax import nb201_table  # noqa: E402
from freedarts_jax import runtime  # noqa: E402
from freedarts_jax.search import driver  # noqa: E402

_SEEDS = flags.DEFINE_integer('seeds', 10, 'Seeds 0..N-1.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')

DATASETS = ('cifar10', 'cifar100', 'imagenet16')
SCHEDULES = ('oneshot', 'iterative_edge', 'iterative_global')
# Release re-run, seeds 0-4, CIFAR-10 shape (docs/design.md 5; NB201 v1.1 API).
RELEASE = {'cifar10': '93.52 +- 0.16', 'cifar100': '70.83 +- 0.36',
           'imagenet16': '44.29 +- 2.43'}


def main(_):
  """Searches every seed, data set and schedule; records the cells."""
  runtime.enable_compilation_cache()
  rows = []
  for dataset in DATASETS:
    for schedule in SCHEDULES:
      for seed in range(_SEEDS.value):
        config = nb201_config.get_config()
        config.update(dataset=dataset, schedule=schedule, seed=seed)
        r = driver.run_search(config)
        rows.append({
            'dataset': dataset, 'schedule': schedule, 'seed': seed,
            'arch': r['arch'], 'connected': r['connected'],
            'dtype': r['dtype'], 'r': r['r'],
            'test_acc': r['benchmark'][nb201_table.ACCURACIES[dataset].column],
            'benchmark': r['benchmark'], 'score_s': r['timing']['score_s'],
        })
        print(f'{dataset} {schedule} seed {seed}: {r["arch"]} '
              f'{rows[-1]["test_acc"]:.2f}', flush=True)
  lines = ['| data set | schedule | seeds | mean test acc | std | min | '
           'release (seeds 0-4) |', '|---|---|---|---|---|---|---|']
  summary = {}
  for dataset in DATASETS:
    for schedule in SCHEDULES:
      accs = np.array([r['test_acc'] for r in rows
                       if (r['dataset'], r['schedule']) == (dataset, schedule)])
      first5 = accs[:5]
      summary[f'{dataset}/{schedule}'] = {
          'mean': accs.mean(), 'std': accs.std(), 'min': accs.min(),
          'mean_seeds_0_4': first5.mean(), 'n': len(accs)}
      lines.append(f'| {dataset} | {schedule} | {len(accs)} | '
                   f'{accs.mean():.2f} (seeds 0-4: {first5.mean():.2f}) | '
                   f'{accs.std():.2f} | {accs.min():.2f} | '
                   f'{RELEASE[dataset]} |')
  table = '\n'.join(lines)
  print(table)
  out = pathlib.Path(_OUT.value)
  record = {**common.provenance(), 'summary': summary, 'runs': rows}
  runtime.write_json(out / 'nb201_seeds.json', record)
  runtime.write_text(
      out / 'nb201_seeds.md',
      f'# NB201 seeds ({record["date"]}, {record["device"]["kind"]}, '
      f'jax {record["versions"]["jax"]})\n\n{table}\n\n' + '\n'.join(
          f'- {r["dataset"]} {r["schedule"]} seed {r["seed"]}: `{r["arch"]}` '
          f'{r["test_acc"]:.2f} ({r["dtype"]})' for r in rows) + '\n')
  print(json.dumps(summary, indent=1))


if __name__ == '__main__':
  app.run(main)
