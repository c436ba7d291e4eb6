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
from freedarts_jax import runtime
from freedarts_jax import validation
from theory import experiments
from theory import nt_compat
from theory import plots
from theory import report_md

EXPERIMENTS = ('op', 'arch', 'stax')


def _check(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Validates a theory config; returns the chosen experiments."""
  chosen = validation.choices(config, 'experiments', EXPERIMENTS)
  validation.choice(config, 'bn_mode', ('eval', 'none'),
                    ' The NTK needs eval or none (train-mode BatchNorm '
                    'couples the samples).')
  return chosen


def run(config: ml_collections.ConfigDict, workdir) -> dict:
  """Runs the chosen experiments; writes report.json, report.md and plots.

  The NTKs are computed in float64: `jax_enable_x64` is on inside this call
  only.

  Raises:
    errors.ConfigError: a bad config value.
  """
  chosen = _check(config)
  with jax.enable_x64(True):
    return _run(config, chosen, pathlib.Path(workdir))


def _run(config, chosen: tuple[str, ...], workdir: pathlib.Path) -> dict:
  """run after the checks, float64 on."""
  workdir.mkdir(parents=True, exist_ok=True)
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
    runtime.write_json(workdir / 'report.json', report)  # partial results
  _write_outputs(report, workdir)
  return report


def _write_outputs(report: dict, workdir: pathlib.Path) -> None:
  """Plots, report.json and report.md from the experiments' results."""
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
