"""Times the MobileNet-space CLI search and records its peak memory.

  PYTHONPATH=. python benchmarks/mobilenet_cpu.py --workdir=/tmp/mb

Runs `python -m freedarts_jax.search --config=configs/mobilenet.py` as a child
process, measures its wall time and peak resident memory
(resource.getrusage(RUSAGE_CHILDREN).ru_maxrss) and writes
benchmarks/results/mobilenet_cpu.json with the provenance header and the
search's result fields (blocks, params, flops, timing). Further arguments are
config overrides passed to the search, e.g. the release's variant:

  PYTHONPATH=. python benchmarks/mobilenet_cpu.py --workdir=/tmp/mbv \
      --out=benchmarks/results/mobilenet_cpu_release_variant_synthetic.json \
      --config.zeros_input=data --config.flops_penalty=mul#log \
      --config.data=synthetic --config.batch_size=8
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import time

from benchmarks import common

ROOT = pathlib.Path(__file__).parent.parent


def main() -> None:
  """Times the MobileNet CLI search and writes its record to --out."""
  parser = argparse.ArgumentParser()
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--out', default=str(
      ROOT / 'benchmarks' / 'results' / 'mobilenet_cpu.json'))
  args, overrides = parser.parse_known_args()
  command = [sys.executable, '-m', 'freedarts_jax.search',
             f'--config={ROOT / "configs" / "mobilenet.py"}',
             f'--workdir={args.workdir}', *overrides]
  t = time.perf_counter()
  subprocess.run(command, check=True, cwd=ROOT)
  wall_s = time.perf_counter() - t
  peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
  result = json.loads((pathlib.Path(args.workdir) / 'result.json').read_text())
  record = {**common.provenance(), 'command': ' '.join(command[1:]),
            'wall_s': wall_s, 'peak_rss_mib': peak_kib / 1024,
            **{k: result[k] for k in ('blocks', 'params', 'flops', 'dtype',
                                      'bn_mode', 'r', 'timing', 'zeros_input',
                                      'flops_penalty', 'data')},
            **{k: result[k] for k in ('batch_size', 'meaningful', 'warning',
                                      'penalty') if k in result}}
  pathlib.Path(args.out).write_text(json.dumps(record, indent=1) + '\n')
  print(json.dumps(record, indent=1))


if __name__ == '__main__':
  main()
