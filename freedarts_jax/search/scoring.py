"""The device side of a search: K seeds' score compiled once, and its guards.

`compiled_score` compiles the score of K seeds ahead of time (a bounded
cache: a second search of the same shapes in the process reuses it).
`ScoringRun` drives `schedule.run` with it: each round is one call for all
seeds; round 0 also gives the baseline R of the guard that alpha matters
(`guards.check_r_depends_on_alpha`), so the guard costs one extra call, with
the perturbed alpha.
"""

import functools
import time
from typing import NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from freedarts_jax import dtypes
from freedarts_jax import exported
from freedarts_jax import runtime
from freedarts_jax import zeros
from freedarts_jax.search import guards
from freedarts_jax.search import objectives
from freedarts_jax.search import schedule

# Compiled scores kept per process (each holds its executable and any batch
# it closes over): a few configs, each with its dtype=auto fallback.
CACHE_SIZE = 8


class ByIdentity:
  """A cache key for an unhashable value (a batch, a function): its identity.

  `value` is the wrapped object.
  """

  def __init__(self, value):
    self.value = value


def spec(tree) -> tuple:
  """(treedef, leaves' ShapeDtypeStructs): a hashable stand-in for a tree."""
  leaves, treedef = jax.tree.flatten(tree)
  return treedef, tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves)


def _over_seeds(one, num: int, batch: int):
  """one(variables, alpha, mask) mapped over a leading seed axis.

  `batch` seeds at a time are vmapped (`jax.lax.map`). A single seed is
  scored by `one` itself, so that a one-seed search computes exactly what
  the score function does (a loop of one changes the last bits).
  """
  if num == 1:
    return lambda *args: jax.tree.map(
        lambda x: x[None], one(*jax.tree.map(lambda x: x[0], args)))
  return lambda *args: jax.lax.map(lambda a: one(*a), args, batch_size=batch)


def compiler_options(objective: str) -> dict[str, str] | None:
  """XLA's options for the search's compiled score of `objective`.

  ZEROS takes runtime's 'zeros' options on CPU; the snip and grasp
  objectives XLA's defaults (None).
  """
  if objective != 'zeros':
    return None
  return runtime.compiler_options(jax.default_backend(), 'zeros')


@functools.lru_cache(maxsize=CACHE_SIZE)
def compiled_score(model, input_shape: tuple[int, int, int], dtype: str,
                   variables_spec: tuple, alpha_spec: tuple, batch: int,
                   objective: str = 'zeros', data: ByIdentity | None = None,
                   factor: ByIdentity | None = None):
  """The score of K seeds compiled ahead of time, cached by its arguments.

  Args:
    model: the supernet (scaled for dtype float32_scaled).
    input_shape: (H, W, C).
    dtype: a config dtype (dtypes.COMPUTE_DTYPES' keys).
    variables_spec: `spec` of the variables, (K, ...) leaves.
    alpha_spec: `spec` of alpha, (K, edges, ops) leaves; also the masks'.
    batch: seeds vmapped at a time (ensemble.batch_size).
    objective: zeros, or snip / grasp on `data`'s labelled batch.
    data: ByIdentity of the (images, labels) batch; zeros scores its images
      (zeros_input=data) where given.
    factor: ByIdentity of a FLOPs penalty g(alpha) (zeros only).

  Returns:
    A compiled (variables, alpha, mask) -> zeros.Score with a leading seed
    axis on every leaf.
  """
  compute = jnp.dtype(dtypes.COMPUTE_DTYPES[dtype])
  if objective == 'zeros':
    one = zeros.make_score_fn(
        model, input_shape, compute,
        images=None if data is None else data.value[0],
        factor=None if factor is None else factor.value)
  else:
    one = objectives.make_objective_fn(objective, model, data.value, compute)
  alpha = jax.tree.unflatten(*alpha_spec)
  num = jax.tree.leaves(alpha)[0].shape[0]
  fn = _over_seeds(one, num, batch)
  args = (jax.tree.unflatten(*variables_spec), alpha, alpha)
  options = compiler_options(objective)
  t = time.perf_counter()
  if data is None and factor is None:  # nothing unnamed closed over
    compiled = exported.compile(
        fn, args, f'{type(model).__module__}.{model!r} {input_shape} '
        f'{dtype} {objective} batch={batch}', compiler_options=options)
  else:
    compiled = exported.compile_directly(fn, args, options)
  logging.info('compiled the %s %s score in %.1f s', dtype, objective,
               time.perf_counter() - t)
  return compiled


def _for_seed(seed: int, check, *args) -> None:
  """check(*args); a Tripped guard's message names the seed."""
  try:
    check(*args)
  except guards.Tripped as e:
    raise guards.Tripped(e.reason, f'seed {seed}: {e.detail}', e.dtype,
                         e.advice) from e


class Outcome(NamedTuple):
  """A finished search in one dtype."""
  dtype: str
  rounds: list[dict]  # schedule.run's records, (K, ...) arrays
  compile_s: float
  score_s: float  # every round's call
  guard_s: float  # the probe call and the checks of round 0's R


class ScoringRun:
  """One dtype's search: K seeds' compiled score, guarded, round by round.

  Args:
    compiled: (variables, alpha, masks) -> zeros.Score with a leading seed
      axis, e.g. `compiled_score`'s.
    variables: the K seeds' variables, (K, ...) leaves.
    alpha: (K, edges, ops) per alpha name; alpha stays on the device.
    probe_alpha: alpha perturbed for the guard (`zeros.perturb`).
    dtype: the config dtype scored in (for the guards' thresholds).
    space: the spaces.Space (ops, edge labels, alpha shapes, has_none).
    seeds: the K seeds, named in a tripped guard's message.
    bn_mode: the config's, for the guard's advice.

  Attributes:
    score_s, guard_s: seconds spent in the rounds' calls and in the probe.
  """

  def __init__(self, compiled, variables, alpha: zeros.Alpha,
               probe_alpha: zeros.Alpha, dtype: str, space,
               seeds: list[int], bn_mode: str):
    self.compiled, self.variables = compiled, variables
    self.alpha, self.probe_alpha = alpha, probe_alpha
    self.dtype, self.space, self.seeds = dtype, space, seeds
    self.bn_mode = bn_mode
    self.score_s = self.guard_s = 0.0
    self._baseline_checked = False
    self._bar = None

  def readout(self, alpha: zeros.Alpha, masks: dict) -> zeros.HostScore:
    """One call for every seed: R, raw and rescaled scores, (K, ...)."""
    masks = {k: jnp.asarray(m, jnp.float32) for k, m in masks.items()}
    out = jax.block_until_ready(self.compiled(self.variables, alpha, masks))
    return zeros.to_numpy(out)

  def score(self, masks: dict) -> tuple[np.ndarray, dict]:
    """schedule.run's callback: (K, E, O) masks -> R (K,), scores.

    Raises:
      guards.Tripped: R or the scores of a seed are unusable; on round 0
        also where R does not depend on alpha.
    """
    t = time.perf_counter()
    out = self.readout(self.alpha, masks)
    self.score_s += time.perf_counter() - t
    if not self._baseline_checked:
      self._check_alpha_matters(out.r, masks)
    space = self.space
    for b, seed in enumerate(self.seeds):
      _for_seed(seed, guards.check_scores, out.r[b],
                {k: s[b] for k, s in out.raw.items()},
                {k: m[b] for k, m in masks.items()}, space.ops,
                space.edge_labels, self.dtype, space.has_none)
    if not all(np.isfinite(s).all() for s in out.scores.values()):
      raise guards.Tripped(
          'nonfinite', 'scores times 2**log2_scale '
          f'({out.log2_scale.tolist()}) exceed float64', self.dtype)
    return out.r, out.scores

  def _check_alpha_matters(self, r: np.ndarray, masks: dict) -> None:
    """Round 0's R against R of the probe alpha, per seed."""
    t = time.perf_counter()
    r_probe = self.readout(self.probe_alpha, masks).r
    for b, seed in enumerate(self.seeds):
      _for_seed(seed, guards.check_r_depends_on_alpha, r[b], r_probe[b],
                self.dtype, self.bn_mode)
    self._baseline_checked = True
    self.guard_s += time.perf_counter() - t

  def on_round(self, i: int, record: dict) -> None:
    """schedule.run's per-round callback: a log line and the progress bar."""
    space = self.space
    removed = ', '.join(f'{space.edge_labels[k][e]}:{space.ops[o]}'
                        for k, e, o in record['removed'][0])
    logging.info('round %d: R = %.6g; removed %s', i, record['r'][0],
                 removed or 'nothing')
    if self._bar is not None:
      self._bar.update()

  def run(self, schedule_name: str, compile_s: float = 0.0) -> Outcome:
    """Runs the schedule; raises guards.Tripped where a guard trips."""
    shapes = self.space.alpha_shapes
    with tqdm.tqdm(total=schedule.num_rounds(schedule_name, shapes),
                   desc=f'scoring ({self.dtype})', unit='round',
                   disable=None) as self._bar:
      rounds = schedule.run(schedule_name, self.score, shapes,
                            len(self.seeds), self.on_round,
                            self.space.has_none)
    self._bar = None
    return Outcome(self.dtype, rounds, compile_s, self.score_s, self.guard_s)
