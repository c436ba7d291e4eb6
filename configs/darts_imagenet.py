"""FreeDARTS on the ImageNet DARTS supernet (the paper's "double dagger").

  python -m freedarts_jax.search --config=configs/darts_imagenet.py \
      --workdir=DIR

configs/darts.py with C = 48, 14 cells (reductions at 4 and 9), the ImageNet
stem (three stride-2 convs) and one all-ones 224 x 224 image, 1000 classes.
"""

import ml_collections

from configs import darts


def get_config() -> ml_collections.ConfigDict:
  c = darts.get_config()
  c.dataset = 'imagenet'  # 224px, 1000 classes
  c.channels = 48  # C of the first cells
  c.layers = 14  # cells; reductions at 4 and 9
  c.stem = 'imagenet'  # stem0 (two stride-2 convs) and stem1 (one)
  c.alpha_scale = 5e-4  # the release's alpha init for this supernet
  # The sliced depthwise form compiles superlinearly in depth on XLA CPU
  # (31 min for 20 cells on the loaded 2-core CPU): the conv primitive.
  c.depthwise = 'conv'
  return c
