"""theory.nt_compat: the shimmed import, and stepping aside when not needed.

The layer changes process-global state (jax modules, sys.modules), so each
import path runs in a fresh interpreter.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from theory import nt_compat

ROOT = pathlib.Path(__file__).resolve().parents[2]

_PROBE = textwrap.dedent("""
    import json, sys
    import jax
    from theory import nt_compat
    nt = nt_compat.load()
    print(json.dumps({
        'file': nt.__file__,
        'patches': nt_compat.PATCHES,
        'tensorflow': 'tensorflow' in sys.modules,
        'jax_util': 'jax.util' in sys.modules,
        'core_jaxpr': hasattr(jax.core, 'Jaxpr'),
        'has_ntk_fn': hasattr(nt, 'empirical_ntk_fn'),
    }))
""")


def _probe(extra_path: str | None = None) -> dict:
  path = [str(ROOT)] + ([extra_path] if extra_path else [])
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(path[::-1]))
  out = subprocess.run([sys.executable, '-c', _PROBE], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_shimmed_import_without_tensorflow():
  got = _probe()
  assert got['has_ntk_fn']
  assert not got['tensorflow']
  assert 'neural_tangents.experimental (stub)' in got['patches']
  assert got['core_jaxpr'] and got['jax_util']


def test_steps_aside_when_neural_tangents_imports_cleanly(tmp_path):
  fake = tmp_path / 'neural_tangents'
  fake.mkdir()
  (fake / '__init__.py').write_text('empirical_ntk_fn = None\n')
  got = _probe(str(tmp_path))
  assert got['file'] == str(fake / '__init__.py')
  assert got['patches'] == []
  assert not got['jax_util'] and not got['core_jaxpr']


def test_experimental_stub_explains():
  nt_compat.load()
  with pytest.raises(ImportError, match='TensorFlow'):
    from neural_tangents.experimental import empirical_ntk_fn_tf  # noqa: F401


def test_moved_names_are_jax_extend_core():
  nt_compat.load()
  import jax  # pylint: disable=g-import-not-at-top
  for name in ('Jaxpr', 'JaxprEqn', 'Literal', 'Var', 'Primitive'):
    assert getattr(jax.core, name) is getattr(jax.extend.core, name)


def test_safe_map_and_zip():
  assert nt_compat.safe_map(lambda a, b: a + b, [1, 2], (3, 4)) == [4, 6]
  assert nt_compat.safe_zip('ab', [1, 2]) == [('a', 1), ('b', 2)]
  with pytest.raises(ValueError, match='unequal'):
    nt_compat.safe_zip([1], [1, 2])
