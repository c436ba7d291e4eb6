"""Shared test helpers: tiny configs (C=4, one cell per stage)."""

import ml_collections
import pytest

import freedarts_jax  # noqa: F401  (turns on float64 before any array exists)
from configs import nb201 as nb201_config


def tiny_config(**overrides) -> ml_collections.ConfigDict:
  config = nb201_config.get_config()
  config.channels = 4
  config.cells_per_stage = 1
  config.update(overrides)
  return config


@pytest.fixture
def tiny():
  return tiny_config
