"""The theory CLI end to end on configs/theory_smoke.py."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cli(workdir, *flags):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  return subprocess.run(
      [sys.executable, '-W', 'ignore', '-m', 'theory.verify_ntk',
       '--config=configs/theory_smoke.py', f'--workdir={workdir}', *flags],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_smoke_config_end_to_end(tmp_path):
  out = _cli(tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  report = json.loads((tmp_path / 'report.json').read_text())
  assert report['dtype'] == 'float64'
  assert 'Gaussian' in report['inputs']
  assert report['versions']['neural_tangents'] == '0.6.5'
  for name in ('op', 'arch', 'stax'):
    assert report[name]['correlations'], name
    for c in report[name]['correlations'].values():
      assert c['n'] >= 3
      for stat in ('spearman', 'kendall'):
        assert set(c[stat]) >= {'p', 'ci'}
      assert c['verdict'] in ('holds', 'contradicted', 'inconclusive')
  assert len(report['op']['records']) == 24
  assert len(report['arch']['records']) == 6
  for png in ('op_level.png', 'arch_level.png', 'infinite_width.png'):
    assert (tmp_path / png).stat().st_size > 0
  md = (tmp_path / 'report.md').read_text()
  assert md.count('Verdict') == 3

  (tmp_path / 'report.md').unlink()
  out = _cli(tmp_path, '--report_only')
  assert out.returncode == 0, out.stderr[-2000:]
  rebuilt = json.loads((tmp_path / 'report.json').read_text())
  assert rebuilt['op']['records'] == report['op']['records']
  assert (rebuilt['op']['correlations']['zeros_vs_dB/pooled'] ==
          report['op']['correlations']['zeros_vs_dB/pooled'])
  assert (tmp_path / 'report.md').read_text() == md


def test_train_bn_mode_is_a_clean_error(tmp_path):
  out = _cli(tmp_path, '--config.bn_mode=train')
  assert out.returncode == 2
  assert out.stderr.startswith('error: ') and 'Traceback' not in out.stderr


def test_misspelt_config_field_is_a_clean_error(tmp_path):
  out = _cli(tmp_path, '--config.sead=1')
  assert out.returncode == 2
  assert 'sead' in out.stderr and 'Traceback' not in out.stderr


@pytest.mark.parametrize('flag, says', [
    ('--config.n=0', 'config.n must be an integer >= 2, got 0.'),
    ('--config.rel_ridge=-2.0', 'config.rel_ridge must be a number >= 0, '
     'got -2.0.'),
    ('--config.experiments=', "config.experiments must name at least one "
     "experiment, got ''; valid values: op, arch, stax."),
])
def test_bad_numbers_and_an_empty_list_exit_2_before_any_work(
    tmp_path, flag, says):
  out = _cli(tmp_path / 'run', flag)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines() == [f'error: {says}']
  assert not (tmp_path / 'run').exists()
