"""FreeDARTS on the DARTS CNN space: the 8-cell CIFAR supernet (C = 16).

  python -m freedarts_jax.search --config=configs/darts.py --workdir=runs/darts

Scores the supernet with ZEROS (BatchNorm in eval mode; dtype auto: the
overflow-safe float32_scaled path, float64 if a guard trips), prunes the
weakest op per edge until one is left, applies the DARTS rule (two edges per
node) and writes result.json (genotype as JSON and as DARTS text, the size of
its CIFAR evaluation network next to DARTS-V2's) with normal.png and
reduce.png. bn_mode=train (the release) is refused: there dR/dalpha is
exactly zero (checks.py says why).
"""

import ml_collections

from configs import search_common


def get_config() -> ml_collections.ConfigDict:
  c = search_common.base('darts', 'cifar10')
  c.bn_mode = 'eval'  # eval | none (BatchNorm removed) | train (refused)
  c.channels = 16  # C of the first cells (doubles at each reduction); even
  c.layers = 8  # cells; reductions at layers // 3 and 2 * layers // 3
  c.stem = 'cifar'  # cifar: Conv3x3 + BN | imagenet: three stride-2 convs
  # Depthwise convs: auto (shift on CPU: faster, slower to compile; conv on
  # GPU/TPU) | shift | conv. See layers.depthwise_conv.
  c.depthwise = 'auto'
  return c
