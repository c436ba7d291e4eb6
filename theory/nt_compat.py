"""Imports neural-tangents 0.6.5 on current JAX; steps aside when not needed.

neural-tangents 0.6.5 (its last release) fails to import on jax >= 0.6:

- it takes `Jaxpr`, `JaxprEqn`, `Literal`, `Var`, `ClosedJaxpr`, `Primitive`
  from `jax.core` (they moved to `jax.extend.core`);
- it takes `safe_map` / `safe_zip` from `jax.util` (the module is gone);
- it registers a rule for `jax.interpreters.ad.zeros_like_p` at import time
  (no longer re-exported there);
- `import neural_tangents` eagerly imports `neural_tangents.experimental`,
  which needs TensorFlow and tf2jax; nothing else in the package does.

`load()` first imports neural-tangents as it is. Only if that fails with an
ImportError does it provide the missing names (never replacing one that
exists), put a stub in place of `neural_tangents.experimental` and import
again. (Where TensorFlow is installed, that first attempt loads it before
failing on the jax names: a few seconds, once per process.) With the shims,
`empirical_ntk_fn` with the default implementation (JACOBIAN_CONTRACTION) and
NTK_VECTOR_PRODUCTS, `stax` kernels, `monte_carlo` and `predict` work;
STRUCTURED_DERIVATIVES and AUTO do not (see docs/design.md section 8).
`PATCHES` lists what was provided, for reports; it stays empty when
neural-tangents imported cleanly.
"""

import importlib
import sys
import types

import jax
import jax.extend.core
import jax.interpreters.ad

_CORE_NAMES = ('Jaxpr', 'JaxprEqn', 'Literal', 'Var', 'ClosedJaxpr',
               'Primitive')
_EXPERIMENTAL = 'neural_tangents.experimental'

PATCHES: list[str] = []  # what `load` provided, e.g. 'jax.core.Jaxpr'


def safe_map(f, *args) -> list:
  """map over sequences of equal length (jax.util.safe_map), as a list."""
  args = [list(a) for a in args]
  _check_lengths('safe_map', args)
  return list(map(f, *args))


def safe_zip(*args) -> list:
  """zip over sequences of equal length (jax.util.safe_zip), as a list."""
  args = [list(a) for a in args]
  _check_lengths('safe_zip', args)
  return list(zip(*args))


def _check_lengths(name: str, args: list[list]) -> None:
  lengths = {len(a) for a in args}
  if len(lengths) > 1:
    raise ValueError(f'{name}: arguments of unequal lengths {lengths}')


def _stub_experimental() -> types.ModuleType:
  """A module that explains, on use, why neural_tangents.experimental is off."""
  module = types.ModuleType(_EXPERIMENTAL)

  def __getattr__(name):
    raise ImportError(
        f'{_EXPERIMENTAL}.{name} is disabled by theory.nt_compat: it needs '
        'TensorFlow and tf2jax, which this project does not install.')

  module.__getattr__ = __getattr__
  return module


def _provide_jax_names() -> None:
  """Adds the moved names where they are missing; records each in PATCHES."""
  for name in _CORE_NAMES:
    if not hasattr(jax.core, name):
      setattr(jax.core, name, getattr(jax.extend.core, name))
      PATCHES.append(f'jax.core.{name}')
  try:
    importlib.import_module('jax.util')
  except ImportError:
    util = types.ModuleType('jax.util')
    util.safe_map, util.safe_zip = safe_map, safe_zip
    sys.modules['jax.util'] = util
    jax.util = util
    PATCHES.append('jax.util.safe_map')
    PATCHES.append('jax.util.safe_zip')
  if not hasattr(jax.interpreters.ad, 'zeros_like_p'):
    try:  # the primitive itself, where this jax still defines it
      from jax._src import ad_util  # pylint: disable=g-import-not-at-top
      primitive = ad_util.zeros_like_p
    except (ImportError, AttributeError):  # only a dict key in nt's rules
      primitive = jax.extend.core.Primitive('zeros_like')
    jax.interpreters.ad.zeros_like_p = primitive
    PATCHES.append('jax.interpreters.ad.zeros_like_p')


def _forget_neural_tangents() -> None:
  """Drops the modules a failed import left half-initialised."""
  for name in [m for m in sys.modules if m == 'neural_tangents'
               or m.startswith('neural_tangents.')]:
    del sys.modules[name]


def load() -> types.ModuleType:
  """Returns the `neural_tangents` module, shimmed only if it must be.

  Raises:
    ImportError: neural-tangents is not installed, or fails even with the
      shims.
  """
  if 'neural_tangents' in sys.modules:
    return sys.modules['neural_tangents']
  try:
    return importlib.import_module('neural_tangents')
  except ImportError as e:
    if isinstance(e, ModuleNotFoundError) and e.name == 'neural_tangents':
      raise ImportError(
          'neural-tangents is not installed: run `make install`, or pip '
          'install --no-deps -r requirements-nt.txt') from e
    _forget_neural_tangents()
  _provide_jax_names()
  if _EXPERIMENTAL not in sys.modules:
    sys.modules[_EXPERIMENTAL] = _stub_experimental()
    PATCHES.append(_EXPERIMENTAL + ' (stub)')
  return importlib.import_module('neural_tangents')
