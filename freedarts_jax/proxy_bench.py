"""`python -m freedarts_jax.proxy_bench`: an alias of the proxies' CLI.

The CLI is in freedarts_jax/proxies/__main__.py.
"""

from freedarts_jax import cli
from freedarts_jax.proxies.__main__ import main

if __name__ == '__main__':
  cli.run(main)
