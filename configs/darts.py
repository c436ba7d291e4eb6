"""FreeDARTS on the DARTS CNN space: the 8-cell CIFAR supernet (C = 16).

  python -m freedarts_jax.search --config=configs/darts.py --workdir=runs/darts

Scores the supernet with ZEROS (BatchNorm in eval mode; dtype auto: the
overflow-safe float32_scaled path, float64 if a guard trips), prunes the
weakest op per edge until one is left, applies the DARTS rule (two edges per
node) and writes result.json (genotype as JSON and as DARTS text, the size of
its CIFAR evaluation network next to DARTS-V2's) with normal.png and
reduce.png. bn_mode=train (the release) is refused: its scores are noise.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.space = 'darts'  # search space: nb201 | darts
  c.dataset = 'cifar10'  # cifar10 | cifar100 (32px) | imagenet (224px)
  c.seed = 0  # PRNG seed of the weights and alpha
  c.dtype = 'auto'  # auto|float32|float32_scaled|float64: docs/guide/search.md
  c.bn_mode = 'eval'  # eval | none (BatchNorm removed) | train (refused)
  c.alpha_init = 'normal'  # normal: |alpha_scale * N(0, 1)|; ones: alpha = 1
  c.alpha_scale = 1e-3  # scale of the normal alpha draw
  c.schedule = 'iterative_edge'  # oneshot | iterative_edge | iterative_global
  c.objective = 'zeros'  # zeros (no data) | snip | grasp (labelled batch)
  c.zeros_input = 'ones'  # zeros on: ones (one all-ones image) | data (batch)
  c.flops_penalty = 'none'  # none (mul#log: mobilenet space only)
  c.data = 'tfds'  # the batch: tfds (prepared) | synthetic (tests)
  c.data_dir = ''  # tfds data_dir; '' is tfds's default (~/tensorflow_datasets)
  c.batch_size = 64  # images in the batch (snip, grasp, zeros_input=data)
  c.channels = 16  # C of the first cells (doubles at each reduction); even
  c.layers = 8  # cells; reductions at layers // 3 and 2 * layers // 3
  c.stem = 'cifar'  # cifar: Conv3x3 + BN | imagenet: three stride-2 convs
  # Depthwise convs: auto (shift on CPU: faster, slower to compile; conv on
  # GPU/TPU) | shift | conv. See layers.depthwise_conv.
  c.depthwise = 'auto'
  c.num_seeds = 1  # K > 1: seeds seed..seed+K-1 scored together, consensus
  c.ensemble_batch = 0  # seeds vmapped at once; 0: all on GPU/TPU, 1 on CPU
  c.budget_metric = 'none'  # none | params | flops: bound the found network
  c.budget = config_dict.placeholder(float)  # its params or multiply-adds
  return c
