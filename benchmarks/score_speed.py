"""Compile time and steady-state time of one ZEROS call, per dtype.

  python benchmarks/score_speed.py [--config=nb201] [--dtypes=float32,float64]
      [--repeats=20] [--tiny] [--set=field=value ...] [--out=DIR]

--config names a search config in configs/ (nb201, darts, darts20,
darts_imagenet); its supernet is scored on one all-ones image of its data
set with its bn_mode, as the search does (dtype float32_scaled builds the
scaled supernet). Compile time is measured without the persistent cache.
Prints the figures and writes benchmarks/results/score_speed_<config>.json
(with date, machine, versions and the load average, since a busy machine
inflates the times). References, the released PyTorch scorer on this 2-core
CPU (docs/design.md 5): NB201 0.22 s, DARTS 8-cell 1.23 s a call
(median, float32).
"""

import os
import pathlib
import sys
import time

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402

from freedarts_jax import cli  # noqa: E402
from freedarts_jax import dtypes  # noqa: E402
from freedarts_jax import runtime  # noqa: E402
from freedarts_jax import spaces  # noqa: E402
from freedarts_jax import zeros  # noqa: E402

_CONFIG = flags.DEFINE_string('config', 'nb201', 'A config in configs/.')
_DTYPES = flags.DEFINE_list('dtypes', ['float32', 'float64'],
                            'float32 | float32_scaled | float64.')
_REPEATS = flags.DEFINE_integer('repeats', 20, 'Timed calls per dtype.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')
_TINY = flags.DEFINE_bool('tiny', False, 'Toy sizes (common.TINY).')
_SET = flags.DEFINE_multi_string('set', [], 'Config overrides field=value.')


def main(_):
  """Times one ZEROS call of --config's supernet per dtype."""
  config = common.load_config(_CONFIG.value, _TINY.value, _SET.value)
  space = spaces.get(config.space)
  hw, num_classes = space.datasets[config.dataset]
  hw = space.input_size(config) if space.input_size else hw
  shape = (hw, hw, 3)
  init = zeros.make_init_fn(space.build(config, num_classes), shape,
                            space.alpha_shapes, 'normal', config.alpha_scale)
  variables, alpha = init(jax.random.key(0))
  mask = jax.tree.map(jnp.ones_like, alpha)
  record = {**common.provenance(), 'loadavg_before': os.getloadavg(),
            'config': config.to_dict(), 'tiny': _TINY.value,
            'network': f'{config.space} supernet ({_CONFIG.value}), 1x{hw}x'
                       f'{hw}x3, bn {config.bn_mode}'}
  for dtype in _DTYPES.value:
    model = space.build(config, num_classes,
                        scaled=dtype == 'float32_scaled')
    fn = zeros.make_score_fn(model, shape,
                             jnp.dtype(dtypes.COMPUTE_DTYPES[dtype]))
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
    print(f'{_CONFIG.value} {dtype}: compile {compile_s:.1f} s, steady state '
          f'median {np.median(times) * 1e3:.1f} ms (min '
          f'{np.min(times) * 1e3:.1f} ms) on {record["device"]["kind"]}',
          flush=True)
  record['loadavg_after'] = os.getloadavg()
  runtime.write_json(
      pathlib.Path(_OUT.value) / f'score_speed_{_CONFIG.value}.json', record)


if __name__ == '__main__':
  cli.run(main)  # float64 on, for the float64 variant
