"""Executes a notebook top to bottom; exit status 1 on any error cell.

  python notebooks/execute.py notebooks/quickstart.ipynb [--small]
      [--output=executed.ipynb] [--cwd=DIR] [--timeout=600]

The kernel runs this interpreter (`sys.executable`, through a kernelspec
written to a temporary folder), so the notebook sees the same virtual
environment and package as the caller. --small sets FREEDARTS_SMALL=1 for
the kernel (the CPU-sized run). Prints the wall time.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

from jupyter_client import kernelspec
from jupyter_client import manager
import nbclient
import nbformat

KERNEL = 'freedarts-jax-python'


class CellError(RuntimeError):
  """A cell raised; the message names the cell and the exception."""


def _kernel_manager(folder: pathlib.Path) -> manager.KernelManager:
  spec_dir = folder / 'kernels' / KERNEL
  spec_dir.mkdir(parents=True)
  (spec_dir / 'kernel.json').write_text(json.dumps({
      'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f',
               '{connection_file}'],
      'display_name': f'Python ({sys.executable})',
      'language': 'python'}))
  specs = kernelspec.KernelSpecManager(kernel_dirs=[str(folder / 'kernels')])
  return manager.KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def errors_of(nb) -> list[str]:
  """'cell N: Name: value' for every error output of an executed notebook."""
  found = []
  for i, cell in enumerate(nb.cells):
    for out in cell.get('outputs', []):
      if out.get('output_type') == 'error':
        found.append(f'cell {i}: {out["ename"]}: {out["evalue"]}')
  return found


def execute(path, small: bool = False, cwd=None, timeout: int = 600,
            output=None):
  """Runs the notebook at `path` in a fresh kernel on sys.executable.

  Args:
    path: the .ipynb file.
    small: set FREEDARTS_SMALL=1 in the kernel's environment.
    cwd: the kernel's working directory (default: the notebook's folder).
    timeout: seconds any one cell may take.
    output: where to write the executed notebook (None: nowhere).

  Returns:
    (the executed notebook, wall seconds).

  Raises:
    CellError: a cell raised (nbclient stops at the first one).
  """
  path = pathlib.Path(path)
  nb = nbformat.read(path, as_version=4)
  saved = os.environ.get('FREEDARTS_SMALL')
  if small:
    os.environ['FREEDARTS_SMALL'] = '1'
  t = time.perf_counter()
  try:
    with tempfile.TemporaryDirectory() as folder:
      client = nbclient.NotebookClient(
          nb, km=_kernel_manager(pathlib.Path(folder)), timeout=timeout,
          resources={'metadata': {'path': str(cwd or path.parent)}})
      try:
        client.execute()
      except nbclient.exceptions.CellExecutionError as e:
        raise CellError(f'{path}: {str(e).splitlines()[-1]}\n{e}') from e
      finally:
        if output:
          nbformat.write(nb, output)
  finally:
    if saved is None:
      os.environ.pop('FREEDARTS_SMALL', None)
    else:
      os.environ['FREEDARTS_SMALL'] = saved
  found = errors_of(nb)
  if found:
    raise CellError(f'{path}: ' + '; '.join(found))
  return nb, time.perf_counter() - t


def main(argv=None) -> int:
  """Runs the notebook; returns the exit status (1: an error cell)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('notebook', type=pathlib.Path)
  parser.add_argument('--small', action='store_true',
                      help='FREEDARTS_SMALL=1: the CPU-sized run')
  parser.add_argument('--output', type=pathlib.Path, default=None,
                      help='write the executed notebook here')
  parser.add_argument('--cwd', type=pathlib.Path, default=None,
                      help="kernel's working directory")
  parser.add_argument('--timeout', type=int, default=600,
                      help='seconds per cell')
  args = parser.parse_args(argv)
  try:
    _, seconds = execute(args.notebook, args.small, args.cwd, args.timeout,
                         args.output)
  except CellError as e:
    print(f'FAILED: {e}', file=sys.stderr)
    return 1
  print(f'{args.notebook}: ran top to bottom in {seconds:.1f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main())
