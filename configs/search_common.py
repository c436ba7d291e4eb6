"""The fields every search config shares (not a config on its own).

configs/nb201.py, darts.py and mobilenet.py start from `base(space,
dataset)` and set or override their own fields, each with its comment.
docs/guide/search.md documents every field.
"""

import ml_collections
from ml_collections import config_dict


def base(space: str, dataset: str) -> ml_collections.ConfigDict:
  """The shared search fields with their defaults, for one space and set."""
  c = ml_collections.ConfigDict()
  c.space = space  # search space: nb201 | darts | mobilenet
  # Classes and input size. nb201: cifar10 | cifar100 | imagenet16; darts:
  # cifar10 | cifar100 (32 px) | imagenet (224 px); mobilenet: imagenet.
  c.dataset = dataset
  c.seed = 0  # PRNG seed of the weights and alpha
  # auto | float32 | float32_scaled (not mobilenet) | float64; the search
  # guide (docs/guide/search.md) says which to use where.
  c.dtype = 'auto'
  c.bn_mode = 'train'  # train (released) | eval | none (BatchNorm removed)
  c.alpha_init = 'normal'  # normal: |alpha_scale * N(0, 1)|; ones: alpha = 1
  c.alpha_scale = 1e-3  # scale of the normal alpha draw
  c.schedule = 'iterative_edge'  # oneshot | iterative_edge | iterative_global
  c.objective = 'zeros'  # op level: zeros (no data) | snip | grasp (labelled)
  c.zeros_input = 'ones'  # zeros on: ones (one all-ones image) | data (batch)
  c.flops_penalty = 'none'  # none | mul#log (mobilenet only: R * FLOPs factor)
  c.data = 'tfds'  # the batch: tfds (prepared) | synthetic (tests)
  c.data_dir = ''  # tfds data_dir; '' is tfds's default (~/tensorflow_datasets)
  c.batch_size = 64  # images in the batch (snip, grasp, zeros_input=data)
  c.num_seeds = 1  # K > 1: seeds seed..seed+K-1 scored together, consensus
  c.ensemble_batch = 0  # seeds vmapped at once; 0: all on GPU/TPU, 1 on CPU
  c.budget_metric = 'none'  # none | params | flops: bound the found network
  c.budget = config_dict.placeholder(float)  # its params or multiply-adds
  return c
