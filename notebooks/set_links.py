"""Writes the "Open in Colab" link and the install cell of every notebook.

  python notebooks/set_links.py          # rewrite them
  python notebooks/set_links.py --check  # exit 1 if any is out of date

The repository address has one home: pyproject.toml's
`[project.urls] Repository`. From it come the Colab link in each notebook's
first cell (tagged `colab-link`) and the `pip install git+...` line of the
cell tagged `install`. Running it twice changes nothing the second time.
"""

import argparse
import pathlib
import sys
import tomllib

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / 'notebooks'
BRANCH = 'main'


def repository_url(pyproject: pathlib.Path = ROOT / 'pyproject.toml') -> str:
  """The Repository URL of pyproject.toml's [project.urls], no trailing /."""
  with pyproject.open('rb') as f:
    data = tomllib.load(f)
  return data['project']['urls']['Repository'].rstrip('/')


def colab_url(repo: str, name: str) -> str:
  """Colab's address of notebooks/<name> on the repository's main branch."""
  path = repo.split('://', 1)[1]
  if not path.startswith('github.com/'):
    raise ValueError(f'Colab opens GitHub repositories only, not {repo}')
  owner_name = path[len('github.com/'):]
  return (f'https://colab.research.google.com/github/{owner_name}/blob/'
          f'{BRANCH}/notebooks/{name}')


BADGE = '[![Open In Colab]'  # the badge line starts so


def link_line(repo: str, name: str) -> str:
  """The markdown badge linking to the notebook in Colab."""
  svg = 'https://colab.research.google.com/assets/colab-badge.svg'
  return f'{BADGE}({svg})]({colab_url(repo, name)})'


def link_cell_source(source: str, repo: str, name: str) -> str:
  """The first cell with its badge line replaced (or added after line 1)."""
  lines = source.splitlines()
  kept = [line for line in lines if not line.startswith(BADGE)]
  rest = kept[1:]
  while rest and not rest[0]:
    rest = rest[1:]
  return '\n'.join(kept[:1] + ['', link_line(repo, name)]
                   + ([''] + rest if rest else []))


def install_cell_source(repo: str) -> str:
  """The install cell: pip install git+repo where freedarts_jax is absent."""
  return ('# Colab: install freedarts_jax from the repository; skipped where '
          'it is\n# already importable (a local checkout with `make install`).'
          '\nimport importlib.util\n\n'
          "if importlib.util.find_spec('freedarts_jax') is None:\n"
          f'  !pip install -q "git+{repo}"')


def _tagged(nb, tag: str):
  return [c for c in nb.cells if tag in c.get('metadata', {}).get('tags', [])]


def update(nb, repo: str, name: str) -> bool:
  """Rewrites the tagged cells of one notebook; True if anything changed."""
  changed = False
  link = _tagged(nb, 'colab-link')
  if len(link) != 1 or nb.cells[0] is not link[0]:
    raise ValueError(f'{name}: the first cell must be the one tagged '
                     'colab-link')
  for cell, source in ([(link[0], link_cell_source(link[0].source, repo,
                                                    name))]
                       + [(c, install_cell_source(repo))
                          for c in _tagged(nb, 'install')]):
    if cell.source != source:
      cell.source = source
      changed = True
  return changed


def main(argv=None) -> int:
  """Rewrites (or --check checks) the notebooks; returns exit status."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--check', action='store_true',
                      help='change nothing; exit 1 if a notebook is stale')
  parser.add_argument('paths', nargs='*', type=pathlib.Path,
                      help='notebooks (default: notebooks/*.ipynb)')
  args = parser.parse_args(argv)
  repo = repository_url()
  stale = []
  for path in args.paths or sorted(NOTEBOOKS.glob('*.ipynb')):
    nb = nbformat.read(path, as_version=4)
    if update(nb, repo, path.name):
      stale.append(path)
      if not args.check:
        nbformat.write(nb, path)
  for path in stale:
    print(f'{"stale" if args.check else "updated"}: {path}')
  return 1 if (args.check and stale) else 0


if __name__ == '__main__':
  sys.exit(main())
