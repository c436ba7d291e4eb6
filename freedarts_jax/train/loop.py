"""run_training(config, workdir): retrains a genotype; the CLI's library.

Each epoch: the training steps (tqdm bar with loss, accuracy, images/s),
an evaluation on the whole test split, an orbax checkpoint (written to a
temporary folder and renamed, so a crash leaves the previous one intact) and
a line of metrics.jsonl. A restart in the same workdir resumes from the latest
checkpoint and finishes with the parameters an uninterrupted run would have.
At the end: workdir/result.json.
"""

from collections.abc import Callable
import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import tqdm

from freedarts_jax import errors
from freedarts_jax import init
from freedarts_jax import runtime
from freedarts_jax import validation
from freedarts_jax.train import data
from freedarts_jax.train import model as model_lib
from freedarts_jax.train import steps as steps_lib

# Fields that may change between a run and its restart.
_RESUMABLE = ('data_dir', 'log_every', 'workers', 'keep_checkpoints')
_PACKAGES = ('orbax-checkpoint', 'tensorflow-datasets', 'optax')


def check(config: ml_collections.ConfigDict, num_devices: int
          ) -> model_lib.Arch:
  """Validates a training config; returns the genotype to train."""
  validation.choice(config, 'dataset', data.DATASETS)
  validation.choice(config, 'dtype', steps_lib.DTYPES)
  validation.choice(config, 'lr_schedule', steps_lib.SCHEDULES)
  for field in ('epochs', 'batch_size', 'eval_batch_size', 'channels',
                'layers', 'cells_per_stage', 'image_size', 'log_every',
                'lr_decay_epochs', 'keep_checkpoints', 'synthetic_examples'):
    validation.positive(config, field)
  for field in ('seed', 'steps_per_epoch', 'warmup_epochs', 'cutout',
                'workers'):
    validation.integer(config, field, 0)
  for field in ('learning_rate', 'lr_decay_rate'):
    validation.positive(config, field, float)
  for field in ('lr_min', 'momentum', 'weight_decay', 'grad_clip',
                'auxiliary_weight', 'jitter'):
    validation.number(config, field, 0.0)
  for field in ('label_smoothing', 'drop_path'):
    validation.number(config, field, 0.0, below=1.0)
  for field in ('batch_size', 'eval_batch_size'):
    if config[field] % num_devices:
      raise errors.ConfigError(
          f'config.{field}={config[field]} must be a multiple of the '
          f'{num_devices} devices the batch is split over.')
  arch = model_lib.resolve(config.genotype)
  if arch.space == 'nb201' and (config.auxiliary_weight or config.drop_path):
    raise errors.ConfigError(
        f'{config.genotype!r} is an NB201 cell: NB201 networks have no '
        'auxiliary head or drop-path. Train it with configs/train_nb201.py '
        "(NB201's recipe), or set --config.auxiliary_weight=0 "
        '--config.drop_path=0.')
  if arch.space == 'darts' and config.channels % 2:
    raise errors.ConfigError(
        f'config.channels must be even for a DARTS network, got '
        f'{config.channels}.')
  return arch


def _mesh(count: int) -> jax.sharding.Mesh:
  devices = jax.local_devices()
  if count > len(devices):
    raise errors.ConfigError(f'config.devices={count}, but only '
                             f'{len(devices)} local devices exist.')
  devices = devices[:count] if count else devices
  return jax.make_mesh((len(devices),), ('data',), devices=devices)


def _check_workdir(workdir: pathlib.Path, config, overwrite: bool) -> None:
  """Refuses a bad or finished workdir, or another run's checkpoints."""
  runtime.check_workdir(workdir, overwrite)
  saved = workdir / 'config.json'
  if saved.exists() and any((workdir / 'checkpoints').glob('[0-9]*')):
    before = json.loads(saved.read_text())
    now = config.to_dict()
    diff = sorted(k for k in set(before) | set(now)
                  if k not in _RESUMABLE and before.get(k) != now.get(k))
    if diff:
      raise errors.ConfigError(
          f'{workdir} holds checkpoints of a run with other settings '
          f'({", ".join(diff)} differ), which a restart would mix up: use '
          'another --workdir or the same config.')


def _init_state(train_model, tx, config, image_size: int) -> dict:
  key = jax.random.key(config.seed)
  init_key, drop_key = jax.random.split(key)
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  variables = init.torch_init(train_model.init, init_key, x)
  return {'params': variables['params'],
          'batch_stats': variables.get('batch_stats', {}),
          'opt_state': tx.init(variables['params']),
          'step': jnp.zeros((), jnp.int32),
          'rng': jax.random.key_data(drop_key)}


def _read_metrics(path: pathlib.Path, upto: int) -> list[dict]:
  if not path.exists():
    return []
  rows = [json.loads(line) for line in path.read_text().splitlines() if line]
  return [r for r in rows if r['epoch'] <= upto]


def _evaluate(evaluate, state, pipeline, sharding) -> tuple[float, float]:
  totals = []
  for images, labels, weights in pipeline.test_batches():
    totals.append(evaluate(state, jax.device_put(images, sharding),
                           jax.device_put(labels, sharding),
                           jax.device_put(weights, sharding)))
  totals = jax.device_get(totals)
  count = sum(float(t['count']) for t in totals)
  return (sum(float(t['loss']) for t in totals) / count,
          100.0 * sum(float(t['correct']) for t in totals) / count)


@dataclasses.dataclass
class _Run:
  """What the epochs of a run share, fixed before the first one."""

  config: ml_collections.ConfigDict
  workdir: pathlib.Path
  arch: model_lib.Arch
  num_devices: int
  num_classes: int
  image_size: int
  steps: int  # per epoch
  recipe: steps_lib.Recipe
  train_step: Callable
  eval_step: Callable
  sharding: NamedSharding  # a batch's, split over the devices
  sources: tuple  # the train and test splits (data.load)
  pipeline: data.Pipeline | None = None  # opened once the state is restored

  @property
  def metrics_path(self) -> pathlib.Path:
    return self.workdir / 'metrics.jsonl'

  def evaluate(self, state) -> tuple[float, float]:
    """(test loss, test accuracy in %) of state on the whole test split."""
    return _evaluate(self.eval_step, state, self.pipeline, self.sharding)

  def write_metrics(self, history: list[dict]) -> None:
    runtime.write_text(self.metrics_path, ''.join(
        json.dumps(r) + '\n' for r in history))


def _prepare(config, workdir: pathlib.Path, overwrite: bool
             ) -> tuple[_Run, dict]:
  """Checks config and workdir, builds the steps; (run, initial state)."""
  validation.integer(config, 'devices', 0, note=' (0: all)')
  mesh = _mesh(config.devices)
  arch = check(config, mesh.devices.size)
  _check_workdir(workdir, config, overwrite)
  train_src, test_src = data.load(config, 'train'), data.load(config, 'test')
  image_size = (config.image_size if config.dataset in (
      'synthetic', 'imagenet2012') else data.DATASETS[config.dataset][0])
  steps = data.steps_per_epoch(len(train_src), config.batch_size,
                               config.steps_per_epoch)
  if steps == 0:
    raise errors.ConfigError(
        f'config.batch_size={config.batch_size} is larger than the '
        f'{len(train_src)} training examples.')
  num_classes = train_src.num_classes
  train_model = model_lib.build(arch, config, num_classes, 'train')
  eval_model = model_lib.build(arch, config, num_classes, 'eval')
  recipe = steps_lib.Recipe.from_config(config, steps)
  train_step, eval_step, tx = steps_lib.make_steps(
      train_model, eval_model, recipe, mesh)
  runtime.write_json(workdir / 'config.json', config.to_dict())
  state = jax.device_put(_init_state(train_model, tx, config, image_size),
                         NamedSharding(mesh, P()))
  return _Run(config, workdir, arch, mesh.devices.size, num_classes,
              image_size, steps, recipe, train_step, eval_step,
              NamedSharding(mesh, P('data')), (train_src, test_src)), state


def _train_epoch(run: _Run, state, epoch: int
                 ) -> tuple[dict, float, float, float | None, float]:
  """One epoch's steps (a tqdm bar with loss, accuracy and images/s).

  Returns:
    (state, train loss, train accuracy in %, images/s after the first step
    or None, seconds to the end of the first step: its compile).
  """
  config, steps = run.config, run.steps
  t_epoch, seen, t0, logged = time.perf_counter(), 0, None, []
  first_step_s = None
  bar = tqdm.tqdm(total=steps, desc=f'epoch {epoch + 1}/{config.epochs}',
                  unit='step', leave=False)
  for i, (images, labels) in enumerate(
      run.pipeline.train_batches(epoch, steps)):
    state, m = run.train_step(state, jax.device_put(images, run.sharding),
                              jax.device_put(labels, run.sharding))
    logged.append(m)
    if t0 is None:  # the first step compiles: time from its end
      jax.block_until_ready(m)
      first_step_s = time.perf_counter() - t_epoch
      t0 = time.perf_counter()
    else:
      seen += len(labels)
    bar.update(1)
    if (i + 1) % config.log_every == 0 or i + 1 == steps:
      loss, acc = _train_metrics(logged, len(logged) * config.batch_size)
      rate = seen / max(time.perf_counter() - t0, 1e-9)
      bar.set_postfix(loss=f'{loss:.3f}', acc=f'{acc:.1f}',
                      img_s=f'{rate:.0f}')
  bar.close()
  loss, acc = _train_metrics(logged, steps * config.batch_size)
  rate = seen / max(time.perf_counter() - t0, 1e-9) if seen else None
  return state, loss, acc, rate, first_step_s


def _train_metrics(logged: list[dict], examples: int) -> tuple[float, float]:
  """(mean loss, accuracy in %) of the steps' metrics over `examples`."""
  got = jax.device_get(logged)
  return (float(np.mean([float(g['loss']) for g in got])),
          100 * sum(int(g['correct']) for g in got) / examples)


def _epochs(run: _Run, state, ckpt, history: list[dict], start: int,
            last: int) -> tuple[dict, float | None, list[float]]:
  """Epochs start..last-1, each checkpointed, then its metrics line.

  Returns:
    (state, the first step's compile seconds or None, images/s per epoch).
  """
  config, compile_s, rates = run.config, None, []
  for epoch in range(start, last):
    t_epoch = time.perf_counter()
    state, train_loss, train_acc, rate, first_step_s = _train_epoch(
        run, state, epoch)
    compile_s = first_step_s if compile_s is None else compile_s
    if rate:
      rates.append(rate)
    test_loss, test_acc = run.evaluate(state)
    ckpt.save(epoch + 1, args=ocp.args.StandardSave(state))
    at = epoch * run.steps
    history.append({
        'epoch': epoch + 1, 'step': int(state['step']),
        'lr': float(steps_lib.learning_rate(run.recipe, at)),
        'drop_path': float(steps_lib.drop_path_rate(run.recipe, at)),
        'train_loss': train_loss, 'train_acc': train_acc,
        'test_loss': test_loss, 'test_acc': test_acc,
        'images_per_s': rate, 'epoch_s': time.perf_counter() - t_epoch})
    ckpt.wait_until_finished()  # the checkpoint first, then its metrics
    run.write_metrics(history)
    tqdm.tqdm.write(
        f'epoch {epoch + 1}/{config.epochs}: train loss {train_loss:.4f} '
        f'acc {train_acc:.2f} %, test loss {test_loss:.4f} acc '
        f'{test_acc:.2f} %, ' + (f'{rate:.0f} images/s' if rate else
                                 'compiling'))
  return state, compile_s, rates


def run_training(config: ml_collections.ConfigDict, workdir,
                 overwrite: bool = False, stop_after: int | None = None
                 ) -> dict:
  """Trains config.genotype; writes checkpoints, metrics and result.json.

  Args:
    config: a training config (configs/train_*.py).
    workdir: output folder; a restart in it resumes from the last epoch.
    overwrite: write result.json again over a finished run's.
    stop_after: stop (as an interruption would) once this many epochs are
      done in total, without result.json; for tests and time-boxed jobs.

  Returns:
    The result dict (None when stopped early), with 'written': the file
    that holds it (result.json, or runtime.save_json's fallback).
  """
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  run, state = _prepare(config, workdir, overwrite)
  ckpt = ocp.CheckpointManager(
      (workdir / 'checkpoints').absolute(),
      options=ocp.CheckpointManagerOptions(
          max_to_keep=config.keep_checkpoints, create=True))
  start = ckpt.latest_step() or 0
  if start:
    state = ckpt.restore(start, args=ocp.args.StandardRestore(state))
    tqdm.tqdm.write(f'resumed from the checkpoint of epoch {start}')
  history = _read_metrics(run.metrics_path, start)
  run.pipeline = data.Pipeline(config, *run.sources, config.workers)
  last = min(config.epochs, stop_after or config.epochs)
  try:
    state, compile_s, rates = _epochs(run, state, ckpt, history, start, last)
    if last == config.epochs and (
        not history or history[-1]['epoch'] != config.epochs):
      # Killed after the last checkpoint but before its metrics line.
      test_loss, test_acc = run.evaluate(state)
      history.append({'epoch': config.epochs, 'step': int(state['step']),
                      'test_loss': test_loss, 'test_acc': test_acc})
      run.write_metrics(history)
  finally:
    ckpt.wait_until_finished()
    ckpt.close()
    run.pipeline.close()
  if last < config.epochs:
    return None
  result = _result(run, state, history, rates, compile_s, start, t_start)
  path = runtime.save_json(runtime.result_path(workdir), result)
  return {**result, 'written': str(path)}


def _result(run: _Run, state, history: list[dict], rates: list[float],
            compile_s: float | None, start: int, t_start: float) -> dict:
  """result.json's content for a finished run."""
  config = run.config
  params, params_aux = model_lib.count_params(state)
  best = max(history, key=lambda r: r['test_acc'])
  return {
      'genotype': run.arch.describe(),
      'params': params,
      'params_with_auxiliary': params_aux,
      'params_note': 'DARTS convention: the auxiliary head is excluded',
      'dataset': config.dataset,
      'num_classes': run.num_classes,
      'image_size': run.image_size,
      'epochs': config.epochs,
      'steps_per_epoch': run.steps,
      'final_acc': history[-1]['test_acc'],
      'final_loss': history[-1]['test_loss'],
      'best_acc': best['test_acc'],
      'best_epoch': best['epoch'],
      'images_per_s': float(np.median(rates)) if rates else None,
      'dtype': config.dtype,
      'devices': run.num_devices,
      'resumed_from_epoch': start,
      'timing': {'compile_s': compile_s,
                 'total_s': time.perf_counter() - t_start},
      'device': runtime.device(),
      'versions': runtime.versions(_PACKAGES),
      'config': config.to_dict(),
  }
