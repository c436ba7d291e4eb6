"""run(config, workdir): the NTK check behind `python -m theory.verify_ntk`.

Writes workdir/report.json (settings, versions, device, every record and
correlation), workdir/*.png and workdir/report.md (one paragraph per
experiment saying whether the paper's claim held). Returns the report dict.
"""

import json
import pathlib
import time

from absl import logging
import jax
import ml_collections

from freedarts_jax import errors
from freedarts_jax import nb201_table
from freedarts_jax import runtime
from freedarts_jax import validation
from freedarts_jax import zeros
from theory import experiments
from theory import nt_compat
from theory import plots
from theory import report_md

EXPERIMENTS = ('op', 'arch', 'stax')


def _check(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Validates a theory config, before anything is built.

  Returns:
    The chosen experiments, in order.

  Raises:
    errors.ConfigError: the first bad field, in one line naming the field,
      its value and the valid values.
  """
  chosen = validation.choices(config, 'experiments', EXPERIMENTS)
  if not chosen:
    raise errors.ConfigError(
        f'config.experiments must name at least one experiment, got '
        f'{config.experiments!r}; valid values: {", ".join(EXPERIMENTS)}.')
  validation.choice(config, 'bn_mode', ('eval', 'none'),
                    ' The NTK needs eval or none (train-mode BatchNorm '
                    'couples the samples).')
  validation.choice(config, 'alpha_init', zeros.ALPHA_INITS)
  validation.integer(config, 'seed', 0)
  validation.integer(config, 'num_classes', 2)
  for field in ('n', 'stax_n'):  # a correlation matrix needs two samples
    validation.integer(config, field, 2)
  validation.integer(config, 'arch_k', 3, nb201_table.SIZE,
                     ' (a rank correlation needs 3 cells)')
  for field in ('channels', 'cells_per_stage', 'image_size', 'block',
                'op_seeds', 'arch_seeds', 'stax_seeds', 'stax_zeros_seeds',
                'bootstrap'):
    validation.positive(config, field)
  validation.positive(config, 'alpha_scale', float)
  validation.number(config, 'rel_ridge', 0.0)
  return chosen


def run(config: ml_collections.ConfigDict, workdir,
        overwrite: bool = False) -> dict:
  """Runs the chosen experiments; writes report.json, report.md and plots.

  The NTKs are computed in float64: `jax_enable_x64` is on inside this call
  only.

  Args:
    config: a theory config (configs/theory_nb201.py documents the fields).
    workdir: the output folder.
    overwrite: replace a finished run's report.md.

  Returns:
    The report dict, with 'written': the file that holds it (report.md, or
    runtime.save_json's fallback for report.json).

  Raises:
    errors.ConfigError: a bad config value or workdir, or a finished run
      without overwrite.
  """
  chosen = _check(config)
  workdir = runtime.check_workdir(workdir, overwrite, 'report.md')
  with jax.enable_x64(True):
    return _run(config, chosen, workdir)


def _run(config, chosen: tuple[str, ...], workdir: pathlib.Path) -> dict:
  """run after the checks, float64 on."""
  workdir.mkdir(parents=True, exist_ok=True)  # check_workdir: it can be
  nt = nt_compat.load()
  key = jax.random.key(config.seed)
  k_op, k_arch, k_stax = jax.random.split(key, 3)
  report = {
      'settings': config.to_dict(),
      'inputs': 'Gaussian images N(0, 1) (CIFAR-10 is not available '
                'offline); random labels as centred one-hot rows',
      'dtype': 'float64',
      'ntk': 'freedarts_jax.ntk.empirical_ntk (per-sample Jacobians, '
             'contracted, as neural_tangents.empirical_ntk_fn), averaged '
             'over the K logits, w.r.t. the network parameters (not alpha)',
      'ridge': 'rel_ridge * trace(Theta) / n added to Theta before solving',
      'versions': {**runtime.versions(), 'neural_tangents': nt.__version__},
      'nt_compat_patches': list(nt_compat.PATCHES),
      'device': runtime.device(),
      'timings_s': {},
  }
  runners = {'op': (experiments.op_level, k_op),
             'arch': (experiments.arch_level, k_arch),
             'stax': (experiments.infinite_width, k_stax)}
  for name in chosen:
    fn, k = runners[name]
    logging.info('experiment %s ...', name)
    t = time.perf_counter()
    report[name] = fn(config, k)
    report['timings_s'][name] = round(time.perf_counter() - t, 1)
    try:
      runtime.write_json(workdir / 'report.json', report)  # partial results
    except OSError as e:
      logging.warning('could not write the partial report: %s', e)
  try:
    _write_outputs(report, workdir)
  except OSError:
    return {**report, 'written': str(
        runtime.save_json(workdir / 'report.json', report))}
  return {**report, 'written': str(workdir / 'report.md')}


def _write_outputs(report: dict, workdir: pathlib.Path) -> None:
  """Plots, report.json and report.md from the experiments' results."""
  workdir.mkdir(parents=True, exist_ok=True)
  if 'op' in report:
    plots.op_level(report['op'], workdir / 'op_level.png',
                   'Op level, empirical NTK of the Flax supernet')
  if 'arch' in report:
    plots.arch_level(report['arch'], workdir / 'arch_level.png')
  if 'stax' in report:
    plots.op_level(report['stax'], workdir / 'infinite_width.png',
                   'Op level, analytic infinite-width NTK (nt.stax)')
  runtime.write_json(workdir / 'report.json', report)
  runtime.write_text(workdir / 'report.md', report_md.render(report))


def rebuild(workdir) -> dict:
  """Recomputes the NTK report from an existing workdir, without any NTK.

  Recomputes the op-level correlations, plots and report.md from the
  records in an existing workdir/report.json, without computing any NTK
  (e.g. after adding a statistic); the records and timings are kept.
  """
  workdir = pathlib.Path(workdir)
  path = workdir / 'report.json'
  if not path.exists():
    raise errors.DataError(f'{path} does not exist: run without '
                           '--report_only first.')
  report = json.loads(path.read_text())
  config = ml_collections.ConfigDict(report['settings'])
  for name in ('op', 'stax'):
    if name in report:
      report[name]['correlations'] = experiments.op_correlations(
          report[name]['records'], config, config.seed)
  _write_outputs(report, workdir)
  return report
