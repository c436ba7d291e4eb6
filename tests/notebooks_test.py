"""The notebooks run top to bottom (small setting, CPU); their links hold.

Each notebook is executed by notebooks/execute.py in a fresh kernel on this
interpreter with FREEDARTS_SMALL=1; any error cell fails the test (about
10-40 s a notebook on 2 cores).
"""

import importlib.util
import os
import pathlib
import re
import sys

import nbformat
from nbformat import v4
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))


def _script(name: str):
  spec = importlib.util.spec_from_file_location(
      name, ROOT / 'notebooks' / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  return module


execute = _script('execute')
set_links = _script('set_links')


@pytest.fixture
def kernel_env(monkeypatch, tmp_path):
  """The kernel imports this checkout and writes under tmp_path."""
  monkeypatch.setenv('PYTHONPATH',
                     f'{ROOT}{os.pathsep}{os.environ.get("PYTHONPATH", "")}')
  monkeypatch.setenv('FREEDARTS_WORKDIR', str(tmp_path / 'runs'))
  monkeypatch.setenv('FREEDARTS_CACHE_DIR', str(tmp_path / 'cache'))
  return tmp_path


def test_there_are_three_notebooks():
  assert [p.name for p in NOTEBOOKS] == [
      'darts_search_and_train.ipynb', 'proxies_and_theory.ipynb',
      'quickstart.ipynb']


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
  nb = nbformat.read(path, as_version=4)
  for cell in nb.cells:
    if cell.cell_type == 'code':
      assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_the_small_setting(path, kernel_env):
  out = kernel_env / path.name
  nb, _ = execute.execute(path, small=True, cwd=kernel_env, output=out)
  assert execute.errors_of(nb) == []
  texts = [o.get('text', '') for c in nb.cells for o in c.get('outputs', [])]
  assert any('Setting: small (FREEDARTS_SMALL=1)' in t for t in texts)
  assert any('Backend: CPU' in t for t in texts)
  images = [o for c in nb.cells for o in c.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert images  # every notebook shows at least one plot
  assert (kernel_env / 'runs').is_dir()  # outputs went where we said


def test_an_error_cell_fails_the_run(kernel_env):
  nb = v4.new_notebook(cells=[
      v4.new_code_cell('x = 1'), v4.new_code_cell('raise ValueError("boom")'),
      v4.new_code_cell('y = 2')])
  path = kernel_env / 'bad.ipynb'
  nbformat.write(nb, path)
  with pytest.raises(execute.CellError, match='boom'):
    execute.execute(path, cwd=kernel_env)
  assert execute.main([str(path)]) == 1


def test_kernel_runs_this_interpreter(kernel_env):
  nb = v4.new_notebook(cells=[v4.new_code_cell(
      'import os, sys\nprint(sys.executable)\n'
      "print(os.environ.get('FREEDARTS_SMALL'))")])
  path = kernel_env / 'which.ipynb'
  nbformat.write(nb, path)
  done, _ = execute.execute(path, small=True, cwd=kernel_env)
  lines = done.cells[0].outputs[0]['text'].split()
  assert lines == [sys.executable, '1']


def test_links_come_from_pyproject():
  repo = set_links.repository_url()
  assert repo == 'https://github.com/freedarts-jax/freedarts_jax'
  for path in NOTEBOOKS:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert 'colab-link' in first.metadata['tags']
    assert (f'(https://colab.research.google.com/github/freedarts-jax/'
            f'freedarts_jax/blob/main/notebooks/{path.name})') in first.source
    installs = [c for c in nb.cells if 'install' in c.metadata.get('tags', [])]
    assert len(installs) == 1
    assert f'!pip install -q "git+{repo}"' in installs[0].source
  assert set_links.main(['--check']) == 0  # committed notebooks are current


def test_set_links_is_idempotent_and_follows_the_url(tmp_path):
  path = tmp_path / 'quickstart.ipynb'
  path.write_bytes((ROOT / 'notebooks' / 'quickstart.ipynb').read_bytes())
  nb = nbformat.read(path, as_version=4)
  other = 'https://github.com/someone/fork'
  assert set_links.update(nb, other, path.name)
  assert 'github/someone/fork/blob/main' in nb.cells[0].source
  once = nbformat.writes(nb)
  assert not set_links.update(nb, other, path.name)
  assert nbformat.writes(nb) == once
  assert nb.cells[0].source.count('Open In Colab') == 1
  assert nb.cells[0].source.startswith('# FreeDARTS quickstart')
  pyproject = tmp_path / 'pyproject.toml'
  pyproject.write_text(f'[project]\nname = "x"\n[project.urls]\n'
                       f'Repository = "{other}/"\n')
  assert set_links.repository_url(pyproject) == other
  with pytest.raises(ValueError, match='GitHub'):
    set_links.colab_url('https://gitlab.com/a/b', 'x.ipynb')


def test_colab_links_in_the_docs_match_pyproject():
  repo = set_links.repository_url()
  for doc in ('docs/guide/notebooks.md', 'README.md'):
    text = (ROOT / doc).read_text()
    found = re.findall(r'https://colab\.research\.google\.com/github/[^)\s]+',
                       text)
    for url in found:
      assert url == set_links.colab_url(repo, url.rsplit('/', 1)[1]), doc
  guide = (ROOT / 'docs/guide/notebooks.md').read_text()
  for path in NOTEBOOKS:
    assert set_links.colab_url(repo, path.name) in guide
