"""FreeDARTS on NAS-Bench-201, as released (the default of `make search`).

  python -m freedarts_jax.search --config=configs/nb201.py --workdir=runs/nb201

Scores the NB201 supernet with ZEROS (float32, float64 if a guard trips),
prunes the weakest op per edge until one is left, and prints the cell with its
NB201 accuracies; seed 0 on CIFAR-10 gives an all-convolution cell.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.space = 'nb201'  # search space: nb201
  c.dataset = 'cifar10'  # cifar10 | cifar100 | imagenet16: classes, input size
  c.seed = 0  # PRNG seed of the weights and alpha
  c.dtype = 'auto'  # auto|float32|float32_scaled|float64: docs/guide/search.md
  c.bn_mode = 'train'  # train (released) | eval | none (BatchNorm removed)
  c.alpha_init = 'normal'  # normal: |alpha_scale * N(0, 1)|; ones: alpha = 1
  c.alpha_scale = 1e-3  # scale of the normal alpha draw
  c.schedule = 'iterative_edge'  # oneshot | iterative_edge | iterative_global
  c.objective = 'zeros'  # zeros (no data) | snip | grasp (labelled batch)
  c.zeros_input = 'ones'  # zeros on: ones (one all-ones image) | data (batch)
  c.flops_penalty = 'none'  # none (mul#log: mobilenet space only)
  c.data = 'tfds'  # the batch: tfds (prepared) | synthetic (tests)
  c.data_dir = ''  # tfds data_dir; '' is tfds's default (~/tensorflow_datasets)
  c.batch_size = 64  # images in the batch (snip, grasp, zeros_input=data)
  c.channels = 16  # C of the first stage (NB201: 16)
  c.cells_per_stage = 5  # N, cells per stage (NB201: 5)
  c.num_seeds = 1  # K > 1: seeds seed..seed+K-1 scored together, consensus
  c.ensemble_batch = 0  # seeds vmapped at once; 0: all on GPU/TPU, 1 on CPU
  c.budget_metric = 'none'  # none | params | flops: bound the found network
  c.budget = config_dict.placeholder(float)  # its params or multiply-adds
  return c
