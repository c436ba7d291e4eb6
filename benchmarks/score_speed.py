"""Compile time and steady-state time of one ZEROS call, float32 and float64.

  python benchmarks/score_speed.py [--repeats=20] [--space_dataset=cifar10]

The full NB201 supernet (C=16, N=5) on one all-ones CIFAR image, bn_mode
train, as `make search` scores it. Compile time is measured without the
persistent cache. Prints the figures and writes benchmarks/results/
score_speed.json (with date, machine, versions and the load average, since
a busy machine inflates the times). Reference: the released PyTorch scorer,
0.22 s median float32 on this 2-core CPU (spec ENVIRONMENT.md).
"""

import os
import pathlib
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402
from freedarts_jax import runtime  # noqa: E402
from freedarts_jax import zeros  # noqa: E402
from freedarts_jax.spaces import nb201  # noqa: E402

_REPEATS = flags.DEFINE_integer('repeats', 20, 'Timed calls per dtype.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')


def main(_):
  model = nb201.Network(10)
  init = zeros.make_init_fn(model, (32, 32, 3), nb201.alpha_shapes(),
                            'normal', 1e-3)
  variables, alpha = init(jax.random.key(0))
  mask = {'cell': jnp.ones((6, 5), jnp.float32)}
  record = {**common.provenance(), 'loadavg_before': os.getloadavg(),
            'network': 'NB201 supernet C=16 N=5, 1x32x32x3, bn train'}
  for dtype in ('float32', 'float64'):
    fn = zeros.make_score_fn(model, (32, 32, 3), jnp.dtype(dtype))
    t = time.perf_counter()
    compiled = fn.lower(variables, alpha, mask).compile()
    compile_s = time.perf_counter() - t
    jax.block_until_ready(compiled(variables, alpha, mask))
    times = []
    for _ in range(_REPEATS.value):
      t = time.perf_counter()
      jax.block_until_ready(compiled(variables, alpha, mask))
      times.append(time.perf_counter() - t)
    record[dtype] = {'compile_s': compile_s,
                     'median_s': float(np.median(times)),
                     'min_s': float(np.min(times)), 'repeats': len(times)}
    print(f'{dtype}: compile {compile_s:.1f} s, steady state median '
          f'{np.median(times) * 1e3:.1f} ms (min {np.min(times) * 1e3:.1f} ms)'
          f' on {record["device"]["kind"]}', flush=True)
  record['loadavg_after'] = os.getloadavg()
  runtime.write_json(pathlib.Path(_OUT.value) / 'score_speed.json', record)


if __name__ == '__main__':
  app.run(main)
