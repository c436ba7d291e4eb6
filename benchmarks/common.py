"""Shared by the benchmark scripts: the provenance header of every record."""

import datetime
import platform

from freedarts_jax import runtime


def provenance() -> dict:
  """Date, machine, devices and versions, for every recorded figure."""
  return {
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'machine': f'{platform.machine()} {platform.processor() or ""}'.strip(),
      'device': runtime.device(),
      'versions': runtime.versions(),
  }
