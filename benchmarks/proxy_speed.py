"""Per-cell cost of synflow and zeros on the full NB201 supernet (CPU/GPU).

  python benchmarks/proxy_speed.py [--cells=64] [--repeats=3] [--out=DIR]

Scores one chunk of random cells with each variant in one process, the
variants interleaved over the repeats so that a busy machine slows them
alike: the vmapped one-hot supernet and routed.py's batched network, synflow
in float64 and float32 (rescaled), zeros in float32 and float64. Reports the
median wall and process-CPU seconds per cell (CPU seconds are what a quiet
machine's cores would spend) and the load average, in DIR/proxy_speed.json.
"""

import os
import pathlib
import statistics
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from freedarts_jax import proxies
from freedarts_jax import runtime
from freedarts_jax.init import torch_init
from freedarts_jax.proxies import bench
from freedarts_jax.proxies import routed

_CELLS = flags.DEFINE_integer('cells', 64, 'Cells per call.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls per variant.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')
_VARIANTS = flags.DEFINE_list('variants', None,
                              'Variant names to run (default: all).')

VARIANTS = (  # name, proxy, dtype, routed
    ('synflow_f64_vmapped', 'synflow', 'float64', False),
    ('synflow_f64_routed', 'synflow', 'float64', True),
    ('synflow_f32_routed', 'synflow', 'float32', True),
    ('zeros_f32_vmapped', 'zeros', 'float32', False),
    ('zeros_f32_routed', 'zeros', 'float32', True),
    ('zeros_f64_routed', 'zeros', 'float64', True),
)


def main(argv):
  """Times every variant on --cells cells and writes the medians."""
  del argv
  n = _CELLS.value
  cells = np.sort(np.random.default_rng(0).choice(15625, 4 * n, False))
  ops = np.argmax(bench.one_hots(cells), -1)
  group = routed.plan_groups(ops, n, routed.capacity(n))[0]
  alphas = bench.one_hots(cells[group[group >= 0]])  # (<= n, 6, 5)
  fns, compile_s, outputs = {}, {}, {}
  for name, proxy, dtype, is_routed in VARIANTS:
    if _VARIANTS.value and name not in _VARIANTS.value:
      continue
    setup = proxies.Setup(synflow_dtype=dtype, zeros_dtype=dtype)
    bn_mode = proxies.get(proxy).bn_mode(setup)
    x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    v = torch_init(setup.model(bn_mode).init, jax.random.key(0), x,
                   {'cell': jnp.asarray(alphas[0])})
    if is_routed:
      fn = jax.jit(routed.BATCHED[proxy](setup, routed.capacity(n)))
      args = (v, jnp.asarray(alphas), None)
    else:
      fn = jax.jit(jax.vmap(proxies.get(proxy).make(setup),
                            in_axes=(None, 0, None)))
      args = (v, {'cell': jnp.asarray(alphas)}, None)
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s[name] = time.perf_counter() - t0
    outputs[name] = jax.device_get(compiled(*args))
    fns[name] = (compiled, args)
  load_before = os.getloadavg()
  wall = {name: [] for name in fns}
  cpu = {name: [] for name in fns}
  for _ in range(_REPEATS.value):
    for name, (compiled, args) in fns.items():
      w0, c0 = time.perf_counter(), time.process_time()
      jax.block_until_ready(compiled(*args))
      wall[name].append((time.perf_counter() - w0) / len(alphas))
      cpu[name].append((time.process_time() - c0) / len(alphas))
  record = {**common.provenance(), 'cells_per_call': len(alphas),
            'repeats': _REPEATS.value, 'load_average_before': load_before,
            'load_average_after': os.getloadavg(),
            'compile_s': compile_s,
            'wall_s_per_cell': {k: statistics.median(v)
                                for k, v in wall.items()},
            'cpu_s_per_cell': {k: statistics.median(v)
                               for k, v in cpu.items()},
            'all_wall_s_per_cell': wall,
            'max_rel_diff': {
                k: float(np.max(np.abs(
                    np.asarray(outputs[a][c]) / np.asarray(outputs[b][c])
                    - 1)))
                for k, a, b, c in (
                    ('synflow_f32_vs_f64', 'synflow_f32_routed',
                     'synflow_f64_vmapped', 'synflow'),
                    ('synflow_routed_vs_vmapped', 'synflow_f64_routed',
                     'synflow_f64_vmapped', 'synflow'),
                    ('zeros_routed_vs_vmapped', 'zeros_f32_routed',
                     'zeros_f32_vmapped', 'zeros'),
                    ('zeros_f32_vs_f64', 'zeros_f32_routed',
                     'zeros_f64_routed', 'zeros'))
                if a in outputs and b in outputs}}
  runtime.write_json(pathlib.Path(_OUT.value) / 'proxy_speed.json', record)
  for k in fns:
    print(f'{k}: {record["wall_s_per_cell"][k]:.4f} s/cell wall, '
          f'{record["cpu_s_per_cell"][k]:.4f} CPU s/cell, compile '
          f'{compile_s[k]:.0f} s')
  print('max relative differences', record['max_rel_diff'])
  print('load average', load_before, '->', record['load_average_after'])


if __name__ == '__main__':
  jax.config.update('jax_enable_x64', True)  # the float64 variants
  app.run(main)
