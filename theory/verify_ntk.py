"""NTK check of the ZEROS claim (docs/design.md section 6).

  python -m theory.verify_ntk --config=configs/theory_nb201.py --workdir=DIR \
      [--config.op_seeds=2 ...] [--overwrite] [--report_only]

Writes DIR/report.json, DIR/report.md and DIR/*.png.
"""

import pathlib

from absl import flags

from freedarts_jax import cli
from freedarts_jax import runtime
from theory import verify_ntk_lib

_FLAGS = cli.define_run_flags(
    'theory_nb201.py', 'Output folder.',
    'Replace a finished run (DIR/report.md exists).')
_REPORT_ONLY = flags.DEFINE_bool(
    'report_only', False, 'Rebuild the statistics, plots and report.md from '
    'DIR/report.json without computing any NTK.')


def main(argv):
  """Runs the NTK verification of --config (or rebuilds its report)."""
  config = _FLAGS.parsed_config(argv)
  if _REPORT_ONLY.value:
    verify_ntk_lib.rebuild(_FLAGS.workdir.value)
    print(f'wrote {pathlib.Path(_FLAGS.workdir.value) / "report.md"}')
    return
  runtime.enable_compilation_cache()
  report = verify_ntk_lib.run(config, _FLAGS.workdir.value,
                              _FLAGS.overwrite.value)
  print(f'wrote {report["written"]}')


if __name__ == '__main__':
  cli.run(main)
