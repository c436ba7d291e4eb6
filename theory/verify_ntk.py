"""NTK check of the ZEROS claim (spec FREEDARTS.md section 5).

  python -m theory.verify_ntk --config=configs/theory_nb201.py --workdir=DIR \
      [--config.op_seeds=2 ...] [--report_only]

Writes DIR/report.json, DIR/report.md and DIR/*.png.
"""

import pathlib
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from freedarts_jax import errors
from freedarts_jax import runtime
from theory import verify_ntk_lib

_DEFAULT_CONFIG = (pathlib.Path(__file__).parent.parent / 'configs' /
                   'theory_nb201.py')

_CONFIG = config_flags.DEFINE_config_file(
    'config', str(_DEFAULT_CONFIG), 'Theory config file.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder.',
                               required=True)
_REPORT_ONLY = flags.DEFINE_bool(
    'report_only', False, 'Rebuild the statistics, plots and report.md from '
    'DIR/report.json without computing any NTK.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  runtime.enable_compilation_cache()
  try:
    if _REPORT_ONLY.value:
      verify_ntk_lib.rebuild(_WORKDIR.value)
    else:
      verify_ntk_lib.run(_CONFIG.value, _WORKDIR.value)
  except errors.FreeDartsError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'wrote {pathlib.Path(_WORKDIR.value) / "report.md"}')


if __name__ == '__main__':
  app.run(main)
