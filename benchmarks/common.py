"""Shared by the benchmark scripts: provenance and the configs they time."""

import datetime
import importlib
import os
import pathlib
import platform
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
from freedarts_jax import errors
from freedarts_jax import runtime

# Toy sizes of each search config, for --tiny / --small runs (seconds to
# compile on a 2-core CPU): what the tests and gpu_check.sh --small use.
TINY = {
    'nb201': {'channels': 4, 'cells_per_stage': 1},
    'darts': {'channels': 4, 'layers': 3},
    'darts20': {'channels': 4, 'layers': 3},
    'darts_imagenet': {'channels': 4, 'layers': 3},
    'mobilenet': {'width_mult': 0.25, 'image_size': 32},
}


def provenance() -> dict:
  """Date, machine, devices, versions and XLA flags, for every figure."""
  return {
      'date': datetime.datetime.now(datetime.UTC).isoformat(
          timespec='seconds'),
      'machine': f'{platform.machine()} {platform.processor() or ""}'.strip(),
      'device': runtime.device(),
      'versions': runtime.versions(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }


def _typed(old, text: str):
  if isinstance(old, bool):
    return text.lower() in ('1', 'true', 'yes')
  return type(old)(text)


def load_config(name: str, tiny: bool = False, overrides=()):
  """configs/<name>.py's config, at TINY sizes if asked, then overrides.

  Args:
    name: a module of configs/ (nb201, darts, darts20, ...).
    tiny: apply TINY[name] (nb201's for configs without an entry).
    overrides: 'field=value' strings, each converted to the field's type.

  Returns:
    The ml_collections.ConfigDict.

  Raises:
    errors.ConfigError: an unknown config or field, or a malformed override.
  """
  try:
    module = importlib.import_module(f'configs.{name}')
  except ModuleNotFoundError as e:
    raise errors.ConfigError(f'no config configs/{name}.py') from e
  config = module.get_config()
  items = list(TINY.get(name, TINY['nb201']).items()) if tiny else []
  for text in overrides:
    key, sep, value = text.partition('=')
    if not sep or key not in config:
      raise errors.ConfigError(
          f'bad override {text!r}: expected field=value with field one of '
          f'{", ".join(sorted(config.keys()))}.')
    items.append((key, _typed(config[key], value)))
  for key, value in items:
    config[key] = value
  return config
