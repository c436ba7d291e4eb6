"""FreeDARTS on the MobileNet (ProxylessNAS) space, ImageNet shape.

  python -m freedarts_jax.search --config=configs/mobilenet.py --workdir=DIR

Scores the 21 searchable blocks (MBConv 3x3/5x5/7x7, expansion 3/6) with
ZEROS on one all-ones 224px image, takes the best candidate per block
(one-shot, as the release) and writes the blocks with the parameter count and
FLOPs (multiply-adds) of the found ImageNet network. The release's variant
scores on a real batch (objective=snip); its FLOPs penalty is not
implemented.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.space = 'mobilenet'  # search space: nb201 | darts | mobilenet
  c.dataset = 'imagenet'  # imagenet: 1000 classes
  c.seed = 0  # PRNG seed of the weights and alpha
  c.dtype = 'auto'  # auto | float32 | float64 (no float32_scaled here)
  c.bn_mode = 'train'  # train (released) | eval | none (BatchNorm removed)
  c.alpha_init = 'normal'  # normal: |alpha_scale * N(0, 1)|; ones: alpha = 1
  c.alpha_scale = 1e-3  # scale of the normal alpha draw
  c.schedule = 'oneshot'  # oneshot (argmax per block) | iterative_edge | ...
  c.objective = 'zeros'  # zeros (no data) | snip | grasp (labelled batch)
  c.data = 'tfds'  # snip/grasp batch: tfds (prepared) | synthetic (tests)
  c.data_dir = ''  # tfds data_dir; '' is tfds's default (~/tensorflow_datasets)
  c.batch_size = 64  # images in the snip/grasp batch
  c.image_size = 224  # input height and width of the scored supernet
  c.width_mult = 1.0  # multiplies every width (tests: a narrow supernet)
  c.num_seeds = 1  # K > 1: seeds seed..seed+K-1 scored together, consensus
  c.ensemble_batch = 0  # seeds vmapped at once; 0: all on GPU/TPU, 1 on CPU
  return c
