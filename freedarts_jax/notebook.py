"""Helpers behind the notebooks in notebooks/: settings, backend, plots.

The notebooks are short calls into this module and the package's library
functions (`driver.run_search`, `train.loop.run_training`,
`bench.run_proxy_bench`, `theory.verify_ntk_lib.run`), so that the logic
is tested here and not pasted into cells.

The small setting: with the environment variable FREEDARTS_SMALL=1 every
notebook shrinks to a CPU-sized run (tiny supernets, few seeds, few cells,
a few training steps); the tests execute the notebooks that way.

float64: the library functions the notebooks call switch `jax_enable_x64` on
for their own duration, so nothing here changes the notebook's JAX settings.
TPUs have no float64: on a TPU the searches and proxies run in float32 (the
overflow-safe float32_scaled path where it is exact) and rely on the guards,
which stop a search whose float32 scores cannot be trusted instead of
falling back to float64.
"""

import dataclasses
import io
import os
import pathlib

import jax
import matplotlib.figure
import ml_collections
import numpy as np

from configs import darts as darts_config
from configs import nb201 as nb201_config
from configs import proxy_nb201 as proxy_config
from configs import train_cifar10 as train_config
from freedarts_jax import data
from freedarts_jax import dtypes
from freedarts_jax import nb201_table
from freedarts_jax import runtime
from freedarts_jax import spaces

SMALL_ENV = 'FREEDARTS_SMALL'  # 1: CPU-sized runs (the tests set it)
WORKDIR_ENV = 'FREEDARTS_WORKDIR'  # where the notebooks write ('runs/nb')

# The release's NB201 scorer re-run, seeds 0-4, CIFAR-10 shape (docs/design.md
# section 5), and this project's seeds 0-9 (benchmarks/RESULTS.md).
RELEASE = {'cifar10_test': (93.52, 0.16), 'cifar100_test': (70.83, 0.36),
           'imagenet16_test': (44.29, 2.43)}
PROJECT_SEEDS_0_9 = {'cifar10_test': (93.50, 0.09),
                     'cifar100_test': (70.67, 0.78),
                     'imagenet16_test': (45.02, 1.16)}
NB201_OPTIMUM = {'cifar10_test': 94.37, 'cifar100_test': 73.51,
                 'imagenet16_test': 47.31}


def small() -> bool:
  """True when FREEDARTS_SMALL is set to 1 (or true/yes)."""
  return os.environ.get(SMALL_ENV, '').strip().lower() in ('1', 'true', 'yes')


def workdir(name: str) -> pathlib.Path:
  """A new folder name under $FREEDARTS_WORKDIR (default runs/nb).

  The name carries the time, so running a notebook again never meets the
  previous run's result.json or training checkpoints.
  """
  return runtime.fresh_workdir(os.environ.get(WORKDIR_ENV, 'runs/nb'), name)


@dataclasses.dataclass(frozen=True)
class Backend:
  """What the notebooks run on.

  Attributes:
    platform: 'TPU', 'GPU' or 'CPU'.
    device_kind: e.g. 'TPU v2', 'NVIDIA H200', 'cpu'.
    count: local devices.
    float64: whether the platform computes in float64 (TPUs do not).
  """

  platform: str
  device_kind: str
  count: int
  float64: bool

  def describe(self) -> str:
    """One paragraph: the backend and the dtype the notebooks use there."""
    text = (f'Backend: {self.platform} ({self.count} x {self.device_kind}).')
    if self.float64:
      return text + (' Searches use dtype=auto: float32 first, float64 again '
                     'if a guard trips.')
    return text + (' TPUs have no float64, so the searches and proxies run in '
                   'float32 (float32_scaled where it is exact) and rely on '
                   'the guards: a float32 score that overflowed, underflowed '
                   'or lost alpha stops the search with an error instead of '
                   'choosing.')


def _platform(name: str) -> str:
  name = name.lower()
  if name == 'tpu':
    return 'TPU'
  if name in ('gpu', 'cuda', 'rocm'):
    return 'GPU'
  return 'CPU'


def backend() -> Backend:
  """The default JAX backend, named TPU, GPU or CPU."""
  devices = jax.local_devices()
  platform = _platform(jax.default_backend())
  return Backend(platform, devices[0].device_kind, len(devices),
                 float64=platform != 'TPU')


def search_dtype(config: ml_collections.ConfigDict, be: Backend) -> str:
  """dtype for a search config: auto, or on TPU its float32 first try."""
  if be.float64:
    return 'auto'
  return dtypes.attempts(config, spaces.get(config.space))[0]


def nb201_search_config(be: Backend, is_small: bool
                        ) -> ml_collections.ConfigDict:
  """The quickstart's search: 32 seeds (small: 3 seeds, C=4, N=1)."""
  c = nb201_config.get_config()
  c.num_seeds = 32
  if is_small:
    c.num_seeds, c.channels, c.cells_per_stage = 3, 4, 1
  c.dtype = search_dtype(c, be)
  return c


def darts_search_config(be: Backend, is_small: bool
                        ) -> ml_collections.ConfigDict:
  """The DARTS-space search: 8 cells, C=16 (small: 3 cells, C=4)."""
  c = darts_config.get_config()
  if is_small:
    c.channels, c.layers, c.depthwise = 4, 3, 'conv'
  c.dtype = search_dtype(c, be)
  return c


def cifar10_prepared(data_dir: str = '') -> bool:
  """Whether the training pipeline can read cifar10 from data_dir.

  tfds, prepared as array_record; never downloads.
  """
  try:
    data.open_split('cifar10', 'train', data_dir)
  except data.Unavailable:
    return False
  return True


def train_config_for(genotype: str, is_small: bool, data_dir: str = '',
                     num_devices: int | None = None
                     ) -> ml_collections.ConfigDict:
  """A short training run of `genotype` (a result.json path or text).

  CIFAR-10 when tfds has it prepared, else synthetic images. Default: the
  DARTS evaluation network (C=36, 20 cells) for 1 epoch of at most 50
  steps; small: C=4, 3 cells, 2 steps of 8 synthetic images. Both batch
  sizes are rounded up to a multiple of the devices the batch is split over
  (default: every local device; a Colab TPU has 8).
  """
  c = train_config.get_config()
  c.genotype = genotype
  c.data_dir = data_dir
  c.epochs = 1
  c.steps_per_epoch = 50
  c.log_every = 10
  if is_small or not cifar10_prepared(data_dir):
    c.dataset = 'synthetic'
  if is_small:
    c.channels, c.layers = 4, 3
    c.synthetic_examples, c.batch_size, c.eval_batch_size = 16, 8, 8
    c.log_every = 1
  n = num_devices or jax.local_device_count()
  c.batch_size = -(-c.batch_size // n) * n
  c.eval_batch_size = -(-c.eval_batch_size // n) * n
  c.synthetic_examples = max(c.synthetic_examples, 2 * c.batch_size)
  return c


def full_training_command(genotype_path: str) -> str:
  """The command of the 600-epoch CIFAR-10 run of a found genotype."""
  return ('python -m freedarts_jax.train --config=configs/train_cifar10.py '
          f'--config.genotype={genotype_path} --config.data_dir=DATA '
          '--workdir=runs/train-cifar10')


def proxy_bench_config(be: Backend, is_small: bool
                       ) -> ml_collections.ConfigDict:
  """Proxies on a random subset of NB201 (1000 cells; small: 12 tiny)."""
  c = proxy_config.get_config()
  c.proxies = 'synflow,zeros,grad_norm,naswot,params,flops'
  c.limit = 1000
  c.progress = False
  if is_small:
    c.proxies, c.limit = 'synflow,zeros,params', 12
    c.channels, c.cells_per_stage, c.chunk = 4, 1, 4
  if not be.float64:
    c.synflow_dtype = c.zeros_dtype = 'float32'
  return c


def theory_config(is_small: bool) -> ml_collections.ConfigDict:
  """The NTK op-level experiment (one draw; small: the smoke sizes)."""
  # pylint: disable=g-import-not-at-top
  from configs import theory_nb201
  from configs import theory_smoke
  c = (theory_smoke if is_small else theory_nb201).get_config()
  c.experiments = 'op'
  c.op_seeds = 1
  return c


def run_theory(config: ml_collections.ConfigDict, folder) -> dict:
  """theory.verify_ntk_lib.run on the CPU device, whatever the backend.

  The NTK check computes in float64 (tiny networks: the CPU is fast enough),
  which TPUs do not have.
  """
  from theory import verify_ntk_lib  # pylint: disable=g-import-not-at-top
  with jax.default_device(jax.devices('cpu')[0]):
    return verify_ntk_lib.run(config, folder)


def training_summary(result: dict) -> str:
  """The short training run in one line."""
  rate = result['images_per_s']
  return (f'{result["dataset"]}: {result["epochs"]} epoch(s) of '
          f'{result["steps_per_epoch"]} steps, {result["params"]:,} '
          f'parameters, test accuracy {result["final_acc"]:.2f} % '
          f'(loss {result["final_loss"]:.3f}), '
          + (f'{rate:,.0f} images/s, ' if rate else '')
          + f'{result["timing"]["total_s"]:.0f} s in all')


def win_frequencies(result: dict, name: str = 'cell') -> np.ndarray:
  """(edges, ops) share of the ensemble's seeds that kept each op."""
  wins = np.asarray(result['ensemble']['wins'][name], np.float64)
  return wins / len(result['ensemble']['seeds'])


def plot_scores(result: dict, name: str = 'cell') -> matplotlib.figure.Figure:
  """Heat map of log10 of the last round's scores, per edge and op."""
  scores = np.asarray(result['scores'][name], np.float64)
  with np.errstate(divide='ignore'):
    logs = np.where(scores > 0, np.log10(np.where(scores > 0, scores, 1)),
                    np.nan)
  fig = matplotlib.figure.Figure(figsize=(7, 0.45 * len(scores) + 1.5))
  ax = fig.subplots()
  im = ax.imshow(logs, cmap='viridis', aspect='auto')
  _label_grid(ax, result['ops'], result['edges'][name])
  for (i, j), v in np.ndenumerate(scores):
    ax.text(j, i, f'{v:.2g}' if v > 0 else '0', ha='center', va='center',
            fontsize=7, color='w')
  fig.colorbar(im, ax=ax, label='log10 score (blank: 0 or pruned)')
  ax.set_title(f'Scores of the last round ({name})')
  fig.tight_layout()
  return fig


def plot_wins(result: dict, name: str = 'cell') -> matplotlib.figure.Figure:
  """Per edge, the share of seeds whose cell kept each op (stacked bars)."""
  freq = win_frequencies(result, name)
  fig = matplotlib.figure.Figure(figsize=(8, 3.5))
  ax = fig.subplots()
  bottom = np.zeros(len(freq))
  labels = result['edges'][name]
  for j, op in enumerate(result['ops']):
    ax.bar(labels, freq[:, j], bottom=bottom, label=op)
    bottom += freq[:, j]
  ax.set_ylabel('share of seeds')
  ax.set_xlabel('edge')
  ax.set_title(f'Op wins over {len(result["ensemble"]["seeds"])} seeds')
  ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc='upper left')
  fig.tight_layout()
  return fig


def _label_grid(ax, ops, edges) -> None:
  ax.set_xticks(range(len(ops)), ops, rotation=30, ha='right', fontsize=8)
  ax.set_yticks(range(len(edges)), edges, fontsize=8)


def compare_with_release(result: dict) -> str:
  """The ensemble's NB201 accuracies next to the release's and ours."""
  stats = result['ensemble']['benchmark_stats']
  bench = result['benchmark']
  k = len(result['ensemble']['seeds'])
  header = (f'{"":15} {"this run, " + str(k) + " seeds":>22} '
            f'{"consensus cell":>15} {"release (0-4)":>15} '
            f'{"project (0-9)":>15} {"optimum":>8}')
  lines = [header]
  for label, col in nb201_table.ACCURACIES.values():
    s, r, p = stats[col], RELEASE[col], PROJECT_SEEDS_0_9[col]
    lines.append(
        f'{label:15} {s["mean"]:>14.2f} +- {s["std"]:4.2f} {bench[col]:>15.2f}'
        f' {r[0]:>8.2f} +- {r[1]:4.2f} {p[0]:>8.2f} +- {p[1]:4.2f} '
        f'{NB201_OPTIMUM[col]:>8.2f}')
  return '\n'.join(lines)


def size_comparison(result: dict) -> str:
  """The found genotype's evaluation network size next to DARTS-V2's."""
  ratio = result['eval_params'] / result['darts_v2_params']
  return (f'{result["eval_network"]}: {result["eval_params"]:,} parameters; '
          f'DARTS-V2: {result["darts_v2_params"]:,} ({ratio:.2f}x)')


def plot_images(paths, titles=None) -> matplotlib.figure.Figure:
  """PNG files side by side (e.g. a DARTS result's normal.png, reduce.png)."""
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  paths = [pathlib.Path(p) for p in paths]
  fig = matplotlib.figure.Figure(figsize=(6 * len(paths), 4))
  axes = np.atleast_1d(fig.subplots(1, len(paths)))
  for ax, path, title in zip(axes, paths, titles or [p.stem for p in paths]):
    ax.imshow(matplotlib.image.imread(path))
    ax.set_title(title)
    ax.axis('off')
  fig.tight_layout()
  return fig


def theory_verdict(report: dict) -> str:
  """One line per bound quantity: the op-level claim's verdict and tau."""
  corr = report['op']['correlations']
  lines = []
  for target, meaning in (('dB', 'rise of the bound B'),
                          ('dlambda_min', 'change of lambda_min')):
    c = corr[f'zeros_vs_{target}/pooled']
    k = c['kendall']
    lines.append(f'ZEROS vs {meaning}: Kendall tau {k["tau"]:+.2f} '
                 f'(p = {k["p"]:.2g}, n = {c["n"]}, expected sign '
                 f'{c["expected_sign"]:+d}): {c["verdict"]}')
  return '\n'.join(lines)


def show(fig: matplotlib.figure.Figure) -> None:
  """Displays a figure as a PNG in the notebook (whatever the backend)."""
  from IPython import display  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=90)
  display.display(display.Image(data=buf.getvalue(), format='png'))
