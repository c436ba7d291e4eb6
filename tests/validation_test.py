"""The config checks every CLI shares: one line naming field, value, range."""

import pathlib
import subprocess
import sys

import ml_collections
import pytest

from freedarts_jax import errors
from freedarts_jax import validation

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _config(**fields):
  return ml_collections.ConfigDict(fields)


@pytest.mark.parametrize('check, value, message', [
    (lambda c: validation.choice(c, 'x', ('a', 'b')), 'c',
     "config.x: unknown x 'c'; valid values: a, b."),
    (lambda c: validation.choice(c, 'x', (0, 1)), True,
     'config.x: unknown x True; valid values: 0, 1.'),
    (lambda c: validation.integer(c, 'x', 0, 9), 10,
     'config.x must be an integer in 0..9, got 10.'),
    (lambda c: validation.integer(c, 'x', 0, note=' (0: all)'), -1,
     'config.x must be an integer >= 0 (0: all), got -1.'),
    (lambda c: validation.integer(c, 'x', 0), 1.0,
     'config.x must be an integer >= 0, got 1.0.'),
    (lambda c: validation.positive(c, 'x'), 0,
     'config.x must be an integer > 0, got 0.'),
    (lambda c: validation.positive(c, 'x'), True,
     'config.x must be an integer > 0, got True.'),
    (lambda c: validation.positive(c, 'x', float), -0.5,
     'config.x must be a number > 0, got -0.5.'),
    (lambda c: validation.number(c, 'x', 0.0, below=1.0), 1.0,
     'config.x must be a number >= 0 and < 1, got 1.0.'),
    (lambda c: validation.number(c, 'x', 0, strict=True), 0,
     'config.x must be a number > 0, got 0.'),
    (lambda c: validation.boolean(c, 'x'), 1,
     'config.x must be True or False, got 1.'),
])
def test_a_bad_value_is_one_line_naming_field_value_and_range(
    check, value, message):
  with pytest.raises(errors.ConfigError) as e:
    check(_config(x=value))
  assert str(e.value) == message


def test_good_values_pass():
  c = _config(n=3, f=0.5, s='b', flag=False, zero=0, items='a, b,')
  validation.choice(c, 's', ('a', 'b'))
  validation.integer(c, 'n', 0, 3)
  validation.integer(c, 'zero', 0)
  validation.positive(c, 'n')
  validation.positive(c, 'f', float)
  validation.number(c, 'f', 0.0, below=1.0)
  validation.number(c, 'n', 0, strict=True)
  validation.boolean(c, 'flag')
  assert validation.choices(c, 'items', ('a', 'b')) == ('a', 'b')
  with pytest.raises(errors.ConfigError, match="unknown items 'c'"):
    validation.choices(_config(items='a,c'), 'items', ('a', 'b'))


# Each CLI on its smallest config with one bad value: the same helpers give
# one line naming the field and what is valid, and exit status 2.
@pytest.mark.parametrize('module, config, flag, expected', [
    ('freedarts_jax.search', 'nb201.py', '--config.schedule=twice',
     ("config.schedule: unknown schedule 'twice'; valid values: oneshot, "
      'iterative_edge, iterative_global.')),
    ('freedarts_jax.search', 'nb201.py', '--config.num_seeds=0',
     'config.num_seeds must be an integer > 0, got 0.'),
    ('freedarts_jax.proxy_bench', 'proxy_nb201.py',
     '--config.zeros_bn_mode=batch', ('config.zeros_bn_mode: unknown '
                                      "zeros_bn_mode 'batch'; valid "
                                      'values: train, eval, none.')),
    ('freedarts_jax.train', 'train_smoke.py', '--config.drop_path=1.5',
     'config.drop_path must be a number >= 0 and < 1, got 1.5.'),
    ('theory.verify_ntk', 'theory_smoke.py', '--config.experiments=op,arc',
     ("config.experiments: unknown experiments 'arc'; valid values: op, "
      'arch, stax.')),
])
def test_every_cli_reports_a_bad_value_in_one_line(tmp_path, module, config,
                                                   flag, expected):
  proc = subprocess.run(
      [sys.executable, '-m', module, f'--config={ROOT / "configs" / config}',
       flag, f'--workdir={tmp_path / "run"}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines() == [f'error: {expected}']
  assert not (tmp_path / 'run' / 'result.json').exists()
