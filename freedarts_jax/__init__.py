"""freedarts_jax: training-free DARTS (FreeDARTS) and its score ZEROS in JAX.

Importing the package changes no JAX setting. float64 (`jax_enable_x64`),
which scores that overflow or underflow float32 need, is switched on by the
CLIs (`cli.run`) and, for their duration, by `search.driver.run_search`,
`proxies.bench.run_proxy_bench` and `theory.verify_ntk_lib.run`
(`jax.enable_x64(True)`). Code that calls the score functions itself with
float64 switches it on first: `jax.config.update('jax_enable_x64', True)`.
"""

__version__ = '0.1.0'
