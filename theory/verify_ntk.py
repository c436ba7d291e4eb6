"""NTK check of the ZEROS claim (docs/design.md section 6).

  python -m theory.verify_ntk --config=configs/theory_nb201.py --workdir=DIR \
      [--config.op_seeds=2 ...] [--overwrite] [--report_only]

Writes DIR/report.json, DIR/report.md and DIR/*.png.
"""

import pathlib

from absl import app
from absl import flags

from freedarts_jax import cli
from freedarts_jax import runtime
from theory import verify_ntk_lib

_DEFAULT_CONFIG = (pathlib.Path(__file__).parent.parent / 'configs' /
                   'theory_nb201.py')

_CONFIG = cli.define_config(str(_DEFAULT_CONFIG))
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder.',
                               required=True)
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace a finished run (DIR/report.md exists).')
_REPORT_ONLY = flags.DEFINE_bool(
    'report_only', False, 'Rebuild the statistics, plots and report.md from '
    'DIR/report.json without computing any NTK.')


def main(argv):
  """Runs the NTK verification of --config (or rebuilds its report)."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if _REPORT_ONLY.value:
    verify_ntk_lib.rebuild(_WORKDIR.value)
    print(f'wrote {pathlib.Path(_WORKDIR.value) / "report.md"}')
    return
  runtime.enable_compilation_cache()
  report = verify_ntk_lib.run(cli.config_value(_CONFIG), _WORKDIR.value,
                              _OVERWRITE.value)
  print(f'wrote {report["written"]}')


if __name__ == '__main__':
  cli.run(main)
