"""run_search(config, workdir): the FreeDARTS search behind the CLI.

Importable from notebooks: it returns the result dict and, given a workdir,
writes workdir/result.json (atomically; never over an existing one unless
`overwrite`). With `config.num_seeds = K > 1` it runs K searches (seeds
seed..seed+K-1) in lockstep, each scoring round one compiled call for all K;
one search is the case K = 1 (every array carries the seed axis).

float64 is switched on inside `run_search` only (`jax.enable_x64`), so the
caller's JAX setting is left as it was.
"""

import dataclasses
import pathlib
import time
from typing import Any
from typing import TypedDict

from absl import logging
import flax.linen as nn
import jax
import ml_collections
import numpy as np

from freedarts_jax import dtypes
from freedarts_jax import errors
from freedarts_jax import runtime
from freedarts_jax import spaces
from freedarts_jax import tree_util
from freedarts_jax import zeros
from freedarts_jax.search import budget
from freedarts_jax.search import checks
from freedarts_jax.search import ensemble
from freedarts_jax.search import guards
from freedarts_jax.search import objectives
from freedarts_jax.search import penalties
from freedarts_jax.search import scoring


class Timing(TypedDict):
  """result.json's 'timing', in seconds."""
  init_s: float  # data, FLOPs table, variables and alpha
  compile_s: float  # the score of the dtype that finished
  score_s: float  # every round's call
  guard_s: float  # the probe call (R with alpha changed) and its check
  total_s: float


class Round(TypedDict):
  """One scoring round of the first seed."""
  r: float  # R
  scores: dict[str, list[list[float]]]  # alpha name -> (edges, ops)
  mask: dict[str, list[list[int]]]  # the ops scored (1) this round
  removed: list[list[str]]  # [alpha name, edge label, op] per removal


class Result(TypedDict, total=False):
  """workdir/result.json (the dict run_search returns).

  `space.describe` adds the chosen cell's own keys: 'arch' (its text) in
  every space; nb201 'genotype', 'connected'; darts 'genotype',
  'eval_params', 'darts_v2_params', 'eval_network'; mobilenet 'blocks',
  'params', 'flops', 'eval_network'. With K > 1 seeds they describe the
  consensus cell and 'ensemble' holds every seed's.
  """
  space: str
  dataset: str
  seed: int
  num_seeds: int
  dtype: str  # the dtype that scored: float32, float64 or float32_scaled
  dtype_requested: str  # config.dtype
  dtype_fallback: dict | None  # {'from', 'reason', 'message'} under auto
  bn_mode: str
  objective: str  # zeros or the op-level snip / grasp
  objective_level: str  # 'op (alpha)': not the weight-level proxies
  zeros_input: str
  flops_penalty: str
  data: str | None  # the batch's source where one is scored
  r_is: str  # what R is, where a batch is scored
  batch_size: int
  meaningful: bool  # False for a batch of random images
  warning: str
  alpha_init: str
  alpha_scale: float
  schedule: str
  ops: list[str]
  edges: dict[str, list[str]]
  arch: str
  r: float  # R of round 0, first seed
  scores: dict[str, list[list[float]]]  # last round, first seed
  rounds: list[Round]
  benchmark: dict | None  # the table's row of the chosen cell (nb201)
  penalty: dict  # penalties.describe, with a flops_penalty
  ensemble: dict  # ensemble.summarise, with K > 1
  budget: dict  # budget.describe, with a budget_metric
  timing: Timing
  device: dict
  versions: dict
  config: dict
  artifacts: list[str]  # files beside result.json
  # The file that holds the result: workdir/result.json, or the fallback
  # where that could not be written (in the returned dict, not the file).
  written: str


@dataclasses.dataclass(frozen=True)
class _Draw:
  """What every dtype's attempt shares: the supernet, its inputs, the draws.

  variables, alpha and probe_alpha carry the seed axis (K, ...).
  """
  space: spaces.Space
  model: nn.Module  # the plain (unscaled) supernet
  input_shape: tuple[int, int, int]
  num_classes: int
  seeds: list[int]
  variables: Any
  alpha: tree_util.Alpha
  probe_alpha: tree_util.Alpha
  data: scoring.ByIdentity | None  # the batch, where one is scored
  flops: tuple | None  # space.flops_table's, with a flops_penalty
  factor: scoring.ByIdentity | None  # the penalty g(alpha)


def _draw(config, space) -> _Draw:
  """Loads the batch and FLOPs, builds the supernet, draws every seed."""
  hw, num_classes = space.datasets[config.dataset]
  if space.input_size is not None:
    hw = space.input_size(config)
  input_shape = (hw, hw, 3)
  data = factor = flops = None
  # First: a missing data set fails at once.
  if objectives.needs_batch(config):
    data = scoring.ByIdentity(
        objectives.load_batch(config, input_shape, num_classes))
  if config.flops_penalty != 'none':
    flops = space.flops_table(config, num_classes)
    factor = scoring.ByIdentity(
        penalties.make_factor(config.flops_penalty, *flops))
  model = space.build(config, num_classes)
  seeds = [config.seed + i for i in range(config.num_seeds)]
  variables, alpha, probe_alpha = zeros.make_seeds_fn(
      model, input_shape, space.alpha_shapes, config.alpha_init,
      config.alpha_scale)(seeds)
  return _Draw(space, model, input_shape, num_classes, seeds, variables,
               alpha, probe_alpha, data, flops, factor)


def _attempt(config, draw: _Draw, dtype: str) -> scoring.Outcome:
  """Compiles the score in `dtype` and runs the schedule, guarded."""
  model = draw.model
  if dtype == dtypes.SCALED:
    model = draw.space.build(config, draw.num_classes, scaled=True)
  t = time.perf_counter()
  compiled = scoring.compiled_score(
      model, draw.input_shape, dtype, scoring.spec(draw.variables),
      scoring.spec(draw.alpha),
      ensemble.batch_size(config.ensemble_batch, len(draw.seeds)),
      config.objective, draw.data, draw.factor)
  compile_s = time.perf_counter() - t
  run = scoring.ScoringRun(compiled, draw.variables, draw.alpha,
                           draw.probe_alpha, dtype, draw.space, draw.seeds,
                           config.bn_mode)
  return run.run(config.schedule, compile_s)


def _score_with_fallback(config, draw: _Draw
                         ) -> tuple[scoring.Outcome, dict | None]:
  """Scores in each of dtypes.attempts in turn until one passes the guards.

  Returns:
    The outcome and, where an earlier dtype tripped a guard, what it was
    ({'from': dtype, 'reason': guard code, 'message': its text}).

  Raises:
    errors.GuardError: the last dtype tripped too.
  """
  *earlier, last = dtypes.attempts(config, draw.space)
  fallback = None
  for dtype in earlier:  # dtype=auto's float32 try
    try:
      return _attempt(config, draw, dtype), fallback
    except guards.Tripped as e:
      if not e.float64_helps:
        raise
      logging.warning('%s Re-running in float64 (dtype=auto).', e)
      fallback = {'from': dtype, 'reason': e.reason, 'message': str(e)}
  try:
    return _attempt(config, draw, last), fallback
  except guards.Tripped as e:
    if fallback:
      raise errors.GuardError(
          f'{fallback["message"]} The float64 re-run failed too: {e}') from e
    raise


def _round_json(record: dict, space, b: int) -> Round:
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


def _chosen_fields(config, draw: _Draw, rounds: list[dict]
                   ) -> tuple[dict, object]:
  """The chosen cell's fields (the consensus with K > 1) and that cell.

  With a size budget (config.budget_metric) each seed's choice is
  search/budget.py's exact best within it, and the fields record it.
  """
  space, last = draw.space, rounds[-1]
  limit = budget.from_config(space, config)
  choices = [budget.choose(space, limit, budget.steps(rounds, b))
             for b in range(len(draw.seeds))]
  chosen, fields, consensus = choices[0].genotype, {}, None
  if draw.factor is not None:
    first = {k: np.asarray(a[0]) * last['mask'][k][0]
             for k, a in draw.alpha.items()}  # the first seed's scored alpha
    fields['penalty'] = penalties.describe(
        config.flops_penalty, first, float(last['r'][0]),
        {k: s[0] for k, s in last['scores'].items()}, *draw.flops)
  if len(draw.seeds) > 1:
    summary = ensemble.summarise(space, draw.seeds,
                                 [c.genotype for c in choices],
                                 rounds[0]['r'], budget.chooser(space, limit))
    chosen = consensus = summary['consensus_genotype']
    fields['ensemble'] = summary['ensemble']
  if limit is not None:
    fields['budget'] = budget.describe(space, limit, choices, len(rounds),
                                       consensus)
  fields.update(space.describe(chosen))
  fields['benchmark'] = space.benchmark(chosen) if space.benchmark else None
  return fields, chosen


def _result(config, draw: _Draw, outcome: scoring.Outcome,
            fallback: dict | None) -> tuple[Result, object]:
  """result.json's dict (timing's total and init left to the caller)."""
  space, rounds = draw.space, outcome.rounds
  chosen_fields, chosen = _chosen_fields(config, draw, rounds)
  result = {
      'space': space.name,
      'dataset': config.dataset,
      'seed': config.seed,
      'num_seeds': config.num_seeds,
      'dtype': outcome.dtype,
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
      **chosen_fields,
      'r': float(rounds[0]['r'][0]),
      'scores': {k: v[0].tolist() for k, v in rounds[-1]['scores'].items()},
      'rounds': [_round_json(r, space, 0) for r in rounds],
      'timing': {'compile_s': outcome.compile_s,
                 'score_s': outcome.score_s, 'guard_s': outcome.guard_s},
      'device': runtime.device(),
      'versions': runtime.versions(),
      'config': config.to_dict(),
  }
  return result, chosen


def run_search(config: ml_collections.ConfigDict, workdir=None,
               overwrite: bool = False) -> Result:
  """Scores the supernet (ZEROS, snip or grasp) and turns it into a cell.

  float64 (`jax_enable_x64`) is on inside this call only.

  Args:
    config: a search config (configs/nb201.py documents the fields).
    workdir: where result.json goes; None writes nothing.
    overwrite: replace an existing workdir/result.json.

  Returns:
    The result dict that result.json holds (`Result`).

  Raises:
    errors.FreeDartsError: a bad config value, an existing result, or a
      guard that tripped (in float64 too, with dtype=auto).
  """
  t_start = time.perf_counter()
  space = checks.check(config)
  if workdir is not None:
    runtime.check_workdir(workdir, overwrite)
  with jax.enable_x64(True):
    t = time.perf_counter()
    draw = _draw(config, space)
    init_s = time.perf_counter() - t
    outcome, fallback = _score_with_fallback(config, draw)
    result, chosen = _result(config, draw, outcome, fallback)
  result['timing'] = {'init_s': init_s, **result['timing'],
                      'total_s': time.perf_counter() - t_start}
  if workdir is not None:
    _write(result, space, chosen, pathlib.Path(workdir))
  return result


def _write(result: Result, space, chosen, workdir: pathlib.Path) -> None:
  """Writes the artifacts and result.json; result['written'] says where.

  A folder that cannot be written any more (removed, full) loses the
  artifacts, which the result can rebuild, but never the result: it goes to
  runtime.save_json's fallback file.
  """
  if space.write_artifacts:
    try:
      result['artifacts'] = space.write_artifacts(chosen, workdir)
    except OSError as e:
      logging.warning('could not write the artifacts in %s: %s', workdir, e)
  result['written'] = str(runtime.save_json(runtime.result_path(workdir),
                                            result))
