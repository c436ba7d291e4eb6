"""FreeDARTS on the MobileNet (ProxylessNAS) space, ImageNet shape.

  python -m freedarts_jax.search --config=configs/mobilenet.py --workdir=DIR

Scores the 21 searchable blocks (MBConv 3x3/5x5/7x7, expansion 3/6) with
ZEROS on one all-ones 224px image, takes the best candidate per block
(one-shot, as the release) and writes the blocks with the parameter count and
FLOPs (multiply-adds) of the found ImageNet network.

The release's variant scores ZEROS on a batch of ImageNet images and
multiplies R by ProxylessNAS's 'mul#log' FLOPs penalty, 0.2 * (log F /
log 475e6) ** 0.3, F the alpha-weighted expected FLOPs of the mixed network
(freedarts_jax/penalties.py), before the gradient:

  python -m freedarts_jax.search --config=configs/mobilenet.py --workdir=DIR \
      --config.zeros_input=data --config.flops_penalty=mul#log

(data=tfds needs imagenet2012 prepared; data=synthetic runs on random images
and says the result is not meaningful). result.json then also holds
penalty: F, the factor and the penalty's share of the scores. On CPU
batch_size=8 peaks at 6.8 GiB and each image adds about 0.65 GiB: the
release's 64 need about 43 GiB.
"""

import ml_collections
from ml_collections import config_dict


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
  c.zeros_input = 'ones'  # zeros on: ones (one all-ones image) | data (batch)
  c.flops_penalty = 'none'  # none | mul#log (release: R * FLOPs penalty)
  c.data = 'tfds'  # the batch: tfds (prepared) | synthetic (tests)
  c.data_dir = ''  # tfds data_dir; '' is tfds's default (~/tensorflow_datasets)
  c.batch_size = 64  # images in the batch (snip, grasp, zeros_input=data)
  c.image_size = 224  # input height and width of the scored supernet
  c.width_mult = 1.0  # multiplies every width (tests: a narrow supernet)
  c.num_seeds = 1  # K > 1: seeds seed..seed+K-1 scored together, consensus
  c.ensemble_batch = 0  # seeds vmapped at once; 0: all on GPU/TPU, 1 on CPU
  c.budget_metric = 'none'  # none | params | flops: bound the found network
  c.budget = config_dict.placeholder(float)  # its params or multiply-adds
  return c
