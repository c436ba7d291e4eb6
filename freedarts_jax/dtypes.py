"""The search's dtype policy: what config.dtype may be and what each runs.

- float32, float64 (`COMPUTE`): the supernet computes in that dtype; the
  proxy benchmark's synflow_dtype and zeros_dtype take these two.
- float32_scaled: the overflow-safe float32 path. A `scaled` supernet divides
  its state by a power of two before every cell (`layers.rescale`) and
  carries the exponent; exact only where the network is positively
  homogeneous (`scaled_refusal` says where it does not apply).
- auto: float32_scaled where it applies, else float32; float64 when a guard
  trips (`attempts`).

The guards' tolerances per dtype are here too (`R_RTOL`), so that a new
dtype is added in one place.
"""

SCALED = 'float32_scaled'  # the overflow-safe float32 path
AUTO = 'auto'
DTYPES = ('float32', 'float64', AUTO, SCALED)  # the values of config.dtype

COMPUTE = ('float32', 'float64')  # what a network computes in
# config.dtype -> the dtype the network computes in.
COMPUTE_DTYPES = {**{d: d for d in COMPUTE}, SCALED: 'float32'}

# Relative change of R below which R is taken as independent of alpha
# (guards.check_r_depends_on_alpha): about 100 units in the last place.
R_RTOL = {'float32': 1e-5, SCALED: 1e-5, 'float64': 1e-13}


def scaled_refusal(config, space) -> str | None:
  """Why float32_scaled does not apply to a search config; None where it does.

  The one rule for both the config check (which refuses dtype=float32_scaled
  with this reason) and dtype=auto (which then starts in plain float32).
  The scaled path scores the all-ones image or a batch (zeros_input=data)
  alike; what it cannot give is R itself inside the gradient.

  Args:
    config: a search config (configs/nb201.py documents the fields); its
      bn_mode, objective and flops_penalty are read.
    space: the config's `spaces.Space`.

  Returns:
    A sentence for a ConfigError, or None.
  """
  if config.bn_mode == 'train':
    return ('config.dtype=float32_scaled rescales the state before every '
            'cell, which leaves the scores exact only where the network is '
            'positively homogeneous: bn_mode=eval or none. With '
            'bn_mode=train BatchNorm renormalises every conv output instead; '
            'use dtype float32, float64 or auto there.')
  if config.objective != 'zeros':
    return (f'config.dtype=float32_scaled does not apply to objective='
            f'{config.objective}: it scales the logits by a power of two, '
            'and a cross-entropy needs the logits themselves. Use dtype '
            'float32, float64 or auto.')
  if not space.scalable:
    return (f'config.dtype=float32_scaled is not available in the '
            f'{space.name} space (its supernet has no rescaled path); use '
            'dtype float32, float64 or auto.')
  if config.flops_penalty != 'none':
    return (f'config.dtype=float32_scaled does not apply with flops_penalty='
            f'{config.flops_penalty}: the penalty multiplies R itself, not '
            'its scaled value. Use dtype float32, float64 or auto.')
  return None


def attempts(config, space) -> list[str]:
  """The dtypes a search tries, in order, each after the last one tripped.

  Args:
    config: a checked search config.
    space: its `spaces.Space`.

  Returns:
    [config.dtype]; for auto [float32_scaled where `scaled_refusal` allows
    it, else float32, then float64].
  """
  if config.dtype != AUTO:
    return [config.dtype]
  first = 'float32' if scaled_refusal(config, space) else SCALED
  return [first, 'float64']
