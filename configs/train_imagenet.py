"""Retrain a DARTS genotype on ImageNet, mobile setting (DARTS's recipe).

  python -m freedarts_jax.train --config=configs/train_imagenet.py \
      --config.genotype=PATH_TO_result.json --config.data_dir=DATA \
      --workdir=runs/train-imagenet

14 cells, C = 48, two stride-2 stems, auxiliary head 0.4, 224 px random-
resized crops with flip and colour jitter; SGD momentum 0.9, batch 384, lr
0.3 decayed linearly to 0 (or --config.lr_schedule=step: x0.97 per epoch, as
DARTS with batch 128 and lr 0.1), weight decay 3e-5, label smoothing 0.1,
gradient clip 5, 250 epochs. DARTS-V2: 4.7 M parameters, about 73.3 %
top-1. DATA must hold imagenet2012 prepared as array_record: put
ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in DATA/downloads/manual
and run `tfds build imagenet2012 --data_dir=DATA --file_format=array_record`
on a machine with TensorFlow. Use --config.dtype=bfloat16 on GPUs.
"""

import ml_collections

from configs import train_cifar10


def get_config() -> ml_collections.ConfigDict:
  c = train_cifar10.get_config()
  c.dataset = 'imagenet2012'  # 1000 classes
  c.image_size = 224  # training crops and evaluation centre crops
  c.channels = 48  # C of the first cells
  c.layers = 14  # reductions at cells 4 and 9
  c.epochs = 250  # training epochs
  c.batch_size = 384  # global batch (DARTS: 320-384)
  c.eval_batch_size = 256  # test batch
  c.learning_rate = 0.3  # peak learning rate
  c.lr_schedule = 'linear'  # linear to 0 | step: x lr_decay_rate per epoch
  c.lr_decay_rate = 0.97  # step schedule: DARTS's StepLR gamma
  c.lr_decay_epochs = 1  # step schedule: DARTS's StepLR step size
  c.weight_decay = 3e-5  # L2
  c.label_smoothing = 0.1  # label smoothing
  c.drop_path = 0.0  # DARTS trains its ImageNet network without drop-path
  c.cutout = 0  # no cutout on ImageNet
  c.log_every = 100  # steps between progress-bar updates
  return c
