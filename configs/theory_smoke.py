"""A seconds-sized run of every theory experiment, for the tests.

python -m theory.verify_ntk --config=configs/theory_smoke.py --workdir=DIR
"""

import ml_collections

from configs import theory_nb201


def get_config() -> ml_collections.ConfigDict:
  c = theory_nb201.get_config()
  c.channels = 4
  c.bn_mode = 'none'  # the full config uses eval: the tests cover both
  c.image_size = 4
  c.n = 4
  c.block = 2  # exercises the blocked Gram matrix
  c.op_seeds = 1
  c.arch_k = 6
  c.arch_seeds = 1
  c.stax_n = 4
  c.stax_seeds = 1
  c.stax_zeros_seeds = 1
  c.bootstrap = 50
  return c
