"""FreeDARTS on the 20-cell DARTS supernet (the paper's "dagger" search).

  python -m freedarts_jax.search --config=configs/darts20.py --workdir=DIR

configs/darts.py at the depth of the evaluation network: 20 cells,
reductions at cells 6 and 13.
"""

import ml_collections

from configs import darts


def get_config() -> ml_collections.ConfigDict:
  c = darts.get_config()
  c.layers = 20  # cells; reductions at 6 and 13
  # The sliced depthwise form compiles superlinearly in depth on XLA CPU
  # (31 min for 20 cells on the loaded 2-core CPU): the conv primitive.
  c.depthwise = 'conv'
  return c
