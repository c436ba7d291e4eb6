"""run_search(config, workdir): the FreeDARTS search behind the CLI.

Importable from notebooks: it returns the result dict and, given a workdir,
writes workdir/result.json (atomically; never over an existing one unless
`overwrite`).
"""

import functools
import pathlib
import time

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from freedarts_jax import errors
from freedarts_jax import guards
from freedarts_jax import runtime
from freedarts_jax import schedule
from freedarts_jax import validation
from freedarts_jax import zeros


def _to_numpy(tree) -> dict:
  return {k: np.asarray(v, np.float64) for k, v in tree.items()}


@functools.cache
def _compiled_score(model, input_shape, dtype: str, variables_spec,
                    alpha_spec):
  """The score compiled ahead of time, once per process and shape."""
  score_fn = zeros.make_score_fn(model, input_shape, jnp.dtype(dtype))
  t = time.perf_counter()
  variables = jax.tree.unflatten(*variables_spec)
  alpha = jax.tree.unflatten(*alpha_spec)
  compiled = score_fn.lower(variables, alpha, alpha).compile()
  compile_s = time.perf_counter() - t
  logging.info('compiled the %s score in %.1f s', dtype, compile_s)
  return compiled


def _spec(tree):
  leaves, treedef = jax.tree.flatten(tree)
  return treedef, tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves)


def _score_in(dtype: str, model, input_shape, variables, alpha, probe_alpha,
              space, schedule_name: str) -> dict:
  """Compiles the score in `dtype`, probes R, runs the schedule (guarded)."""
  ones = {k: jnp.ones(s, jnp.float32) for k, s in space.alpha_shapes.items()}
  t = time.perf_counter()
  compiled = _compiled_score(model, input_shape, dtype, _spec(variables),
                             _spec(alpha))
  compile_s = time.perf_counter() - t

  t = time.perf_counter()
  r, _ = compiled(variables, alpha, ones)
  r_probe, _ = compiled(variables, probe_alpha, ones)
  guards.check_r_depends_on_alpha(float(r), float(r_probe), dtype)
  guard_s = time.perf_counter() - t

  score_s = 0.0

  def score(mask):
    nonlocal score_s
    t = time.perf_counter()
    r, scores = compiled(variables, alpha,
                         {k: jnp.asarray(m, jnp.float32)
                          for k, m in mask.items()})
    r, scores = float(r), _to_numpy(jax.block_until_ready(scores))
    score_s += time.perf_counter() - t
    guards.check_scores(r, scores, mask, space.ops, space.edge_labels, dtype)
    return r, scores

  def log_round(i, record):
    removed = ', '.join(f'{space.edge_labels[k][e]}:{space.ops[o]}'
                        for k, e, o in record['removed'])
    logging.info('round %d: R = %.6g; removed %s', i, record['r'],
                 removed or 'nothing')

  rounds = schedule.run(schedule_name, score, space.alpha_shapes, log_round)
  return {'rounds': rounds, 'compile_s': compile_s, 'score_s': score_s,
          'guard_s': guard_s}


def _round_json(record: dict, space) -> dict:
  return {
      'r': record['r'],
      'scores': {k: v.tolist() for k, v in record['scores'].items()},
      'mask': {k: v.astype(int).tolist() for k, v in record['mask'].items()},
      'removed': [[k, space.edge_labels[k][e], space.ops[o]]
                  for k, e, o in record['removed']],
  }


def result_path(workdir) -> pathlib.Path:
  return pathlib.Path(workdir) / 'result.json'


def run_search(config: ml_collections.ConfigDict, workdir=None,
               overwrite: bool = False) -> dict:
  """Scores the supernet with ZEROS and turns the scores into a cell.

  Args:
    config: a search config (configs/nb201.py documents the fields).
    workdir: where result.json goes; None writes nothing.
    overwrite: replace an existing workdir/result.json.

  Returns:
    The result dict that result.json holds.

  Raises:
    errors.FreeDartsError: a bad config value, an existing result, or a
      guard that tripped (in float64 too, with dtype=auto).
  """
  t_start = time.perf_counter()
  space = validation.check(config)
  if workdir is not None and result_path(workdir).exists() and not overwrite:
    raise errors.FreeDartsError(
        f'{result_path(workdir)} exists; pass --overwrite to replace it or '
        'choose another --workdir.')
  hw, num_classes = space.datasets[config.dataset]
  input_shape = (hw, hw, 3)
  model = space.build(config, num_classes)
  init_key, probe_key = jax.random.split(jax.random.key(config.seed))

  t = time.perf_counter()
  init = zeros.make_init_fn(model, input_shape, space.alpha_shapes,
                            config.alpha_init, config.alpha_scale)
  variables, alpha = init(init_key)
  probe_alpha = zeros.perturb(alpha, probe_key)
  init_s = time.perf_counter() - t

  tried = ['float32', 'float64'] if config.dtype == 'auto' else [config.dtype]
  fallback, compile_s = None, 0.0
  for dtype in tried:
    try:
      outcome = _score_in(dtype, model, input_shape, variables, alpha,
                          probe_alpha, space, config.schedule)
      compile_s += outcome['compile_s']
      break
    except guards.Tripped as e:
      if dtype == tried[-1]:
        if fallback:
          raise errors.GuardError(
              f'{fallback["message"]} The float64 re-run failed too: {e}'
          ) from e
        raise
      logging.warning('%s Re-running in float64 (dtype=auto).', e)
      fallback = {'from': dtype, 'reason': e.reason, 'message': str(e)}

  rounds = outcome['rounds']
  genotype = space.choose(rounds[-1]['scores'], rounds[-1]['mask_after'])
  result = {
      'space': space.name,
      'dataset': config.dataset,
      'seed': config.seed,
      'dtype': dtype,
      'dtype_requested': config.dtype,
      'dtype_fallback': fallback,
      'bn_mode': config.bn_mode,
      'alpha_init': config.alpha_init,
      'alpha_scale': config.alpha_scale,
      'schedule': config.schedule,
      'ops': list(space.ops),
      'edges': {k: list(v) for k, v in space.edge_labels.items()},
      **space.describe(genotype),
      'r': rounds[0]['r'],
      'scores': {k: v.tolist() for k, v in rounds[-1]['scores'].items()},
      'rounds': [_round_json(r, space) for r in rounds],
      'benchmark': space.benchmark(genotype) if space.benchmark else None,
      'timing': {'init_s': init_s, 'compile_s': compile_s,
                 'score_s': outcome['score_s'], 'guard_s': outcome['guard_s'],
                 'total_s': time.perf_counter() - t_start},
      'device': runtime.device(),
      'versions': runtime.versions(),
      'config': config.to_dict(),
  }
  if workdir is not None:
    if space.write_artifacts:
      result['artifacts'] = space.write_artifacts(genotype,
                                                  pathlib.Path(workdir))
    runtime.write_json(result_path(workdir), result)
  return result
