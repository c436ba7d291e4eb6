"""Train an NB201 cell with NAS-Bench-201's recipe, to check its table entry.

  python -m freedarts_jax.train --config=configs/train_nb201.py \
      --config.genotype=CELL --config.data_dir=DATA --workdir=runs/nb201

CELL: an NB201 string (the default is NB201's best CIFAR-10 cell,
|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|
nor_conv_3x3~1|nor_conv_3x3~2| without the line break) or an NB201 search's
result.json.

NB201's network (C = 16, N = 5), 200 epochs, SGD Nesterov momentum 0.9, lr
0.1 cosine to 0, weight decay 5e-4, batch 256, random crop and flip (no
cutout, auxiliary head or drop-path). Also takes the result.json of an NB201
search. Compare result.json's final_acc with the table's cifar10_test
(NB201 trained on train only; its ori-test column).
"""

import ml_collections

from configs import train_cifar10


def get_config() -> ml_collections.ConfigDict:
  c = train_cifar10.get_config()
  c.genotype = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|'
                'skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')  # NB201 cell
  c.channels = 16  # C of stage 1
  c.cells_per_stage = 5  # N
  c.epochs = 200  # training epochs
  c.batch_size = 256  # global batch
  c.learning_rate = 0.1  # peak learning rate, cosine to 0
  c.nesterov = True  # Nesterov momentum 0.9
  c.weight_decay = 5e-4  # L2
  c.grad_clip = 0.0  # no clipping
  c.auxiliary_weight = 0.0  # no auxiliary head
  c.drop_path = 0.0  # no drop-path
  c.cutout = 0  # no cutout
  return c
