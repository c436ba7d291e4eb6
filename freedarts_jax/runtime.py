"""Process set-up and provenance.

Compilation cache, versions, devices, files and run folders.
"""

from importlib import metadata
import json
import os
import pathlib
import platform
import tempfile
import time

import jax

_PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'numpy', 'ml_collections')


def cache_dir() -> pathlib.Path:
  """Where JAX's persistent compilation cache lives.

  $FREEDARTS_CACHE_DIR if set, else $XDG_CACHE_HOME/freedarts_jax/jax, else
  ~/.cache/freedarts_jax/jax. Delete the folder to clear the cache.
  """
  if os.environ.get('FREEDARTS_CACHE_DIR'):
    return pathlib.Path(os.environ['FREEDARTS_CACHE_DIR'])
  base = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return pathlib.Path(base) / 'freedarts_jax' / 'jax'


def enable_compilation_cache() -> pathlib.Path:
  """Turns on JAX's persistent compilation cache (a repeat run skips XLA)."""
  path = cache_dir()
  path.mkdir(parents=True, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', str(path))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  return path


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
  """Versions of Python, freedarts_jax, its main dependencies and `extra`."""
  out = {'python': platform.python_version()}
  for name in ('freedarts_jax',) + _PACKAGES + tuple(extra):
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      out[name] = 'not installed'
  return out


def device() -> dict[str, object]:
  """The default backend and its devices."""
  devices = jax.devices()
  return {'backend': jax.default_backend(), 'count': len(devices),
          'kind': devices[0].device_kind, 'host': platform.node(),
          'cpu_count': os.cpu_count()}


def fresh_workdir(root, name: str) -> pathlib.Path:
  """A run folder under root that does not exist yet (nothing is created).

  Args:
    root: the parent folder, e.g. runs/.
    name: what the run is, e.g. 'nb201-cifar10-seed0'.

  Returns:
    root/NAME-YYYYmmdd-HHMMSS (local time), with -1, -2, ... appended when
    that exists already, so a new run never meets an old run's files.
  """
  base = pathlib.Path(root) / f'{name}-{time.strftime("%Y%m%d-%H%M%S")}'
  path, n = base, 1
  while path.exists():
    path, n = base.with_name(f'{base.name}-{n}'), n + 1
  return path


def result_path(workdir) -> pathlib.Path:
  """Where a run writes its result.json: workdir/result.json."""
  return pathlib.Path(workdir) / 'result.json'


def write_text(path: pathlib.Path, text: str) -> None:
  """Writes a file atomically: a temporary file in the same folder, renamed."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def write_json(path: pathlib.Path, obj) -> None:
  """Writes JSON atomically (see write_text)."""
  write_text(path, json.dumps(obj, indent=2) + '\n')
