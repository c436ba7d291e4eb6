"""FreeDARTS search CLI.

  python -m freedarts_jax.search --config=configs/nb201.py --workdir=DIR \
      [--config.seed=3 ...] [--overwrite]

With no flags it runs configs/nb201.py into a fresh folder under runs/.
--config.objective=snip|grasp scores ops on alpha (op level), not weights as
the proxies of the same names do (docs/design.md section 7).
"""

import pathlib

from absl import app
from absl import flags

from freedarts_jax import cli
from freedarts_jax import runtime
from freedarts_jax.search import driver
from freedarts_jax.search import report

_DEFAULT_CONFIG = pathlib.Path(__file__).parents[2] / 'configs' / 'nb201.py'

_CONFIG = cli.define_config(str(_DEFAULT_CONFIG))
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output folder; default: a fresh folder under runs/.')
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace an existing DIR/result.json.')


def main(argv):
  """Runs the search of --config and prints the result."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  config = cli.config_value(_CONFIG)
  workdir = _WORKDIR.value or runtime.fresh_workdir(
      'runs', f'{config.space}-{config.dataset}-seed{config.seed}')
  runtime.enable_compilation_cache()
  result = driver.run_search(config, workdir, _OVERWRITE.value)
  print(report.format_result(result))
  print(f'wrote {result["written"]}')


if __name__ == '__main__':
  cli.run(main)
