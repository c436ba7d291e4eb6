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


def main(_):
  config = train_cifar10.get_config()
  config.dtype, config.batch_size = _DTYPE.value, _BATCH.value
  config.channels, config.layers = _CHANNELS.value, _LAYERS.value
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
  batch = NamedSharding(mesh, P('data'))
  images = jax.device_put(
      rng.standard_normal((config.batch_size, 32, 32, 3), np.float32), batch)
  labels = jax.device_put(
      rng.integers(0, 10, config.batch_size).astype(np.int32), batch)
  record = {**common.provenance(), 'loadavg_before': os.getloadavg(),
            'network': f'DARTS-V2 CIFAR evaluation network C={config.channels}'
                       f' {config.layers} cells, auxiliary head, drop-path',
            'dtype': config.dtype, 'batch': config.batch_size,
            'devices': int(mesh.devices.size)}
  t = time.perf_counter()
  compiled = train_step.lower(state, images, labels).compile()
  record['compile_s'] = time.perf_counter() - t
  print(f'compiled in {record["compile_s"]:.1f} s', flush=True)
  state, m = compiled(state, images, labels)  # warm-up
  jax.block_until_ready(m)
  times = []
  for _ in range(_STEPS.value):
    t = time.perf_counter()
    state, m = compiled(state, images, labels)
    jax.block_until_ready((state, m))
    times.append(time.perf_counter() - t)
  median = float(np.median(times))
  record.update({'step_median_s': median, 'step_min_s': float(np.min(times)),
                 'steps': len(times),
                 'images_per_s': config.batch_size / median,
                 'loss_last': float(m['loss']),
                 'loadavg_after': os.getloadavg()})
  print(f'{config.dtype}, batch {config.batch_size} on {mesh.devices.size} x '
        f'{record["device"]["kind"]}: compile {record["compile_s"]:.1f} s, '
        f'step median {median * 1e3:.0f} ms -> '
        f'{config.batch_size / median:,.0f} images/s', flush=True)
  name = f'train_speed_{jax.default_backend()}_{config.dtype}.json'
  runtime.write_json(pathlib.Path(_OUT.value) / name, record)


if __name__ == '__main__':
  app.run(main)
