"""The PyTorch peer's GPU figures: the NB201 ZEROS scorer and synflow loop.

  python benchmarks/peer_gpu.py --out=DIR [--small]

On cuda when torch sees a GPU, else on the CPU. (1) The NB201 supernet ZEROS
scorer (torch_ref.zeros_scorer: alpha-weighted mixed edges, |theta|, one
all-ones image, R = sum of logits, |alpha * dR/dalpha|; BatchNorm in train
mode, alpha = |1e-3 N(0, 1)|) per call, float32 and float64; (2) the per-cell
synflow loop (torch_ref.synflow: per cell, build its network without
BatchNorm in float64 and score it) in cells per second. --small: toy sizes
(C=4, N=1, 3 cells, 2 calls), for the test suite. Writes DIR/peer_gpu.json
(date, machine, device, torch version, load average). The freedarts_jax
figures to compare with: benchmarks/score_speed.py and proxy_nb201.py, which
benchmarks/gpu_check.sh runs in the same job.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import torch_ref  # noqa: E402  pylint: disable=wrong-import-position


def _sync(device):
  if device.type == 'cuda':
    torch.cuda.synchronize()


def zeros_per_call(device, dtype, size, calls) -> dict:
  """Median and min seconds of one ZEROS call of the NB201 supernet."""
  net = torch_ref.supernet(**size).to(device=device, dtype=dtype).train()
  score = torch_ref.zeros_scorer(net, (3, 32, 32))
  gen = torch.Generator().manual_seed(0)
  alpha = (1e-3 * torch.randn(6, 5, generator=gen)).abs().to(device, dtype)
  score(alpha)  # warm-up
  times = []
  for _ in range(calls):
    _sync(device)
    t = time.perf_counter()
    out = score(alpha)
    _sync(device)
    times.append(time.perf_counter() - t)
  return {'median_s': statistics.median(times), 'min_s': min(times),
          'calls': calls, 'zeros_sum': float(out.detach().sum())}


def synflow_loop(device, size, cells) -> dict:
  """Cells per second of the per-cell synflow loop (float64)."""
  gen = torch.Generator().manual_seed(0)
  archs = []
  for _ in range(cells + 1):
    ops = [torch_ref.OPS[int(i)] for i in torch.randint(5, (6,),
                                                        generator=gen)]
    archs.append('|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|'.format(*ops))
  torch_ref.synflow(torch_ref.cell_network(archs[0], bn=False, **size).to(
      device), (3, 32, 32))  # warm-up
  _sync(device)
  t = time.perf_counter()
  for arch in archs[1:]:
    net = torch_ref.cell_network(arch, bn=False, **size).to(device)
    torch_ref.synflow(net, (3, 32, 32))
  _sync(device)
  seconds = time.perf_counter() - t
  return {'cells': cells, 'seconds': seconds, 'cells_per_s': cells / seconds}


def main() -> None:
  """Times the peer's ZEROS scorer and synflow loop; writes --out."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='output folder')
  parser.add_argument('--small', action='store_true', help='toy sizes')
  args = parser.parse_args()
  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  size = ({'channels': 4, 'cells_per_stage': 1} if args.small
          else {'channels': 16, 'cells_per_stage': 5})
  calls, cells = (2, 3) if args.small else (50, 200)
  record = {
      'date': datetime.datetime.now(datetime.UTC).isoformat(
          timespec='seconds'),
      'machine': platform.machine(), 'host': platform.node(),
      'torch': torch.__version__, 'device': (
          torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'),
      'threads': torch.get_num_threads(), 'small': args.small,
      'network': size, 'loadavg_before': os.getloadavg()}
  record['zeros_per_call'] = {
      name: zeros_per_call(device, dtype, size, calls)
      for name, dtype in (('float32', torch.float32),
                          ('float64', torch.float64))}
  record['synflow_loop'] = synflow_loop(device, size, cells)
  record['loadavg_after'] = os.getloadavg()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / 'peer_gpu.json').write_text(json.dumps(record, indent=1) + '\n')
  print(json.dumps({k: record[k] for k in ('device', 'zeros_per_call',
                                           'synflow_loop')}))


if __name__ == '__main__':
  main()
