"""freedarts_jax against a PyTorch reference on this CPU, in one run.

  python3 -m venv /work/peer-venv
  /work/peer-venv/bin/pip install -r benchmarks/requirements-peer.txt
  PYTHONPATH=. python benchmarks/peer_cpu.py \
      --peer_python=/work/peer-venv/bin/python \
      [--proxies=naswot,jacob_cov,grad_norm,snip,fisher] [--cells=4] \
      [--data_dtype=auto] [--train] [--train_steps=2] [--train_rounds=2] \
      [--name=peer_cpu] [--out=DIR]

Per proxy, the same NB201 cells (a seeded random subset of the table), a
batch of 64 Gaussian 32 px images, 2 threads: first freedarts_jax
(`proxies.get(name).make(Setup(data_dtype=--data_dtype))`, float32 but for
grasp and te_nas under 'auto', the dtype recorded per proxy; one cell per
compiled call; compile timed apart), then the PyTorch loop of
benchmarks/torch_ref.py in a subprocess of the peer interpreter (per cell:
build the cell's network with PyTorch's default init, score). The PyTorch
side also scores every cell with freedarts_jax's weights loaded: the record
keeps the largest relative difference of those values, and a proxy whose
difference exceeds --values_rtol fails the run (exit 1, after the record).
With --train, the DARTS-V2 training step
(benchmarks/train_speed.py against torch_darts.py; train_speed's --batch,
--channels and --layers, default 96, 36, 20), compiled once and timed in
alternating rounds of --train_steps steps a side. Writes
benchmarks/results/<name>.json: both figures, their ratio (PyTorch time /
freedarts_jax time: above 1, freedarts_jax is faster; wall time and
process CPU seconds, the figure a loaded machine distorts least; PyTorch
with OMP_WAIT_POLICY=PASSIVE), the load averages
around each side, machine, versions and date.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
import train_speed

from benchmarks import common
from freedarts_jax import cli
from freedarts_jax import data
from freedarts_jax import nb201_table
from freedarts_jax import proxies
from freedarts_jax import runtime
from freedarts_jax.proxies import bench

_PEER = flags.DEFINE_string(
    'peer_python', os.environ.get('PEER_PYTHON', ''),
    'Interpreter of the peer virtualenv (torch); default $PEER_PYTHON.')
_PROXIES = flags.DEFINE_list(
    'proxies', ['naswot', 'jacob_cov', 'grad_norm', 'snip', 'fisher'],
    'Proxies to time (also grasp, te_nas).')
_CELLS = flags.DEFINE_integer('cells', 4, 'Cells timed per proxy.')
_BATCH = flags.DEFINE_integer('proxy_batch', 64, 'Images per proxy batch.')
_TRAIN = flags.DEFINE_bool('train', False, 'Also time the training step.')
_TRAIN_STEPS = flags.DEFINE_integer(
    'train_steps', 2, 'Timed train steps a round, each side.', lower_bound=1)
_TRAIN_ROUNDS = flags.DEFINE_integer(
    'train_rounds', 2, 'Rounds of --train_steps, alternating the sides.',
    lower_bound=1)
_DTYPE = flags.DEFINE_enum(
    'data_dtype', 'auto', ['auto', 'float32', 'float64'],
    "freedarts_jax's proxies.Setup.data_dtype (auto: each proxy's own, "
    'float64 for grasp and te_nas); the PyTorch side is float32.')
_RTOL = flags.DEFINE_float(
    'values_rtol', 2e-2,
    "Largest relative difference allowed between the two sides' values "
    'with the same weights (float32 rounding, amplified by train-mode '
    'BatchNorm and second order: up to 8.6e-3 measured); a proxy over it '
    'is named and the run exits 1 after writing its record.')
_NAME = flags.DEFINE_string('name', 'peer_cpu', 'Record name.')


HERE = pathlib.Path(__file__).resolve().parent


def _peer(job: dict, folder: pathlib.Path) -> dict:
  """Runs one torch_ref.py job in the peer interpreter; its JSON result."""
  job = {**job, 'out': str(folder / 'peer_out.json'), 'threads': 2}
  path = folder / 'job.json'
  path.write_text(json.dumps(job))
  # Passive OpenMP waits: on a shared CPU, spinning threads slow PyTorch
  # many times over (and inflate its CPU seconds).
  env = {**os.environ, 'OMP_WAIT_POLICY': 'PASSIVE'}
  subprocess.run([_PEER.value, str(HERE / 'torch_ref.py'), str(path)],
                 check=True, cwd=HERE, env=env)
  return json.loads((folder / 'peer_out.json').read_text())


def _flat_variables(variables) -> dict[str, np.ndarray]:
  flat, _ = jax.tree_util.tree_flatten_with_path(variables)
  return {'/'.join(p.key for p in path): np.asarray(leaf, np.float32)
          for path, leaf in flat}


def _jax_proxy(name: str, indices, batch) -> dict:
  """freedarts_jax's per-cell time and values of one proxy."""
  setup = proxies.Setup(data_dtype=_DTYPE.value)
  variables, fn = bench.cell_scorer(name, setup, jax.random.key(0), batch)
  alphas = bench.one_hots(indices)
  t, c = time.perf_counter(), time.process_time()
  compiled = fn.lower(variables, alphas[0]).compile()
  out = {'dtype': bench.dtype_of(proxies.get(name), setup),
         'compile_s': time.perf_counter() - t,
         'compile_cpu_s': time.process_time() - c,
         'loadavg_before': os.getloadavg()}
  jax.block_until_ready(compiled(variables, alphas[0]))  # warm-up
  wall, cpu, values = [], [], []
  for a in alphas:
    t, c = time.perf_counter(), time.process_time()
    values.append(float(compiled(variables, a)))
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
  out.update({'per_cell_s': wall, 'cpu_s': cpu, 'values': values,
              'loadavg_after': os.getloadavg()})
  return out, variables


def _rel_diff(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _compare_proxy(name, indices, batch, folder) -> dict:
  jax_side, variables = _jax_proxy(name, indices, batch)
  np.savez(folder / 'weights.npz', **_flat_variables(variables))
  archs = [nb201_table.load().archs[int(i)] for i in indices]
  torch_side = _peer({'task': 'proxy', 'proxy': name, 'cells': archs,
                      'batch': str(folder / 'batch.npz'),
                      'weights': str(folder / 'weights.npz')}, folder)
  jax_s = statistics.median(jax_side['per_cell_s'])
  torch_s = statistics.median(torch_side['per_cell_s'])
  cpu_ratio = (statistics.median(torch_side.get('cpu_s', [np.nan]))
               / statistics.median(jax_side['cpu_s']))
  row = {'freedarts_jax': jax_side, 'pytorch': torch_side,
         'freedarts_jax_per_cell_s': jax_s, 'pytorch_per_cell_s': torch_s,
         'ratio': torch_s / jax_s, 'cpu_s_ratio': cpu_ratio,
         'max_rel_diff_same_weights': _rel_diff(
             jax_side['values'], torch_side['values_same_weights']),
         'cells': archs}
  row['values_agree'] = row['max_rel_diff_same_weights'] <= _RTOL.value
  print(f'{name}: freedarts_jax {jax_s:.3f} s/cell (compile '
        f'{jax_side["compile_s"]:.0f} s), PyTorch {torch_s:.3f} s/cell, '
        f'ratio {row["ratio"]:.2f} (CPU seconds {cpu_ratio:.2f}); same '
        f'weights: max relative difference '
        f'{row["max_rel_diff_same_weights"]:.1e}; load '
        f'{jax_side["loadavg_before"][0]:.1f}', flush=True)
  return row


def _compare_training(folder) -> dict:
  """The training step at train_speed.py's --batch, --channels, --layers.

  Compiled once, then --train_rounds rounds of --train_steps steps here
  followed by as many in the peer (a fresh process each round, after its
  own warm-up step), so that both sides see the same phases of a machine
  whose speed drifts; the ratio is of the medians over all rounds, and
  each round's own ratio is recorded beside it.
  """
  # pylint: disable=protected-access
  size = {'batch': train_speed._BATCH.value,
          'channels': train_speed._CHANNELS.value,
          'layers': train_speed._LAYERS.value}
  jax_side, one_step = train_speed.compiled_step(
      'float32', size['batch'], size['channels'], size['layers'])
  one_step()  # warm-up
  jax_s, torch_s, torch_cpu_s, rounds = [], [], [], []
  for _ in range(_TRAIN_ROUNDS.value):
    times, losses = zip(*[one_step() for _ in range(_TRAIN_STEPS.value)])
    peer = _peer({'task': 'train', 'steps': _TRAIN_STEPS.value, **size},
                 folder)
    rounds.append(statistics.median(peer['step_s'])
                  / statistics.median(times))
    jax_s += times
    torch_s += peer['step_s']
    torch_cpu_s += peer['cpu_s']
    print(f'round {len(rounds)}: freedarts_jax {statistics.median(times):.1f}'
          f' s a step, PyTorch {statistics.median(peer["step_s"]):.1f} s, '
          f'ratio {rounds[-1]:.2f}', flush=True)
  jax_side = train_speed.finish(jax_side, jax_s, losses[-1])
  torch_side = {**peer, 'step_s': torch_s, 'cpu_s': torch_cpu_s}
  row = {'freedarts_jax': jax_side, 'pytorch': torch_side, 'size': size,
         'freedarts_jax_images_per_s': jax_side['images_per_s'],
         'pytorch_images_per_s': size['batch']
                                 / statistics.median(torch_s),
         'round_ratios': rounds}
  row['ratio'] = (row['freedarts_jax_images_per_s']
                  / row['pytorch_images_per_s'])
  print(f'training step: freedarts_jax {row["freedarts_jax_images_per_s"]:.1f}'
        f' images/s (compile {jax_side["compile_s"]:.0f} s), PyTorch '
        f'{row["pytorch_images_per_s"]:.1f} images/s, ratio '
        f'{row["ratio"]:.2f} (rounds: '
        f'{", ".join(f"{r:.2f}" for r in rounds)})', flush=True)
  return row


def main(argv):
  """Runs the proxies (and --train) here and in the PyTorch peer."""
  del argv
  if not _PEER.value or not pathlib.Path(_PEER.value).exists():
    sys.exit('peer_cpu.py needs the PyTorch peer interpreter: make it with '
             '`python3 -m venv /work/peer-venv && /work/peer-venv/bin/pip '
             'install -r benchmarks/requirements-peer.txt`, then pass '
             f'--peer_python=/work/peer-venv/bin/python (got '
             f'{_PEER.value!r}).')
  for name in _PROXIES.value:
    proxies.get(name)  # an unknown name fails here, before any compile
  setup = proxies.Setup()
  indices = np.sort(np.random.default_rng(0).choice(
      nb201_table.SIZE, _CELLS.value, replace=False))
  x, y = data.gaussian_batch(jax.random.key(1), _BATCH.value,
                             setup.input_shape, setup.num_classes)
  record = {**common.provenance(), 'loadavg_start': os.getloadavg(),
            'batch': _BATCH.value, 'threads': 2,
            'data_dtype': _DTYPE.value, 'pytorch_dtype': 'float32',
            'xla_flags': os.environ.get('XLA_FLAGS', ''), 'proxies': {}}
  with tempfile.TemporaryDirectory() as tmp:
    folder = pathlib.Path(tmp)
    np.savez(folder / 'batch.npz', x=x, y=y)
    for name in _PROXIES.value:
      record['proxies'][name] = _compare_proxy(name, indices, (x, y), folder)
    if _TRAIN.value:
      record['training'] = _compare_training(folder)
  record['loadavg_end'] = os.getloadavg()
  record['values_rtol'] = _RTOL.value
  out = pathlib.Path(train_speed._OUT.value)  # pylint: disable=protected-access
  runtime.write_json(out / f'{_NAME.value}.json', record)
  differ = [f'{name} ({row["max_rel_diff_same_weights"]:.1e})'
            for name, row in record['proxies'].items()
            if not row['values_agree']]
  if differ:
    sys.exit(f'the two sides differ by more than --values_rtol='
             f'{_RTOL.value:g} with the same weights: {", ".join(differ)}')


if __name__ == '__main__':
  cli.run(main)  # float64 on, as in the proxy benchmark (naswot's logdet)
