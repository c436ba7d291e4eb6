"""Records a proxy_bench run: timings and correlations with provenance.

  python benchmarks/proxy_nb201.py --name=cpu_synflow_zeros_1000 \
      --config.proxies=synflow,zeros --config.limit=1000 [--out=DIR]

Runs freedarts_jax.proxies.bench.run_proxy_bench on configs/proxy_nb201.py with
the given overrides in runs/proxy/<name>/ (resumable; its scores.csv and
plots stay there) and writes DIR/proxy_nb201_<name>.json
(date, machine, versions, load average before and after, the settings, the
per-proxy timings and every correlation). DIR defaults to
benchmarks/results; --workdir moves the run's folder elsewhere.
"""

import os
import pathlib
import sys

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
from benchmarks import common
from freedarts_jax import cli
from freedarts_jax import runtime
from freedarts_jax.proxies import bench

_CONFIG = cli.define_config(str(pathlib.Path(__file__).resolve().parents[1]
                                / 'configs' / 'proxy_nb201.py'))
_NAME = flags.DEFINE_string('name', None, 'Record name.', required=True)
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')
_WORKDIR = flags.DEFINE_string('workdir', None,
                               "The run's folder (default runs/proxy/NAME).")


def main(argv):
  """Runs the proxy bench with the overrides and records the result."""
  del argv
  config = cli.config_value(_CONFIG)
  out = pathlib.Path(_OUT.value)
  load_before = os.getloadavg()
  runtime.enable_compilation_cache()
  workdir = _WORKDIR.value or pathlib.Path('runs') / 'proxy' / _NAME.value
  result = bench.run_proxy_bench(config, workdir, overwrite=True)
  record = {**common.provenance(), 'load_average_before': load_before,
            'load_average_after': os.getloadavg(),
            'command': 'python benchmarks/proxy_nb201.py ' + ' '.join(
                sys.argv[1:]),
            **{k: result[k] for k in ('cells', 'init', 'data', 'dtypes',
                                      'bn_modes', 'processes',
                                      'local_devices', 'timing',
                                      'correlations')}}
  runtime.write_json(out / f'proxy_nb201_{_NAME.value}.json', record)
  for proxy, t in record['timing']['p0'].items():
    print(f'{proxy}: {t["cells"]} cells, compile {t["compile_s"]:.1f} s, '
          f'{t.get("per_cell_s", float("nan")):.4f} s/cell')
  for col, by in record['correlations'].items():
    print(col, ' '.join(
        f'{acc}={by[acc]["all"]["spearman"]:+.3f}' if by[acc]['all'][
            'spearman'] is not None else f'{acc}=-' for acc in by))


if __name__ == '__main__':
  cli.run(main)
