"""What every freedarts_jax CLI shares: float64, clean errors, exit status 2.

A bad value reaches the user as one line, `error: <message>`, with exit
status 2 and no traceback: config values through `validation`'s helpers
(errors.ConfigError), a misspelt field or a bad config file here.
"""

from collections.abc import Callable
import gc
import logging
import pathlib
import re
import sys
from typing import Any
from typing import NamedTuple

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from freedarts_jax import errors


def _fail(message: str):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


# absl's parser type -> what a config field of that type must be.
_KINDS = {'int': 'an integer', 'float': 'a number', 'bool': 'True or False'}


def _flag_error(e: flags.Error, flag_values: flags.FlagValues) -> str:
  """One line for a flag error; a config field's names its type."""
  found = re.match(r'flag --(config\.[\w.]+)=(.*?): ', str(e))
  if found and found.group(1) in flag_values:
    kind = _KINDS.get(flag_values[found.group(1)].flag_type())
    if kind:
      return f'{found.group(1)} must be {kind}, got {found.group(2)!r}.'
  text = re.sub(r'\s*\?$', '?', str(e).strip())  # absl: 'Did you mean: x ?'
  end = '' if text.endswith(('.', '?')) else '.'
  return f'{text}{end} Pass --helpshort to see the flags.'


def _unknown_field(error: str) -> str:
  """One line for ml_collections' error on a misspelt config field.

  It raises e.g. `'sead' Did you mean "seed" instead of "sead"?` (a close
  match) or `sead` (none).
  """
  text = error.strip('\'"').replace('\\n', ' ').replace('\\', '')
  found = re.match(r"'?([\w.]+)'?(?:\s+Did you mean \"([\w.]+)\")?", text)
  if not found:
    return f'unknown config field: {text}'
  hint = f' (did you mean {found.group(2)}?)' if found.group(2) else ''
  return (f'unknown config field {found.group(1)!r}{hint}; the config file '
          'lists the valid fields, one per line with a comment.')


def _config_errors(call, *args, known: flags.FlagValues = flags.FLAGS,
                   **kwargs):
  """Runs call; config-file and config-field errors exit 2 with one line.

  ml_collections raises AttributeError/KeyError for a misspelt --config.field
  and OSError or SyntaxError for a bad --config file, some while the flag is
  defined (it reads sys.argv then), some while flags are parsed. `known`:
  the flags a flag error is looked up in.
  """
  try:
    return call(*args, **kwargs)
  except flags.Error as e:
    _fail(_flag_error(e, known))
  except (AttributeError, KeyError) as e:
    _fail(_unknown_field(str(e)))
  except (OSError, SyntaxError, TypeError, ValueError) as e:
    _fail(f'could not load the config: {e}')


def define_config(default: str, flag_values: flags.FlagValues = flags.FLAGS,
                  argv: list[str] | None = None):
  """DEFINE_config_file('config', default), locked: a typo is an error.

  Args:
    default: the config file used without --config.
    flag_values: where the flag is defined (absl's global FLAGS).
    argv: the command line whose --config.field overrides are defined
      (None: sys.argv, read when the flags are parsed).

  Returns:
    The flag; `config_value` gives its config.
  """
  return _config_errors(config_flags.DEFINE_config_file, 'config', default,
                        'Config file (a module with get_config()).',
                        flag_values=flag_values, lock_config=True,
                        sys_argv=argv)


def config_value(flag):
  """The parsed config; a config file that failed to load exits 2."""

  def load():
    value = flag.value
    value.keys()  # a config that failed to load raises on first use
    return value

  return _config_errors(load)


CONFIGS = pathlib.Path(__file__).resolve().parents[1] / 'configs'


class RunFlags(NamedTuple):
  """The flags every CLI has: --config, --workdir and --overwrite."""

  config: Any  # the --config flag (`config_value` gives its config)
  workdir: flags.FlagHolder
  overwrite: flags.FlagHolder

  def parsed_config(self, argv: list[str]):
    """The config; positional arguments (argv[1:]) are a usage error."""
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    return config_value(self.config)


def define_run_flags(config_file: str, workdir_help: str,
                     overwrite_help: str,
                     workdir_required: bool = True) -> RunFlags:
  """Defines --config (default configs/<config_file>), --workdir, --overwrite.

  Args:
    config_file: the default config's file name in the repository's
      configs/ folder.
    workdir_help: --workdir's help text.
    overwrite_help: --overwrite's help text.
    workdir_required: whether --workdir must be given.

  Returns:
    The three flags, in absl's global FLAGS.
  """
  return RunFlags(
      define_config(str(CONFIGS / config_file)),
      flags.DEFINE_string('workdir', None, workdir_help,
                          required=workdir_required),
      flags.DEFINE_bool('overwrite', False, overwrite_help))


def parse_flags(argv: list[str],
                flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
  """absl flag parsing with the errors above."""
  return _config_errors(flag_values, argv, known=flag_values)


def guard(call: Callable, *args, **kwargs):
  """call(*args, **kwargs); a FreeDartsError exits 2 with one line."""
  try:
    return call(*args, **kwargs)
  except errors.FreeDartsError as e:
    _fail(str(e))


def run(main: Callable[[list[str]], None]) -> None:
  """app.run(main) with float64 on, where a FreeDartsError exits 2.

  A CLI is a process of its own, so it turns on `jax_enable_x64` for all of
  it (importing the package does not).
  """
  jax.config.update('jax_enable_x64', True)
  # JAX logs at INFO that it found no TPU: not news on CPU or GPU, and a
  # line before every error message.
  logging.getLogger('jax._src.xla_bridge').setLevel(logging.WARNING)

  app.run(lambda argv: _then_freeze(guard(main, argv)),
          flags_parser=parse_flags)


def _then_freeze(status):
  """status, with every object moved out of the garbage collector's reach.

  At exit Python's finalisation runs the collector over every object JAX
  made (traced jaxprs, lowered modules), then frees them one by one: 0.4-0.5 s
  of a 4.5 s warm `make search` (perf: `gc_collect_main`, executables'
  destructors). Frozen objects are not collected; the OS reclaims the memory.
  Files and checkpoints are closed by the commands themselves before this.
  """
  gc.freeze()
  return status
