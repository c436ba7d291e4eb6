"""Pictures of a DARTS genotype's cells: nodes and op-labelled edges (PNG).

matplotlib is imported when a picture is drawn (its Figure API, no pyplot
and no GUI backend): importing it costs every CLI 0.6 s otherwise.
"""

import pathlib

from freedarts_jax.spaces import darts_genotype

# Node -> (x, y): the inputs on the left, nodes 2..5 on a diagonal, the
# output on the right.
_POS = {0: (0.0, 3.0), 1: (0.0, 0.0), 2: (2.0, 4.0), 3: (3.5, 2.5),
        4: (5.0, 1.0), 5: (6.5, -0.5), 'out': (8.5, 1.75)}
_RAD = 0.15  # curvature of the edges, so that labels do not overlap


def _label(node) -> str:
  return {0: '$c_{k-2}$', 1: '$c_{k-1}$', 'out': '$c_{k}$'}.get(
      node, str(node - 2) if isinstance(node, int) else node)


def _arrow(ax, frm, to, text: str | None) -> None:
  (x1, y1), (x2, y2) = _POS[frm], _POS[to]
  ax.annotate('', xy=(x2, y2), xytext=(x1, y1),
              arrowprops={'arrowstyle': '-|>', 'color': 'gray',
                          'shrinkA': 16, 'shrinkB': 16,
                          'connectionstyle': f'arc3,rad={_RAD}'})
  if text:
    # The midpoint of matplotlib's arc3 curve.
    x = (x1 + x2) / 2 + 0.5 * _RAD * (y2 - y1)
    y = (y1 + y2) / 2 - 0.5 * _RAD * (x2 - x1)
    ax.text(x, y, text, ha='center', va='center', fontsize=7,
            bbox={'boxstyle': 'round', 'fc': 'white', 'ec': 'none'})


def draw_cell(pairs, title: str, path: pathlib.Path) -> None:
  """Draws one cell: 8 (op, input) pairs, two per node 2..5."""
  from matplotlib import figure  # pylint: disable=g-import-not-at-top

  fig = figure.Figure(figsize=(9, 5))
  ax = fig.subplots()
  for i, (op, inp) in enumerate(pairs):
    _arrow(ax, inp, darts_genotype.NODES[i // 2], op)
  for k in darts_genotype.CONCAT:
    _arrow(ax, k, 'out', None)
  for node, (x, y) in _POS.items():
    color = 'lightblue' if node in darts_genotype.NODES else 'lightgreen'
    ax.text(x, y, _label(node), ha='center', va='center', fontsize=10,
            bbox={'boxstyle': 'round,pad=0.5', 'fc': color, 'ec': 'black'})
  ax.set_xlim(-1, 9.5)
  ax.set_ylim(-1.5, 5)
  ax.set_title(title)
  ax.axis('off')
  fig.savefig(path, dpi=100, bbox_inches='tight')


def write_cells(genotype: darts_genotype.Genotype,
                workdir: pathlib.Path) -> list[str]:
  """Writes normal.png and reduce.png into workdir; returns their names."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  names = []
  for kind in darts_genotype.CELLS:
    name = f'{kind}.png'
    draw_cell(getattr(genotype, kind), f'{kind} cell', workdir / name)
    names.append(name)
  return names
