"""No global side effects on jax_enable_x64.

Importing the package leaves jax_enable_x64 alone, and the library entry
points compute float64 with it off around them.
"""

import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from freedarts_jax.search import driver
from freedarts_jax.search import scoring
from tests.conftest import tiny_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Imported together in one process; each CLI (it defines its absl flags,
# --config among them) in a process of its own.
LIBRARY = ('freedarts_jax', 'freedarts_jax.search.driver',
           'freedarts_jax.proxies.bench', 'freedarts_jax.train.loop',
           'freedarts_jax.notebook', 'theory.verify_ntk_lib')
CLIS = ('freedarts_jax.search.__main__', 'freedarts_jax.proxies.__main__',
        'freedarts_jax.train.__main__', 'theory.verify_ntk')


def float32_born(x) -> np.ndarray:
  """Whether each float64 value has a float32's 24-bit mantissa."""
  mantissa = np.frexp(np.asarray(x, np.float64))[0] * 2.0**24
  return mantissa == np.round(mantissa)


@pytest.mark.parametrize('modules', [LIBRARY, *((m,) for m in CLIS)],
                         ids=['library', *CLIS])
def test_importing_the_package_leaves_x64_as_it_was(modules):
  code = ('import importlib, jax\n'
          f'for m in {modules!r}:\n'
          '  importlib.import_module(m)\n'
          'print(jax.config.jax_enable_x64)')
  proc = subprocess.run(
      [sys.executable, '-c', code], cwd=ROOT, capture_output=True, check=False,
      text=True, timeout=600,
      env={**os.environ, 'PYTHONPATH': str(ROOT)})
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split() == ['False']


def test_run_search_computes_float64_with_x64_off_around_it():
  scoring.compiled_score.cache_clear()  # compile inside run_search's scope
  with jax.enable_x64(False):
    result = driver.run_search(tiny_config(dtype='float64', seed=7,
                                           schedule='oneshot'))
    assert not jax.config.jax_enable_x64
  assert result['dtype'] == 'float64'
  scores = np.asarray(result['scores']['cell'])[:, 1:]  # (6, 4), no 'none'
  assert (scores > 0).all()
  # float32 work gives float32 numbers (R and the scores are float32 values
  # times a power of two); float64 work does not.
  assert not float32_born(scores).all()
  assert not float32_born(result['r'])
