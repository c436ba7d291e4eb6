"""Numerical guards: scores that must never choose an op.

Each check raises GuardError with a `reason` code and a message that says what
happened and which setting to change. Thresholds:

- nonfinite: any NaN or Inf in R or in a score.
- zero_row: an edge on which every remaining candidate other than 'none'
  scores exactly 0 (argmax would pick 'none' or an arbitrary op).
- underflow: a remaining candidate's score is subnormal (0 < |s| < the
  dtype's smallest normal number): precision is gone, the ranking is noise.
- r_constant: R does not change when alpha does. alpha is multiplied entry by
  entry by 1 +- 0.5 (random signs); if |R' - R| <= R_RTOL[dtype] * |R|
  (`dtypes.R_RTOL`) the output does not depend on the architecture weights
  (the release's DARTS failure: train-mode BatchNorm on one image zeroes the
  pooled features) and the gradient is rounding noise. The search compares
  its first round's R with one extra call on the perturbed alpha.
"""

import numpy as np

from freedarts_jax import dtypes
from freedarts_jax import errors

_ADVICE = {
    'nonfinite': 'float32 overflow or underflow of the linearised product '
                 "(or alpha_init=ones, the release's failing run); use "
                 '--config.dtype=float64 (or auto), or alpha_init=normal',
    'zero_row': 'the gradient vanished (underflow, or an output that does '
                'not depend on this edge); use --config.dtype=float64 (or '
                'auto), alpha_init=normal, or another bn_mode',
    'underflow': 'scores fell below the smallest normal number of the dtype; '
                 'use --config.dtype=float64 (or auto)',
    'r_constant': "the cells' share of R shrinks like alpha_scale to the "
                  'power of the depth when BatchNorm does not renormalise: '
                  'raise --config.alpha_scale (e.g. 1.0), or use '
                  '--config.bn_mode=train where the space allows it',
    'r_constant_train': 'with bn_mode=train on a single image every channel '
                        'is zero-mean after BatchNorm; where every path to the '
                        'classifier ends in one (the DARTS space, the '
                        "release's failure) the pooled features are exactly "
                        'zero: use --config.bn_mode=eval or none',
}


class Tripped(errors.GuardError):
  """A guard tripped; `reason` is one of the codes in the module docstring."""

  def __init__(self, reason: str, detail: str, dtype: str,
               advice: str | None = None, float64_helps: bool = True):
    self.reason = reason
    self.detail = detail
    self.dtype = dtype
    self.advice = advice or _ADVICE[reason]
    # False where the cause is exact, not rounding: dtype=auto then stops.
    self.float64_helps = float64_helps and dtype != 'float64'
    hint = (' In float32, --config.dtype=float64 (dtype=auto re-runs in '
            'float64 by itself) may recover it.' if self.float64_helps
            else '')
    super().__init__(
        f'guard "{reason}" tripped in {dtype}: {detail}. Refusing to choose '
        f'ops from these scores. What to change: {self.advice}.{hint}')


def check_scores(r: float, scores: dict[str, np.ndarray],
                 mask: dict[str, np.ndarray], ops: tuple[str, ...],
                 edge_labels: dict[str, tuple[str, ...]], dtype: str,
                 has_none: bool = True) -> None:
  """Raises Tripped if R or the scores of the remaining ops are unusable.

  R is in float64; the scores as the network computed them (for
  float32_scaled in units of 2**log2_scale), so that underflow is judged in
  the dtype that did the work. Scores may be signed (grasp); zero and
  subnormal are judged on their magnitude. has_none: column 0 is 'none',
  which scores 0 by construction and is not checked.
  """
  if not np.isfinite(r) or not all(np.isfinite(s).all()
                                   for s in scores.values()):
    raise Tripped('nonfinite', f'R = {r} or some scores are NaN/Inf', dtype)
  tiny = np.finfo(dtypes.COMPUTE_DTYPES[dtype]).tiny
  for name, s in scores.items():
    live = mask[name] > 0
    if has_none:
      live[:, 0] = False  # 'none' scores 0 by construction
    for e in range(s.shape[0]):
      row = np.abs(s[e][live[e]])
      where = f'edge {edge_labels[name][e]} of alpha "{name}"'
      if row.size and not row.any():
        cands = [ops[o] for o in np.flatnonzero(live[e])]
        raise Tripped('zero_row', f'every remaining candidate on {where} '
                      f'({", ".join(cands)}) scores 0', dtype)
      if ((row > 0) & (row < tiny)).any():
        raise Tripped('underflow', f'a score on {where} is subnormal '
                      f'({row[(row > 0) & (row < tiny)].min():.3g})', dtype)


def check_r_depends_on_alpha(r: float, r_perturbed: float, dtype: str,
                             bn_mode: str) -> None:
  """Raises Tripped('r_constant') if R did not move when alpha did."""
  if not (np.isfinite(r) and np.isfinite(r_perturbed)):
    raise Tripped('nonfinite', f'R = {r} (and {r_perturbed} with alpha '
                  'changed by 50%)', dtype)
  change = abs(r_perturbed - r)
  rtol = dtypes.R_RTOL[dtype]
  if change <= rtol * abs(r):
    raise Tripped(
        'r_constant', f'R = {r:.10g} and R = {r_perturbed:.10g} after '
        f'changing every alpha by 50% (relative change {change / abs(r):.2g}'
        f' <= {rtol:g})' if r else f'R = {r} for both alphas', dtype,
        _ADVICE['r_constant_train' if bn_mode == 'train' else 'r_constant'],
        float64_helps=bn_mode != 'train')
