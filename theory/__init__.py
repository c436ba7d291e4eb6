"""theory: checks the NTK claim behind ZEROS (docs/design.md section 6).

Imports freedarts_jax (which turns on float64); freedarts_jax never imports
theory. neural-tangents is loaded through `theory.nt_compat.load()`.
"""

import freedarts_jax  # noqa: F401  (float64 before any array exists)
