"""FreeDARTS on the MobileNet (ProxylessNAS) space, ImageNet shape.

  python -m freedarts_jax.search --config=configs/mobilenet.py --workdir=DIR

Scores the 21 searchable blocks (MBConv 3x3/5x5/7x7, expansion 3/6) with
ZEROS on one all-ones 224px image, takes the best candidate per block
(one-shot, as the release) and writes the blocks with the parameter count and
FLOPs (multiply-adds) of the found ImageNet network.

The release's variant scores ZEROS on a batch of ImageNet images and
multiplies R by ProxylessNAS's 'mul#log' FLOPs penalty, 0.2 * (log F /
log 475e6) ** 0.3, F the alpha-weighted expected FLOPs of the mixed network
(freedarts_jax/search/penalties.py), before the gradient:

  python -m freedarts_jax.search --config=configs/mobilenet.py --workdir=DIR \
      --config.zeros_input=data --config.flops_penalty=mul#log

(data=tfds needs imagenet2012 prepared; data=synthetic runs on random images
and says the result is not meaningful). result.json then also holds
penalty: F, the factor and the penalty's share of the scores. On CPU
batch_size=8 peaks at 6.8 GiB and each image adds about 0.65 GiB: the
release's 64 need about 43 GiB.
"""

import ml_collections

from configs import search_common


def get_config() -> ml_collections.ConfigDict:
  c = search_common.base('mobilenet', 'imagenet')
  c.schedule = 'oneshot'  # oneshot (argmax per block) | iterative_edge | ...
  c.image_size = 224  # input height and width of the scored supernet
  c.width_mult = 1.0  # multiplies every width (tests: a narrow supernet)
  return c
