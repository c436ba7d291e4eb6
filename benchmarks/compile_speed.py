"""Compile and first-result time of every supernet, proxy and objective.

  python benchmarks/compile_speed.py [--cases=all] [--tiny] [--repeats=3]
      [--timeout=3600] [--name=NAME] [--out=benchmarks/results]

Each case runs in a fresh process (nothing compiled is shared between
cases), without the persistent compilation cache, and reports, in seconds:
init (build the model, draw the variables: tracing only), lower (trace the
score and lower it to StableHLO), compile (XLA), first_call, first_result
(the four summed) and, with --repeats, the median of that many further
calls; each also in process-CPU seconds (`_cpu_s`: compile threads
included, and less inflated than wall time by a busy machine). The cases:

  nb201, darts, darts20, darts_imagenet, mobilenet: the ZEROS score of
    configs/<case>.py as the search compiles it (dtype auto's first try);
  synflow_routed, zeros_routed: proxies/routed.py's batched network on a
    chunk of 64 NB201 cells, the proxy benchmark's defaults (float64);
  snip, grasp: the objective on the NB201 supernet, a synthetic batch of 64;
  search_nb201 (`make search`), search_mobilenet: the search CLI end to end
    in a child process, from an empty persistent cache and again from the
    warm one (these use the cache, as a user's run does).

--tiny runs every case at toy sizes (common.TINY; 8 cells a chunk, batch
4): a smoke test of the script. A case that fails or outlives --timeout is
recorded as such and the others still run. Writes
OUT/compile_speed[_NAME].json: provenance (date, machine, versions, XLA
flags), the load average before and after each case, and the figures.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
from benchmarks import common
from freedarts_jax import errors
from freedarts_jax import runtime

SCORES = ('nb201', 'darts', 'darts20', 'darts_imagenet', 'mobilenet')
ROUTED = ('synflow_routed', 'zeros_routed')
OBJECTIVES = ('snip', 'grasp')
SEARCHES = ('search_nb201', 'search_mobilenet')
CASES = SCORES + ROUTED + OBJECTIVES + SEARCHES

_CASES = flags.DEFINE_list('cases', ['all'], f'all, or some of {CASES}.')
_TINY = flags.DEFINE_bool('tiny', False, 'Toy sizes (a smoke test).')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls after the first.')
_TIMEOUT = flags.DEFINE_float('timeout', 3600.0, 'Seconds per case.')
_NAME = flags.DEFINE_string('name', '', 'Suffix of the record name.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results', 'Output folder.')
_CHILD = flags.DEFINE_string('child', None, 'Internal: run one case here.')

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _timed(record: dict, name: str, fn, *args, **kwargs):
  """fn(*args); its wall and process-CPU seconds go to record[name + ...]."""
  t, c = time.perf_counter(), time.process_time()
  out = fn(*args, **kwargs)
  record[f'{name}_s'] = time.perf_counter() - t
  record[f'{name}_cpu_s'] = time.process_time() - c
  return out


def _time_compiled(record: dict, fn, args, repeats: int,
                   compiler_options: dict | None = None) -> dict:
  """Lowers, compiles (with XLA's compiler_options) and calls fn(*args).

  The figures go into record.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  lowered = _timed(record, 'lower', fn.lower, *args)
  compiled = _timed(record, 'compile', lowered.compile,
                    compiler_options=compiler_options)
  call = lambda: jax.block_until_ready(compiled(*args))
  _timed(record, 'first_call', call)
  for unit in ('s', 'cpu_s'):
    record[f'first_result_{unit}'] = sum(
        record[f'{k}_{unit}']
        for k in ('init', 'lower', 'compile', 'first_call'))
  wall, cpu = [], []
  for _ in range(repeats):
    t = {}
    _timed(t, 'call', call)
    wall.append(t['call_s'])
    cpu.append(t['call_cpu_s'])
  if repeats:
    record['call_median_s'] = float(np.median(wall))
    record['call_median_cpu_s'] = float(np.median(cpu))
  return record


def _score_fn(case: str, tiny: bool, record: dict):
  """(the search's jitted score of a case's config, its arguments).

  record['compiler_options']: XLA's options the search compiles it with.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from freedarts_jax import dtypes  # pylint: disable=g-import-not-at-top
  from freedarts_jax import spaces  # pylint: disable=g-import-not-at-top
  from freedarts_jax import zeros  # pylint: disable=g-import-not-at-top
  from freedarts_jax.search import objectives  # pylint: disable=g-import-not-at-top
  from freedarts_jax.search import scoring  # pylint: disable=g-import-not-at-top

  objective = case if case in OBJECTIVES else 'zeros'
  overrides = [f'objective={objective}', 'data=synthetic'] + (
      ['batch_size=4'] if tiny and objective != 'zeros' else [])
  config = common.load_config('nb201' if case in OBJECTIVES else case, tiny,
                              overrides)
  space = spaces.get(config.space)
  hw, num_classes = space.datasets[config.dataset]
  hw = space.input_size(config) if space.input_size else hw
  shape = (hw, hw, 3)
  dtype = dtypes.attempts(config, space)[0]  # the search's first try
  record.update(dtype=dtype, config=config.to_dict())
  model = space.build(config, num_classes, scaled=dtype == dtypes.SCALED)
  variables, alpha = zeros.make_init_fn(
      model, shape, space.alpha_shapes, config.alpha_init,
      config.alpha_scale)(jax.random.key(config.seed))
  compute = jnp.dtype(dtypes.COMPUTE_DTYPES[dtype])
  record['compiler_options'] = scoring.compiler_options(objective)
  if objective == 'zeros':
    fn = zeros.make_score_fn(model, shape, compute)
  else:
    batch = objectives.load_batch(config, shape, num_classes)
    fn = objectives.make_objective_fn(objective, model, batch, compute)
  mask = jax.tree.map(jnp.ones_like, alpha)
  return fn, jax.block_until_ready((variables, alpha, mask))


def _routed_fn(case: str, tiny: bool, record: dict):
  """(proxies/routed.py's jitted synflow or zeros, a chunk of cells)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from freedarts_jax import proxies  # pylint: disable=g-import-not-at-top
  from freedarts_jax.init import torch_init  # pylint: disable=g-import-not-at-top
  from freedarts_jax.proxies import bench  # pylint: disable=g-import-not-at-top
  from freedarts_jax.proxies import routed  # pylint: disable=g-import-not-at-top

  proxy, chunk = case.split('_')[0], 8 if tiny else 64
  setup = proxies.Setup(**({'channels': 4, 'cells_per_stage': 1}
                           if tiny else {}))
  cells = np.sort(np.random.default_rng(0).choice(15625, 4 * chunk, False))
  cap = routed.capacity(chunk)
  group = routed.plan_groups(np.argmax(bench.one_hots(cells), -1), chunk,
                             cap)[0]
  alphas = jnp.asarray(bench.one_hots(np.where(group >= 0, cells[group], -1)))
  x = jax.ShapeDtypeStruct((1, *setup.input_shape), jnp.float32)
  bn_mode = proxies.get(proxy).bn_mode(setup)
  variables = torch_init(setup.model(bn_mode).init, jax.random.key(0), x,
                         {'cell': alphas[0]})
  record.update(cells=chunk, cap=cap, setup=vars(setup),
                dtype=getattr(setup, f'{proxy}_dtype'))
  fn = jax.jit(routed.BATCHED[proxy](setup, cap))
  return fn, jax.block_until_ready((variables, alphas, None))


def _children_cpu_s() -> float:
  import resource  # pylint: disable=g-import-not-at-top
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _search_case(case: str, tiny: bool) -> dict:
  """The search CLI end to end, from an empty and then a warm cache."""
  name = case[len('search_'):]
  command = [sys.executable, '-m', 'freedarts_jax.search',
             f'--config=configs/{name}.py']
  if tiny:
    command += [f'--config.{k}={v}' for k, v in common.TINY[name].items()]
  record = {'command': ' '.join(command[1:])}
  with tempfile.TemporaryDirectory() as tmp:
    env = {**os.environ, 'FREEDARTS_CACHE_DIR': f'{tmp}/cache'}
    for run in ('cold', 'warm'):
      workdir = pathlib.Path(tmp) / run
      record[run], before = {}, _children_cpu_s()
      _timed(record[run], 'wall', subprocess.run,
             command + [f'--workdir={workdir}'], check=True, env=env,
             cwd=_ROOT, capture_output=True)
      record[run]['wall_cpu_s'] = _children_cpu_s() - before
      record[run].update(
          json.loads((workdir / 'result.json').read_text())['timing'])
  return record


def _child(case: str) -> None:
  """Runs one case in this process and prints its record as JSON."""
  import resource  # pylint: disable=g-import-not-at-top

  import jax  # pylint: disable=g-import-not-at-top

  jax.config.update('jax_enable_compilation_cache', False)
  if case in SEARCHES:
    record = _search_case(case, _TINY.value)
  else:
    record = {}
    fn, args = _timed(record, 'init', _routed_fn if case in ROUTED
                      else _score_fn, case, _TINY.value, record)
    _time_compiled(record, fn, args, _REPEATS.value,
                   record.get('compiler_options'))
  record['peak_rss_gib'] = resource.getrusage(
      resource.RUSAGE_SELF).ru_maxrss / 2**20
  print('RECORD ' + json.dumps(record), flush=True)


def _run_case(case: str) -> dict:
  """One case in a child process; its record, or why there is none."""
  command = [sys.executable, __file__, f'--child={case}',
             f'--repeats={_REPEATS.value}', f'--tiny={_TINY.value}']
  record = {'case': case, 'load_average_before': os.getloadavg()}
  t = time.perf_counter()
  try:
    done = subprocess.run(command, capture_output=True, text=True, cwd=_ROOT,
                          timeout=_TIMEOUT.value, check=False)
  except subprocess.TimeoutExpired:
    record['status'] = 'timeout'
  else:
    lines = [line for line in done.stdout.splitlines()
             if line.startswith('RECORD ')]
    if done.returncode or not lines:
      record['status'] = 'failed'
      record['error'] = done.stderr.strip().splitlines()[-3:]
    else:
      record.update(status='ok', **json.loads(lines[-1][len('RECORD '):]))
  record['process_s'] = time.perf_counter() - t
  record['load_average_after'] = os.getloadavg()
  return record


def _summary(r: dict) -> str:
  if r['status'] != 'ok':
    return f'{r["case"]}: {r["status"]} after {r["process_s"]:.0f} s'
  if r['case'] in SEARCHES:
    return (f'{r["case"]}: {r["cold"]["wall_s"]:.1f} s from an empty cache '
            f'({r["cold"]["wall_cpu_s"]:.1f} CPU s; compile '
            f'{r["cold"]["compile_s"]:.1f} s), {r["warm"]["wall_s"]:.1f} s '
            f'warm ({r["warm"]["wall_cpu_s"]:.1f} CPU s)')
  call = (f', then {r["call_median_s"] * 1e3:.1f} ms a call '
          f'({r["call_median_cpu_s"] * 1e3:.1f} CPU ms)'
          if 'call_median_s' in r else '')
  return (f'{r["case"]}: first result {r["first_result_s"]:.1f} s, '
          f'{r["first_result_cpu_s"]:.1f} CPU s (init {r["init_s"]:.1f}, '
          f'lower {r["lower_s"]:.1f}, compile {r["compile_s"]:.1f} s / '
          f'{r["compile_cpu_s"]:.1f} CPU s, first call '
          f'{r["first_call_s"]:.2f}){call}; load '
          f'{r["load_average_before"][0]:.1f}')


def main(argv):
  """Runs the chosen cases, each in a child process, and records them."""
  del argv
  if _CHILD.value:
    _child(_CHILD.value)
    return
  cases = CASES if _CASES.value == ['all'] else tuple(_CASES.value)
  bad = [c for c in cases if c not in CASES]
  if bad:
    raise errors.ConfigError('--cases: ' + errors.one_of('case', bad[0],
                                                         CASES))
  name = 'compile_speed' + (f'_{_NAME.value}' if _NAME.value else '')
  path = pathlib.Path(_OUT.value) / f'{name}.json'
  record = {**common.provenance(), 'tiny': _TINY.value,
            'timeout_s': _TIMEOUT.value, 'repeats': _REPEATS.value,
            'cases': []}
  for case in cases:
    record['cases'].append(_run_case(case))
    print(_summary(record['cases'][-1]), flush=True)
    runtime.write_json(path, record)  # after each case: a kill keeps them
  print(f'wrote {path}')


if __name__ == '__main__':
  from freedarts_jax import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
