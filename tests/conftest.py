"""Shared test helpers: tiny configs (C=4, one cell per stage).

The tests run with float64 on (`jax_enable_x64`), switched on here before
any array exists: many compare against a float64 reference or call the
score functions in float64 themselves. Importing freedarts_jax does not
switch it on (tests/x64_test.py holds that); run_search, run_proxy_bench and
the theory run switch it on for their own duration, which the tests that
turn it off around them check.

Every test process (and the CLIs the tests start, which inherit the
environment) compiles with XLA's LLVM optimisation off and with XLA CPU's
elemental emitter instead of its MLIR fusion emitters: compiling the
supernets' gradients dominates the suite's time on a 2-core CPU, and the
tests need the numbers, not fast code. At optimisation level 0 the fusion
emitters are most of a DARTS supernet's compile (1,704 fusions at about
60 ms each; a 3-cell float64 train-mode score 75 s -> 48 s, the suite 40 ->
31-35 minutes: benchmarks/RESULTS.md); at the default level they are the
faster choice, so the package keeps them. XLA reads XLA_FLAGS when the
backend starts, i.e. at the first computation, after this module is
imported.
"""

import os
import pathlib

FAST_COMPILE = ('--xla_backend_optimization_level=0 '
                 '--xla_llvm_disable_expensive_passes=true '
                 '--xla_cpu_use_fusion_emitters=false')
os.environ['XLA_FLAGS'] = (
    f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip())
# The tests' executables and traced scores (compiled with the flags above,
# so never a user's) go to the repository's .pytest_cache, not the user's
# ~/.cache/freedarts_jax, unless FREEDARTS_CACHE_DIR says where.
os.environ.setdefault('FREEDARTS_CACHE_DIR', str(
    pathlib.Path(__file__).resolve().parents[1] / '.pytest_cache' /
    'freedarts_jax'))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

jax.config.update('jax_enable_x64', True)  # see the module docstring

from configs import nb201 as nb201_config
from freedarts_jax import tree_util
from freedarts_jax import zeros


def tiny_config(**overrides) -> ml_collections.ConfigDict:
  config = nb201_config.get_config()
  config.channels = 4
  config.cells_per_stage = 1
  config.update(overrides)
  return config


@pytest.fixture
def tiny():
  return tiny_config


def assert_scaled_equals_plain(plain, scaled, input_shape, alpha_shapes,
                               weight_factor: float = 1.0) -> None:
  """The scaled supernet's logits equal the plain one's in float64.

  On |theta| (times weight_factor) and one all-ones input, the `scaled`
  supernet's logits * 2**log2_scale + bias equal `plain`'s.
  """
  variables, alpha = zeros.make_init_fn(
      plain, input_shape, alpha_shapes, 'normal', 1e-3)(jax.random.key(1))
  theta = tree_util.linearise(tree_util.cast(variables, jnp.float64))
  theta = jax.tree.map(lambda v: weight_factor * v, theta)
  x = jnp.ones((1, *input_shape), jnp.float64)
  a = tree_util.cast(alpha, jnp.float64)
  out = scaled.apply(theta, x, a)
  assert int(out.log2_scale) != 0  # the test exercises the scaling
  np.testing.assert_allclose(
      np.ldexp(np.asarray(out.logits), int(out.log2_scale)) + out.bias,
      plain.apply(theta, x, a), rtol=1e-12)
