"""The wheel a non-editable install builds holds the shipped NB201 table.

`pip install git+...` (as on Colab) builds a wheel from the tracked files;
package data missing from pyproject.toml's [tool.setuptools.package-data]
would leave `nb201_table.load()` without its CSV there, while every
editable install (make install, the tests) still finds it.
"""

import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = 'freedarts_jax/nb201_table'


def _tracked_copy(dest: pathlib.Path) -> None:
  """Copies the files git tracks (what an install from git sees) to dest."""
  names = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, check=True,
                         capture_output=True).stdout.decode().split('\0')
  for name in filter(None, names):
    src = ROOT / name
    if src.is_file():
      (dest / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(src, dest / name)


def test_the_built_wheel_contains_the_nb201_table(tmp_path):
  source, wheels = tmp_path / 'source', tmp_path / 'wheels'
  _tracked_copy(source)
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet',
                  '--no-deps', '--no-build-isolation', '-w', str(wheels),
                  str(source)], check=True, capture_output=True, timeout=600)
  (wheel,) = wheels.glob('freedarts_jax-*.whl')
  names = set(zipfile.ZipFile(wheel).namelist())
  shipped = {f'{TABLE}/data/{p.name}'
             for p in (ROOT / TABLE / 'data').iterdir() if p.is_file()}
  assert shipped, 'the repository has no table files'
  assert shipped <= names, sorted(shipped - names)
  assert f'{TABLE}/__init__.py' in names
