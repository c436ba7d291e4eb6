"""Compiled calls kept on disk as `jax.export` files: a repeat skips tracing.

JAX's persistent compilation cache (`runtime.enable_compilation_cache`) keeps
XLA's executables, but every run still traces the Python function and lowers
it before the cache is asked: for the NB201 supernet's score that was 6-10 s
of a warm `make search` against well under a second of XLA
(benchmarks/RESULTS.md, issue 17). `compile` keeps the lowered function
(`jax.export`'s serialised StableHLO) in the compilation cache's folder,
under a digest of everything that shapes it: the caller's key (the model and
the static arguments), the arguments' tree, shapes and dtypes, the x64 flag,
the backend and device kind, the versions of Python, jax, jaxlib and flax, and
this package's source. A run that finds the file deserialises it instead of
tracing; a file that cannot be read is replaced, never trusted, and a call
that cannot be exported is compiled directly.

The call is compiled from the exported module on the first run as well as on
later ones, so a search computes the same numbers whether or not the file was
there (tests/exported_test.py).
"""

from collections.abc import Callable
import functools
import hashlib
import pathlib

from absl import logging
import jax

from freedarts_jax import runtime

SUFFIX = '.jax_exported'


def folder() -> pathlib.Path | None:
  """`exported/` in the persistent compilation cache's folder, or None.

  None while the compilation cache is off (a library call, the tests): the
  CLIs turn it on (`runtime.enable_compilation_cache`), and with it this.
  """
  cache = jax.config.jax_compilation_cache_dir
  return pathlib.Path(cache) / 'exported' if cache else None


def compile(fn: Callable, args: tuple, key: str,
            where: pathlib.Path | None = None,
            compiler_options: dict[str, str] | None = None
            ) -> jax.stages.Compiled:
  """`jax.jit(fn, compiler_options=...).lower(*args).compile()`, traced once.

  Args:
    fn: a pure function of `args`; every static value it closes over (the
      model, its options, constants) must be named by `key`.
    args: example arguments (arrays or `jax.ShapeDtypeStruct`s).
    key: text that tells apart every `fn` that may share `args`' shapes,
      e.g. the module path and repr of the model and the static options. A
      key that misses something `fn` depends on would load the wrong call.
    where: the folder of the exported files; default `folder()`. None there
      too compiles `fn` directly and keeps nothing.
    compiler_options: XLA's options for the compile
      (`runtime.compiler_options`); not part of the exported file, which is
      the traced function before XLA.

  Returns:
    The compiled call, taking arrays shaped as `args`.
  """
  where = folder() if where is None else where
  if where is None:
    return compile_directly(fn, args, compiler_options)
  path = where / f'{digest(key, args)}{SUFFIX}'
  exp = _load(path)
  if exp is None:
    try:
      exp = jax.export.export(jax.jit(fn))(*args)
    except Exception as e:  # pylint: disable=broad-except
      # What jax.export cannot serialise (a host callback, say) is compiled
      # as it always was: the files are a cache, never a condition.
      logging.warning('could not export the call (%s: %s): compiling it '
                      'without keeping it', type(e).__name__, e)
      return compile_directly(fn, args, compiler_options)
    _save(path, exp)
  else:
    logging.info('loaded the traced call from %s', path)
  return compile_directly(exp.call, args, compiler_options)


def compile_directly(fn: Callable, args: tuple,
                     compiler_options: dict[str, str] | None = None
                     ) -> jax.stages.Compiled:
  """`jax.jit(fn, compiler_options=...).lower(*args).compile()`.

  Keeps nothing: for a function that closes over values no key can name.
  """
  return jax.jit(fn, compiler_options=compiler_options).lower(*args).compile()


def digest(key: str, args) -> str:
  """sha256 (hex) of the key, `args`' spec, the platform and the source."""
  leaves, tree = jax.tree.flatten(args)
  device = jax.devices()[0]
  parts = [key, str(tree),
           ';'.join(f'{x.shape}{x.dtype}' for x in leaves),
           f'x64={jax.config.jax_enable_x64}', device.platform,
           device.device_kind, repr(sorted(runtime.versions().items())),
           _source_digest()]
  h = hashlib.sha256()
  for part in parts:
    h.update(part.encode() + b'\0')
  return h.hexdigest()


@functools.cache
def _source_digest() -> str:
  """sha256 over this package's Python files (a code change is a new key)."""
  root = pathlib.Path(__file__).parent
  h = hashlib.sha256()
  for path in sorted(root.rglob('*.py')):
    h.update(str(path.relative_to(root)).encode() + b'\0')
    h.update(path.read_bytes() + b'\0')
  return h.hexdigest()


def _load(path: pathlib.Path) -> jax.export.Exported | None:
  """The exported call in `path`; None where it is missing or unreadable."""
  try:
    data = path.read_bytes()
  except FileNotFoundError:
    return None
  except OSError as e:
    logging.warning('could not read %s (%s): tracing again', path, e)
    return None
  try:
    return jax.export.deserialize(bytearray(data))
  except Exception as e:  # pylint: disable=broad-except
    # A truncated or foreign file: flatbuffers and jax raise various types.
    logging.warning('could not deserialise %s (%s: %s): tracing again', path,
                    type(e).__name__, e)
    return None


def _save(path: pathlib.Path, exp: jax.export.Exported) -> None:
  """Writes `exp` atomically; a folder that cannot be written is skipped."""
  try:
    runtime.write_bytes(path, exp.serialize())
  except (OSError, ImportError) as e:  # ImportError: no flatbuffers
    logging.warning('could not keep the traced call in %s: %s', path, e)
