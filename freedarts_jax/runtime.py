"""Process set-up and provenance.

Compilation cache, versions, devices, files and run folders.
"""

from importlib import metadata
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import jax

from freedarts_jax import errors

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


# XLA options on CPU, per kind of compiled call (`compiler_options`).
# 'zeros': the search's compiled ZEROS score (scoring.compiled_score). XLA
#   CPU's FAST_COMPILE preset: the DARTS 8-cell score compiles in 37 s
#   instead of 58 and runs 102 ms a call instead of 180 (float32_scaled;
#   float64: 38 against 51 s, 137 against 238 ms), darts_imagenet's call
#   1.4 s instead of 3.3, with the same values to rounding (float64: NB201's
#   R bit for bit and its scores within 2.3e-14, DARTS's within 2.3e-15
#   relative); NB201's and MobileNet's compile and call are unchanged. The
#   snip and grasp objectives keep XLA's defaults (snip's compile and call
#   were the same with the preset; grasp's were not measured). JAX takes
#   options only on the outermost jit, so zeros.make_score_fn's own jitted
#   function keeps XLA's defaults too.
# 'weight_gradients': the data-dependent proxies and the training step. jax
#   0.10.2 hands convolutions and reductions to YNNPACK fusions by default;
#   on this project's 2-core CPU those run the cell network's convolutions
#   and kernel gradients at about half the speed of XLA's Eigen path
#   (grad_norm of an all-3x3 cell 2.7 -> 1.6 s, snip 2.9 -> 2.0 s), and they
#   nearly treble the DARTS training step's memory (1.33 -> 0.47 GB at C=16,
#   8 cells, batch 32; the full network ran out of 24 GB). The preset is not
#   set here: the proxies ran no faster with it, the training step 2.8x
#   slower (12.4 -> 35.0 s a step).
# benchmarks/RESULTS.md, issues 16 and 17.
CPU_COMPILER_OPTIONS = {
    'zeros': {'xla_cpu_opt_preset': 'CPU_OPT_PRESET_FAST_COMPILE'},
    'weight_gradients': {'xla_cpu_experimental_ynn_fusion_type': ''},
}


def compiler_options(platform: str, kind: str) -> dict[str, str] | None:
  """`jax.jit(..., compiler_options=...)` for one kind of compiled call.

  Args:
    platform: a device's platform ('cpu', 'gpu', 'tpu').
    kind: 'zeros' or 'weight_gradients' (CPU_COMPILER_OPTIONS).

  Returns:
    CPU_COMPILER_OPTIONS[kind] on 'cpu' (a copy), else None (XLA's
    defaults).

  Raises:
    KeyError: an unknown kind.
  """
  options = CPU_COMPILER_OPTIONS[kind]
  return dict(options) if platform == 'cpu' else None


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


def check_workdir(workdir, overwrite: bool = False,
                  result: str = 'result.json') -> pathlib.Path:
  """Refuses a workdir that cannot take a run's outputs; creates nothing.

  Every CLI calls this after its config check and before any compile, so a
  bad --workdir costs no work.

  Args:
    workdir: the run's output folder (need not exist yet).
    overwrite: whether a finished result (workdir/`result`) may be replaced.
    result: the file whose presence marks a finished run.

  Returns:
    workdir as a Path.

  Raises:
    errors.ConfigError: workdir exists and is not a folder; it cannot be
      created or written (an ancestor is a file, or no write permission);
      or it holds a finished result and overwrite is False.
  """
  path = pathlib.Path(workdir)
  if path.exists() and not path.is_dir():
    raise errors.ConfigError(
        f'--workdir={path} exists and is not a folder; choose another '
        '--workdir.')
  parent = path
  while not parent.exists():
    parent = parent.parent
  if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
    why = 'is not a folder' if not parent.is_dir() else 'is not writable'
    raise errors.ConfigError(
        f'--workdir={path} cannot be created or written: {parent} {why}; '
        'choose another --workdir.')
  if (path / result).exists() and not overwrite:
    raise errors.ConfigError(
        f'{path / result} exists: that run has finished. Pass --overwrite '
        'to replace it, or choose another --workdir.')
  return path


def save_json(path, obj) -> pathlib.Path:
  """Writes a computed result; if that fails, to a fallback file.

  A result is never lost to a folder that went away or filled up during the
  run: it then goes to ./NAME-YYYYmmdd-HHMMSS.json, else to the same name in
  tempfile.gettempdir(), and the path is printed to stderr.

  Args:
    path: where the result belongs, e.g. workdir/result.json.
    obj: the JSON-able result.

  Returns:
    The path written: `path`, or the fallback file.

  Raises:
    OSError: neither `path` nor a fallback file could be written.
  """
  path = pathlib.Path(path)
  try:
    write_json(path, obj)
    return path
  except OSError as e:
    error = e
  name = f'{path.stem}-{time.strftime("%Y%m%d-%H%M%S")}{path.suffix}'
  for folder in (pathlib.Path.cwd(), pathlib.Path(tempfile.gettempdir())):
    fallback = fresh_file(folder / name)
    try:
      write_json(fallback, obj)
    except OSError:
      continue
    print(f'warning: could not write {path} ({error}); the result is in '
          f'{fallback}', file=sys.stderr)
    return fallback
  raise error


def fresh_file(path: pathlib.Path) -> pathlib.Path:
  """path, or path with -1, -2, ... before its suffix where that exists."""
  out, n = path, 1
  while out.exists():
    out, n = path.with_name(f'{path.stem}-{n}{path.suffix}'), n + 1
  return out


def write_text(path: pathlib.Path, text: str) -> None:
  """Writes a file atomically: a temporary file in the same folder, renamed."""
  _write_atomic(path, 'w', text)


def write_bytes(path: pathlib.Path, data: bytes) -> None:
  """Writes a binary file atomically (see write_text)."""
  _write_atomic(path, 'wb', data)


def _write_atomic(path, mode: str, data) -> None:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
  try:
    with os.fdopen(fd, mode) as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def write_json(path: pathlib.Path, obj) -> None:
  """Writes JSON atomically (see write_text)."""
  write_text(path, json.dumps(obj, indent=2) + '\n')
