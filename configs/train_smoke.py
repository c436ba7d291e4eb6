"""A training smoke run: DARTS-V2, tiny network, synthetic data, a few steps.

  python -m freedarts_jax.train --config=configs/train_smoke.py \
      --workdir=/tmp/train-smoke

Two epochs of 3 steps (batch 8, 32 px random images, C = 4, 3 cells with the
auxiliary head and drop-path), each evaluated and checkpointed, then
result.json. Under a minute on 2 CPU cores; accuracy is chance (random
labels). The tests run it.
"""

import ml_collections

from configs import train_cifar10


def get_config() -> ml_collections.ConfigDict:
  c = train_cifar10.get_config()
  c.dataset = 'synthetic'  # random images and labels, no download
  c.image_size = 32  # the auxiliary head needs 32 px (8 px after 2 reductions)
  c.synthetic_examples = 24  # 3 steps of 8; 6 test images
  c.channels = 4  # C
  c.layers = 3  # reductions at cells 1 and 2, auxiliary head after cell 2
  c.epochs = 2  # epochs
  c.batch_size = 8  # global batch
  c.eval_batch_size = 8  # test batch
  c.log_every = 1  # update the bar every step
  return c
