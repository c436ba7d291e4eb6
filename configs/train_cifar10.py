"""Retrain a DARTS genotype on CIFAR-10 with DARTS's recipe (600 epochs).

  python -m freedarts_jax.train --config=configs/train_cifar10.py \
      --config.genotype=runs/darts/result.json --config.data_dir=DATA \
      --workdir=runs/train-cifar10

The evaluation network (20 cells, C = 36, auxiliary head 0.4, drop-path 0.2,
cutout 16), SGD momentum 0.9, lr 0.025 cosine to 0, weight decay 3e-4,
gradient clip 5, batch 96. DARTS-V2 reaches about 97.2 % test accuracy with
3.3 M parameters. DATA must hold cifar10 prepared as array_record
(`tfds build cifar10 --data_dir=DATA --file_format=array_record`, on a machine
with TensorFlow). Writes checkpoints/, metrics.jsonl and result.json.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.genotype = 'DARTS_V2'  # result.json path | DARTS_V2 | NB201 string | text
  c.dataset = 'cifar10'  # cifar10 | cifar100 | imagenet2012 | synthetic
  c.data_dir = ''  # tfds data folder ('': $TFDS_DATA_DIR or tfds's default)
  c.seed = 0  # PRNG seed: weights, data order, augmentation, drop-path
  c.channels = 36  # C of the first cells (DARTS); NB201: C of stage 1
  c.layers = 20  # DARTS cells; reductions at layers // 3, 2 * layers // 3
  c.cells_per_stage = 5  # NB201 networks only: N cells per stage
  c.image_size = 32  # synthetic and imagenet2012 only (CIFAR is 32)
  c.synthetic_examples = 1024  # dataset=synthetic: training images (test /4)
  c.epochs = 600  # training epochs
  c.steps_per_epoch = 0  # 0: the whole training split; > 0: at most this
  c.batch_size = 96  # global batch, split over the devices
  c.eval_batch_size = 500  # test batch (the last one is padded)
  c.learning_rate = 0.025  # peak SGD learning rate
  c.lr_schedule = 'cosine'  # cosine | linear | step (per epoch)
  c.lr_min = 0.0  # floor of cosine and linear
  c.lr_decay_rate = 0.97  # step schedule: factor every lr_decay_epochs
  c.lr_decay_epochs = 1  # step schedule: epochs between decays
  c.warmup_epochs = 0  # linear warm-up epochs (0: none)
  c.momentum = 0.9  # SGD momentum (0: none)
  c.nesterov = False  # Nesterov momentum
  c.weight_decay = 3e-4  # L2 added to the gradient (every parameter)
  c.grad_clip = 5.0  # global gradient-norm clip (0: none)
  c.label_smoothing = 0.0  # label smoothing of the training loss
  c.auxiliary_weight = 0.4  # auxiliary head's loss weight (0: no head)
  c.drop_path = 0.2  # drop-path rate, reached linearly at the last epoch
  c.cutout = 16  # cutout square side in px (0: none); CIFAR/synthetic
  c.jitter = 0.4  # imagenet2012: colour jitter strength (hue: half of it)
  c.dtype = 'float32'  # float32 | bfloat16 (mixed: float32 weights, bf16 math)
  c.devices = 0  # local devices the batch is split over (0: all)
  c.workers = 0  # host threads decoding ImageNet (0: one per core, <= 16)
  c.log_every = 50  # steps between progress-bar updates of loss/acc/img/s
  c.keep_checkpoints = 2  # checkpoints kept (one per epoch, newest)
  return c
