"""Zero-cost proxy benchmark CLI: rank NAS-Bench-201 cells with every proxy.

  python -m freedarts_jax.proxy_bench --config=configs/proxy_nb201.py \
      --workdir=DIR [--config.proxies=synflow,zeros] [--config.limit=1000]

Several processes (one per host): add --num_processes=P --process_id=I
--coordinator_address=HOST:PORT; each scores every P-th chunk and process 0
writes the outputs. Stopped runs resume from DIR/partial/.
"""

from absl import flags
import jax

from freedarts_jax import cli
from freedarts_jax import runtime
from freedarts_jax.proxies import bench
from freedarts_jax.proxies import report

_FLAGS = cli.define_run_flags('proxy_nb201.py', 'Output folder.',
                              'Replace an existing DIR/result.json.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'jax.distributed coordinator HOST:PORT.')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Processes in a jax.distributed run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None,
                                   'This process in a jax.distributed run.')


def main(argv):
  """Runs the proxy benchmark of --config and prints its report."""
  config = _FLAGS.parsed_config(argv)
  if _NUM_PROCESSES.value or _COORDINATOR.value:
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                               _PROCESS_ID.value)
  runtime.enable_compilation_cache()
  result = bench.run_proxy_bench(config, _FLAGS.workdir.value,
                                 _FLAGS.overwrite.value)
  if result is not None:
    print(report.markdown(result['correlations'], result, result['timing']))
    print(f'wrote {result["written"]}')


if __name__ == '__main__':
  cli.run(main)
