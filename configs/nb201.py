"""FreeDARTS on NAS-Bench-201, as released (the default of `make search`).

  python -m freedarts_jax.search --config=configs/nb201.py --workdir=runs/nb201

Scores the NB201 supernet with ZEROS (float32, float64 if a guard trips),
prunes the weakest op per edge until one is left, and prints the cell with its
NB201 accuracies; seed 0 on CIFAR-10 gives an all-convolution cell.
"""

import ml_collections

from configs import search_common


def get_config() -> ml_collections.ConfigDict:
  c = search_common.base('nb201', 'cifar10')
  c.channels = 16  # C of the first stage (NB201: 16)
  c.cells_per_stage = 5  # N, cells per stage (NB201: 5)
  return c
