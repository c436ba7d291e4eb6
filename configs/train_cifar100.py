"""Retrain a DARTS genotype on CIFAR-100 with DARTS's CIFAR recipe.

  python -m freedarts_jax.train --config=configs/train_cifar100.py \
      --config.genotype=PATH_TO_result.json --config.data_dir=DATA \
      --workdir=runs/train-cifar100

configs/train_cifar10.py with cifar100 (100 classes); DARTS-V2 reaches about
82-83 % test accuracy in the literature.
"""

import ml_collections

from configs import train_cifar10


def get_config() -> ml_collections.ConfigDict:
  c = train_cifar10.get_config()
  c.dataset = 'cifar100'  # 100 classes, 32 px
  return c
