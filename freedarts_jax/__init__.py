"""freedarts_jax: training-free DARTS (FreeDARTS) and its score ZEROS in JAX.

Importing the package turns on JAX's float64 support (`jax_enable_x64`):
float64 must be available for scores that overflow or underflow in float32,
and JAX only allows the switch before any array exists. Every array the
package creates has an explicit dtype, so float32 work stays float32.
"""

import jax

jax.config.update('jax_enable_x64', True)

__version__ = '0.1.0'
