"""FreeDARTS search CLI.

  python -m freedarts_jax.search --config=configs/nb201.py --workdir=DIR \
      [--config.seed=3 ...] [--overwrite]

With no flags it runs configs/nb201.py into a fresh folder under runs/.
--config.objective=snip|grasp scores ops on alpha (op level), not weights as
the proxies of the same names do (docs/design.md section 7).
"""

from freedarts_jax import cli
from freedarts_jax import runtime
from freedarts_jax.search import driver
from freedarts_jax.search import report

_FLAGS = cli.define_run_flags(
    'nb201.py', 'Output folder; default: a fresh folder under runs/.',
    'Replace an existing DIR/result.json.', workdir_required=False)


def main(argv):
  """Runs the search of --config and prints the result."""
  config = _FLAGS.parsed_config(argv)
  workdir = _FLAGS.workdir.value or runtime.fresh_workdir(
      'runs', f'{config.space}-{config.dataset}-seed{config.seed}')
  runtime.enable_compilation_cache()
  result = driver.run_search(config, workdir, _FLAGS.overwrite.value)
  print(report.format_result(result))
  print(f'wrote {result["written"]}')


if __name__ == '__main__':
  cli.run(main)
