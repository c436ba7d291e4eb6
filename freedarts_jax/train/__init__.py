"""Retraining of found genotypes: network, input pipeline, training loop.

  python -m freedarts_jax.train --config=configs/train_cifar10.py \
      --config.genotype=PATH_TO_result.json --workdir=DIR

model.py (genotype -> network), data.py and augment.py (tfds and synthetic
input pipelines), steps.py (optimiser, schedules, jitted steps), loop.py
(`run_training(config, workdir)`, checkpoints, metrics, result.json).
"""
