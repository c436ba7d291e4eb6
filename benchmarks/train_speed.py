"""Images/s of one DARTS evaluation-network training step.

  python benchmarks/train_speed.py [--dtype=float32] [--batch=96] [--steps=5]

DARTS-V2's CIFAR evaluation network (C=36, 20 cells, auxiliary head 0.4,
drop-path 0.2), the jitted training step of freedarts_jax.train (SGD,
clipping, weight decay, BatchNorm statistics) on one fixed batch of 32 px
images on every local device (the batch split over them). Compile time is
measured without the persistent cache; then `steps` timed steps after one
warm-up step. Prints the figures and writes benchmarks/results/
train_speed_<backend>_<dtype>.json (date, machine, versions, load).
Goal on one H100/H200: >= 5,000 images/s in bfloat16.
"""

import os
import pathlib
import sys
import time

from absl import app
from absl import flags
import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
import common  # noqa: E402

from configs import train_cifar10  # noqa: E402
from freedarts_jax import runtime  # noqa: E402
from freedarts_jax.train import loop  # noqa: E402
from freedarts_jax.train import model as model_lib  # noqa: E402
from freedarts_jax.train import steps as steps_lib  # noqa: E402

_DTYPE = flags.DEFINE_enum('dtype', 'float32', list(steps_lib.DTYPES),
                           'Compute dtype (bfloat16: mixed precision).')
_BATCH = flags.DEFINE_integer('batch', 96, 'Global batch.')
_STEPS = flags.DEFINE_integer('steps', 5, 'Timed steps.')
_CHANNELS = flags.DEFINE_integer('channels', 36, 'C.')
_LAYERS = flags.DEFINE_integer('layers', 20, 'Cells.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')


def compiled_step(dtype: str, batch: int, channels: int = 36,
                  layers: int = 20):
  """Compiles the training step: (record so far, one_step).

  one_step() runs one step on the fixed batch (the state carried from the
  last) and returns (its seconds, its loss); the first call is the
  warm-up.
  """
  config = train_cifar10.get_config()
  config.dtype, config.batch_size = dtype, batch
  config.channels, config.layers = channels, layers
  mesh = loop._mesh(0)
  arch = model_lib.resolve('DARTS_V2')
  train_model = model_lib.build(arch, config, 10, 'train')
  eval_model = model_lib.build(arch, config, 10, 'eval')
  recipe = steps_lib.Recipe.from_config(config, 500)
  train_step, _, tx = steps_lib.make_steps(train_model, eval_model, recipe,
                                           mesh)
  state = loop._init_state(train_model, tx, config, 32)
  state = jax.device_put(state, NamedSharding(mesh, P()))
  rng = np.random.default_rng(0)
  sharding = NamedSharding(mesh, P('data'))
  images = jax.device_put(
      rng.standard_normal((batch, 32, 32, 3), np.float32), sharding)
  labels = jax.device_put(rng.integers(0, 10, batch).astype(np.int32),
                          sharding)
  record = {**common.provenance(), 'loadavg_before': os.getloadavg(),
            'network': f'DARTS-V2 CIFAR evaluation network C={channels}'
                       f' {layers} cells, auxiliary head, drop-path',
            'dtype': dtype, 'batch': batch,
            'depthwise': train_model.depthwise,
            'compiler_options': runtime.compiler_options(
                jax.default_backend(), 'weight_gradients'),
            'xla_flags': os.environ.get('XLA_FLAGS', ''),
            'devices': int(mesh.devices.size)}
  t, c = time.perf_counter(), time.process_time()
  compiled = train_step.lower(state, images, labels).compile()
  record['compile_s'] = time.perf_counter() - t
  record['compile_cpu_s'] = time.process_time() - c
  print(f'compiled in {record["compile_s"]:.1f} s', flush=True)
  carry = [state]

  def one_step() -> tuple[float, float]:
    t = time.perf_counter()
    carry[0], metrics = compiled(carry[0], images, labels)
    jax.block_until_ready((carry, metrics))
    return time.perf_counter() - t, float(metrics['loss'])

  return record, one_step


def finish(record: dict, times: list[float], loss: float) -> dict:
  """The record with the step times' figures and last loss; prints them."""
  median = float(np.median(times))
  batch = record['batch']
  record.update({'step_median_s': median, 'step_min_s': float(np.min(times)),
                 'steps': len(times), 'step_s': times,
                 'images_per_s': batch / median,
                 'loss_last': loss,
                 'loadavg_after': os.getloadavg()})
  print(f'{record["dtype"]}, batch {batch} on {record["devices"]} x '
        f'{record["device"]["kind"]}: compile {record["compile_s"]:.1f} s, '
        f'step median {median * 1e3:.0f} ms -> {batch / median:,.0f} '
        'images/s', flush=True)
  return record


def measure(dtype: str, batch: int, steps: int, channels: int = 36,
            layers: int = 20) -> dict:
  """Compiles and times the training step; the record (no file written)."""
  record, one_step = compiled_step(dtype, batch, channels, layers)
  one_step()  # warm-up
  times, losses = zip(*[one_step() for _ in range(steps)])
  return finish(record, list(times), losses[-1])


def main(_):
  """Measures the training steps and writes the record as JSON."""
  record = measure(_DTYPE.value, _BATCH.value, _STEPS.value, _CHANNELS.value,
                   _LAYERS.value)
  name = f'train_speed_{jax.default_backend()}_{_DTYPE.value}.json'
  runtime.write_json(pathlib.Path(_OUT.value) / name, record)


if __name__ == '__main__':
  app.run(main)
