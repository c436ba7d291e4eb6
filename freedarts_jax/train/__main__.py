"""Training CLI: retrain a found genotype.

  python -m freedarts_jax.train --config=configs/train_cifar10.py \
      --config.genotype=PATH_TO_result.json --workdir=DIR [--overwrite]

--config.genotype also takes a built-in name (DARTS_V2), an NB201 string or
DARTS's Genotype(...) text. A restart with the same --workdir resumes from
the last epoch's checkpoint.
"""

from absl import app
from absl import flags
from absl import logging

from freedarts_jax import cli
from freedarts_jax import runtime
from freedarts_jax.train import loop

_FLAGS = cli.define_run_flags(
    'train_cifar10.py', 'Output folder (required); a restart in it resumes.',
    'Write result.json again over a finished run.', workdir_required=False)


def main(argv):
  """Trains the network of --config in --workdir (resuming there)."""
  config = _FLAGS.parsed_config(argv)
  if not _FLAGS.workdir.value:
    raise app.UsageError('--workdir is required (checkpoints and '
                         'result.json go there).')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file at INFO
  runtime.enable_compilation_cache()
  result = loop.run_training(config, _FLAGS.workdir.value,
                           _FLAGS.overwrite.value)
  print(f'{result["genotype"]["space"]} genotype, {result["params"]:,} '
        f'parameters (auxiliary head excluded), {result["epochs"]} epochs on '
        f'{result["dataset"]}: final test accuracy {result["final_acc"]:.2f} '
        f'%, best {result["best_acc"]:.2f} % (epoch {result["best_epoch"]}), '
        f'{result["images_per_s"] or 0:.0f} images/s')
  print(f'wrote {result["written"]}')


if __name__ == '__main__':
  cli.run(main)
