"""PNG figures of the three experiments (matplotlib, Agg backend)."""

import pathlib

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after the backend)

_COLOURS = {'skip_connect': 'tab:blue', 'nor_conv_1x1': 'tab:orange',
            'nor_conv_3x3': 'tab:red', 'avg_pool_3x3': 'tab:green'}


def op_level(result: dict, path: pathlib.Path, title: str) -> None:
  """ZEROS share against dB and dlambda_min, one colour per op."""
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, target in zip(axes, ('dB', 'dlambda_min')):
    for op, colour in _COLOURS.items():
      rs = [r for r in result['records'] if r['op'] == op]
      ax.scatter([r['zeros_share'] for r in rs], [r[target] for r in rs],
                 s=14, c=colour, label=op, alpha=0.8)
    c = result['correlations'][f'zeros_vs_{target}/pooled']['kendall']
    ax.set_xscale('log')
    ax.set_xlabel('ZEROS[e, o] / sum of ZEROS')
    ax.set_ylabel(f'relative change of {target[1:]} when o is removed')
    ax.set_title(f'pooled Kendall tau {c["tau"]:.2f} (p={c["p"]:.2g})')
    ax.axhline(0, color='grey', lw=0.5)
  axes[0].legend(fontsize=8)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def arch_level(result: dict, path: pathlib.Path) -> None:
  """Accuracy against each NTK quantity and the summed ZEROS."""
  metrics = ('lambda_min', 'cond', 'B', 'zeros_sum')
  fig, axes = plt.subplots(1, len(metrics), figsize=(16, 3.8))
  records = result['records']
  for ax, metric in zip(axes, metrics):
    colours = ['tab:blue' if r['connected'] else 'tab:grey' for r in records]
    ax.scatter([r[metric] for r in records], [r['accuracy'] for r in records],
               s=14, c=colours)
    if metric != 'zeros_sum':
      ax.set_xscale('log')
    corr = result['correlations'][f'{metric}_vs_accuracy']
    k = corr['kendall']
    ax.set_xlabel(metric)
    ax.set_title(f'tau {k["tau"]:.2f} (p={k["p"]:.2g}, n={corr["n"]})',
                 fontsize=9)
  axes[0].set_ylabel('NB201 CIFAR-10 test accuracy (%)')
  fig.suptitle('Architecture level: sampled NB201 cells (grey: disconnected)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
