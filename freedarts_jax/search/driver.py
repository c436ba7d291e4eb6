"""run_search(config, workdir): the FreeDARTS search behind the CLI.

Importable from notebooks: it returns the result dict and, given a workdir,
writes workdir/result.json (atomically; never over an existing one unless
`overwrite`). With `config.num_seeds = K > 1` it runs K searches (seeds
seed..seed+K-1) in lockstep, each scoring round one compiled call for all K.
"""

import functools
import pathlib
import time

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from freedarts_jax.search import budget
from freedarts_jax.search import ensemble
from freedarts_jax import errors
from freedarts_jax.search import guards
from freedarts_jax.search import objectives
from freedarts_jax.search import penalties
from freedarts_jax import runtime
from freedarts_jax.search import schedule
from freedarts_jax import validation
from freedarts_jax import zeros

SCALED = 'float32_scaled'  # the overflow-safe float32 path


def auto_float32(bn_mode: str, objective: str = 'zeros') -> str:
  """dtype=auto's first try: float32_scaled where it is exact, else float32.

  float32_scaled needs a positively homogeneous network (BatchNorm off or in
  eval mode); train-mode BatchNorm renormalises every conv output, which
  keeps plain float32 in range instead. snip and grasp need the logits
  themselves (a cross-entropy), so they always start in plain float32.
  """
  if bn_mode == 'train' or objective != 'zeros':
    return 'float32'
  return SCALED


class _ByIdentity:
  """A cache key for an unhashable value (a batch, a function): its identity."""

  def __init__(self, value):
    self.value = value


def _spec(tree):
  leaves, treedef = jax.tree.flatten(tree)
  return treedef, tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves)


@functools.cache
def _compiled_score(model, input_shape, dtype: str, variables_spec,
                    alpha_spec, num: int, batch: int,
                    objective: str = 'zeros',
                    data: _ByIdentity | None = None,
                    factor: _ByIdentity | None = None):
  """The score compiled ahead of time, once per process and shape.

  With num > 1 the arguments carry a leading seed axis and `jax.lax.map`
  scores `batch` seeds at a time under vmap (all of them when batch = num).
  `objective` snip or grasp scores on `data`'s labelled batch; zeros on its
  images where given (zeros_input=data), times `factor`'s penalty if given.
  """
  compute = jnp.dtype(zeros.COMPUTE_DTYPES[dtype])
  if objective == 'zeros':
    one = zeros.make_score_fn(
        model, input_shape, compute,
        images=None if data is None else data.value[0],
        factor=None if factor is None else factor.value)
  else:
    one = objectives.make_objective_fn(objective, model, data.value, compute)
  score_fn = one if num == 1 else jax.jit(lambda v, a, m: jax.lax.map(
      lambda args: one(*args), (v, a, m), batch_size=batch))
  variables = jax.tree.unflatten(*variables_spec)
  alpha = jax.tree.unflatten(*alpha_spec)
  t = time.perf_counter()
  compiled = score_fn.lower(variables, alpha, alpha).compile()
  logging.info('compiled the %s %s score in %.1f s', dtype, objective,
               time.perf_counter() - t)
  return compiled


def _score_in(dtype: str, model, input_shape, variables, alpha, probe_alpha,
              space, config, seeds: list[int],
              data: _ByIdentity | None = None,
              factor: _ByIdentity | None = None) -> dict:
  """Compiles the score in `dtype`, probes R, runs the schedule (guarded)."""
  num = len(seeds)
  batch = ensemble.batch_size(config.ensemble_batch, num)
  lead = (num,) if num > 1 else ()
  ones = {k: jnp.ones(lead + s, jnp.float32)
          for k, s in space.alpha_shapes.items()}
  t = time.perf_counter()
  compiled = _compiled_score(model, input_shape, dtype, _spec(variables),
                             _spec(alpha), num, batch, config.objective, data,
                             factor)
  compile_s = time.perf_counter() - t

  def call(a, masks):
    """-> R (K,) float64, raw scores {k: (K, E, O)}, log2 scales (K,)."""
    out = jax.block_until_ready(compiled(variables, a, masks))
    r, _ = zeros.to_numpy(out._replace(scores={}))
    raw = {k: np.asarray(v, np.float64).reshape(num, *v.shape[-2:])
           for k, v in out.scores.items()}
    return np.atleast_1d(r), raw, np.atleast_1d(np.asarray(out.log2_scale))

  def check(b, check_fn, *args):
    try:
      check_fn(*args)
    except guards.Tripped as e:
      if num == 1:
        raise
      raise guards.Tripped(e.reason, f'seed {seeds[b]}: {e.detail}',
                           dtype, e.advice) from e

  t = time.perf_counter()
  r = call(alpha, ones)[0]
  r_probe = call(probe_alpha, ones)[0]
  for b in range(num):
    check(b, guards.check_r_depends_on_alpha, r[b], r_probe[b], dtype,
          config.bn_mode)
  guard_s = time.perf_counter() - t

  score_s = 0.0

  def score(masks):
    nonlocal score_s
    t = time.perf_counter()
    r, raw, log2_scale = call(
        alpha, {k: jnp.asarray(m.reshape(lead + m.shape[1:]), jnp.float32)
                for k, m in masks.items()})
    score_s += time.perf_counter() - t
    for b in range(num):
      check(b, guards.check_scores, r[b], {k: s[b] for k, s in raw.items()},
            {k: m[b] for k, m in masks.items()}, space.ops, space.edge_labels,
            dtype, space.has_none)
    scores = {k: np.ldexp(s, log2_scale[:, None, None]) for k, s in raw.items()}
    if not all(np.isfinite(s).all() for s in scores.values()):
      raise guards.Tripped('nonfinite', 'scores times 2**log2_scale '
                           f'({log2_scale.tolist()}) exceed float64', dtype)
    return r, scores

  total = schedule.num_rounds(config.schedule, space.alpha_shapes)
  with tqdm.tqdm(total=total, desc=f'scoring ({dtype})', unit='round',
                 disable=None) as bar:

    def on_round(i, record):
      removed = ', '.join(f'{space.edge_labels[k][e]}:{space.ops[o]}'
                          for k, e, o in record['removed'][0])
      logging.info('round %d: R = %.6g; removed %s', i, record['r'][0],
                   removed or 'nothing')
      bar.update()

    rounds = schedule.run(config.schedule, score, space.alpha_shapes, num,
                          on_round, space.has_none)
  return {'rounds': rounds, 'compile_s': compile_s, 'score_s': score_s,
          'guard_s': guard_s}


def _round_json(record: dict, space, b: int) -> dict:
  return {
      'r': float(record['r'][b]),
      'scores': {k: v[b].tolist() for k, v in record['scores'].items()},
      'mask': {k: v[b].astype(int).tolist()
               for k, v in record['mask'].items()},
      'removed': [[k, space.edge_labels[k][e], space.ops[o]]
                  for k, e, o in record['removed'][b]],
  }


def _objective_fields(config) -> dict:
  """What was scored: the objective, its data and what R is."""
  uses_data = objectives.needs_batch(config)
  fields = {'objective': config.objective,
            'zeros_input': config.zeros_input,
            'flops_penalty': config.flops_penalty,
            'data': config.data if uses_data else None}
  if uses_data:
    fields['r_is'] = (
        f'mean cross-entropy of {config.batch_size} images'
        if config.objective != 'zeros' else
        f'sum of the logits of {config.batch_size} images on |theta|')
    fields['batch_size'] = config.batch_size
    if config.data == 'synthetic':
      what = (f'objective={config.objective}' if config.objective != 'zeros'
              else 'zeros_input=data')
      fields['meaningful'] = False
      fields['warning'] = (
          f'{what} scored on data=synthetic (random images and labels): the '
          'scores and the chosen architecture mean nothing; use data=tfds '
          'for a result.')
  return fields


def _init(config, model, input_shape, space, seeds):
  """Variables, alpha and the guard's perturbed alpha, stacked over seeds."""
  init = zeros.make_init_fn(model, input_shape, space.alpha_shapes,
                            config.alpha_init, config.alpha_scale)
  drawn = []
  for seed in seeds:
    init_key, probe_key = jax.random.split(jax.random.key(seed))
    variables, alpha = init(init_key)
    drawn.append((variables, alpha, zeros.perturb(alpha, probe_key)))
  if len(seeds) == 1:
    return drawn[0]
  return jax.tree.map(lambda *x: jnp.stack(x), *drawn)


def run_search(config: ml_collections.ConfigDict, workdir=None,
               overwrite: bool = False) -> dict:
  """Scores the supernet (ZEROS, snip or grasp) and turns it into a cell.

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
  done = None if workdir is None else runtime.result_path(workdir)
  if done is not None and done.exists() and not overwrite:
    raise errors.FreeDartsError(
        f'{done} exists; pass --overwrite to replace it or choose another '
        '--workdir.')
  hw, num_classes = space.datasets[config.dataset]
  if space.input_size is not None:
    hw = space.input_size(config)
  input_shape = (hw, hw, 3)
  model = space.build(config, num_classes)
  seeds = [config.seed + i for i in range(config.num_seeds)]

  t = time.perf_counter()
  data = factor = None
  # First: a missing data set fails at once.
  if objectives.needs_batch(config):
    data = _ByIdentity(objectives.load_batch(config, input_shape,
                                             num_classes))
  if config.flops_penalty != 'none':
    flops = space.flops_table(config, num_classes)
    factor = _ByIdentity(penalties.make_factor(config.flops_penalty, *flops))
  variables, alpha, probe_alpha = _init(config, model, input_shape, space,
                                        seeds)
  init_s = time.perf_counter() - t

  first = auto_float32(config.bn_mode, config.objective)
  if first == SCALED and not space.scalable:
    first = 'float32'
  tried = [first, 'float64'] if (
      config.dtype == 'auto') else [config.dtype]
  fallback, compile_s = None, 0.0
  for dtype in tried:
    try:
      scored = space.build(config, num_classes, scaled=dtype == SCALED)
      outcome = _score_in(dtype, scored, input_shape, variables, alpha,
                          probe_alpha, space, config, seeds, data, factor)
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
  last = rounds[-1]
  limit = budget.from_config(space, config)
  choices = [budget.choose(space, limit, budget.steps(rounds, b))
             for b in range(len(seeds))]
  genotypes = [c.genotype for c in choices]
  result = {
      'space': space.name,
      'dataset': config.dataset,
      'seed': config.seed,
      'num_seeds': config.num_seeds,
      'dtype': dtype,
      'dtype_requested': config.dtype,
      'dtype_fallback': fallback,
      'bn_mode': config.bn_mode,
      **_objective_fields(config),
      'objective_level': 'op (alpha)',  # not the weight-level proxies
      'alpha_init': config.alpha_init,
      'alpha_scale': config.alpha_scale,
      'schedule': config.schedule,
      'ops': list(space.ops),
      'edges': {k: list(v) for k, v in space.edge_labels.items()},
      **space.describe(genotypes[0]),
      'r': float(rounds[0]['r'][0]),
      'scores': {k: v[0].tolist() for k, v in last['scores'].items()},
      'rounds': [_round_json(r, space, 0) for r in rounds],
      'benchmark': space.benchmark(genotypes[0]) if space.benchmark else None,
  }
  if factor is not None:
    first = {k: np.asarray(a[0] if len(seeds) > 1 else a) * last['mask'][k][0]
             for k, a in alpha.items()}  # the first seed's scored alpha
    result['penalty'] = penalties.describe(
        config.flops_penalty, first, float(last['r'][0]),
        {k: s[0] for k, s in last['scores'].items()}, *flops)
  if len(seeds) > 1:
    summary = ensemble.summarise(space, seeds, genotypes, rounds[0]['r'],
                                 budget.chooser(space, limit))
    result.update(space.describe(summary['consensus_genotype']))
    result['benchmark'] = summary['consensus_benchmark']
    result['ensemble'] = summary['ensemble']
  if limit is not None:
    result['budget'] = budget.describe(
        space, limit, choices, len(rounds),
        summary['consensus_genotype'] if len(seeds) > 1 else None)
  result.update({
      'timing': {'init_s': init_s, 'compile_s': compile_s,
                 'score_s': outcome['score_s'], 'guard_s': outcome['guard_s'],
                 'total_s': time.perf_counter() - t_start},
      'device': runtime.device(),
      'versions': runtime.versions(),
      'config': config.to_dict(),
  })
  if workdir is not None:
    if space.write_artifacts:
      result['artifacts'] = space.write_artifacts(
          genotypes[0] if len(seeds) == 1 else summary['consensus_genotype'],
          pathlib.Path(workdir))
    runtime.write_json(runtime.result_path(workdir), result)
  return result
