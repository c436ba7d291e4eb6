"""Every CLI refuses every bad config value the same way, before any work.

The table: for each of the four CLIs (the search on its three spaces, the
proxy benchmark, training, the theory check) and each field of its config,
a value of the wrong type, out of range, an unknown choice or an empty list.
Each case goes through the CLI's own flag parsing and library entry in this
process (cli.define_config / parse_flags / guard, as cli.run does) and must
exit 2 with one line naming the field and what is valid, write nothing in
the workdir and compile nothing (jax.monitoring's compile events are
counted). The subprocess cases at the end run each CLI as a user would, on
a workdir that is a file and on a finished workdir.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

from absl import flags
import jax
import pytest

from configs import nb201 as nb201_config
from freedarts_jax import cli
from freedarts_jax import runtime
from freedarts_jax.proxies import bench
from freedarts_jax.search import driver
from freedarts_jax.train import loop
from theory import verify_ntk_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# name -> (config file, the library call its main makes).
CLIS = {
    'search-nb201': ('configs/nb201.py', driver.run_search),
    'search-darts': ('configs/darts.py', driver.run_search),
    'search-mobilenet': ('configs/mobilenet.py', driver.run_search),
    'proxy_bench': ('configs/proxy_nb201.py', bench.run_proxy_bench),
    'train': ('configs/train_smoke.py', loop.run_training),
    'theory': ('configs/theory_smoke.py', verify_ntk_lib.run),
}
# Fields that hold a path or a genotype (their tests are beside them).
FREE_TEXT = ('data_dir', 'genotype')
LISTS = ('proxies', 'experiments')  # comma-separated lists
# Where 0 is refused unless the config's comment gives it a meaning.
ZERO_RULE = ('theory',)
_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, *_, **__: _COMPILES.append(event)
    if event.startswith('/jax/core/compile') else None)


def _fields(name: str) -> list[tuple[str, type, str]]:
  """(field, type, comment) of every field of a CLI's config file."""
  path = ROOT / CLIS[name][0]
  argv = ['cli', f'--config={path}']
  fv = flags.FlagValues()
  flag = cli.define_config(str(path), fv, argv)
  cli.parse_flags(argv, fv)
  config = cli.config_value(flag)
  comments = {}
  for module in ('search_common', 'theory_nb201', path.stem):
    source = ROOT / 'configs' / f'{module}.py'
    for line in source.read_text().splitlines():
      found = re.match(r'\s*c\.(\w+) = .*?#(.*)$', line)
      if found:
        comments[found.group(1)] = found.group(2)
  return [(f, config.get_type(f), comments.get(f, '')) for f in config]


def _cases():
  for name in CLIS:
    for field, kind, comment in _fields(name):
      if field in FREE_TEXT:
        continue
      if kind is bool:
        bad = [('wrong type', 'maybe')]
      elif kind in (int, float):
        bad = [('wrong type', 'abc'), ('out of range', '-1')]
        if name in ZERO_RULE and field != 'seed' and '0:' not in comment:
          bad.append(('zero', '0'))
      elif field in LISTS:
        bad = [('empty list', ''), ('unknown choice', 'bogus')]
      else:
        bad = [('unknown choice', 'bogus')]
      for what, value in bad:
        yield pytest.param(name, field, value, id=f'{name}-{field}-{what}')


def _run(name: str, overrides: list[str], workdir: pathlib.Path):
  """The CLI's parsing and library call in this process, as cli.run."""
  path = str(ROOT / CLIS[name][0])
  argv = ['cli', f'--config={path}', *overrides]
  fv = flags.FlagValues()
  flag = cli.define_config(path, fv, argv)
  cli.parse_flags(argv, fv)
  cli.guard(CLIS[name][1], cli.config_value(flag), str(workdir), False)


@pytest.mark.parametrize('name, field, value', list(_cases()))
def test_a_bad_value_is_one_line_before_any_work(name, field, value, tmp_path,
                                                 capsys):
  workdir = tmp_path / 'run'
  before = len(_COMPILES)
  with pytest.raises(SystemExit) as e:
    _run(name, [f'--config.{field}={value}'], workdir)
  err = capsys.readouterr().err.strip().splitlines()
  assert e.value.code == 2, err
  assert len(err) == 1 and err[0].startswith('error: '), err
  assert f'config.{field}' in err[0], err[0]
  assert re.search(r'valid values: |must be |must name|must list', err[0]), (
      err[0])
  assert 'Traceback' not in err[0]
  assert not workdir.exists()
  assert len(_COMPILES) == before, _COMPILES[before:]


def test_the_compile_counter_sees_a_compile():
  before = len(_COMPILES)
  jax.jit(lambda x: x * 3)(jax.numpy.ones(7))
  assert len(_COMPILES) > before


def test_the_table_covers_every_cli_and_field():
  cases = list(_cases())
  for name in CLIS:
    fields = {f for f, _, _ in _fields(name)} - set(FREE_TEXT)
    covered = {c.values[1] for c in cases if c.values[0] == name}
    assert fields and covered == fields, name


# --- the workdir, end to end ----------------------------------------------

TINY = {
    'freedarts_jax.search': ['--config=configs/nb201.py',
                             '--config.channels=4',
                             '--config.cells_per_stage=1'],
    'freedarts_jax.proxy_bench': ['--config.limit=2',
                                  '--config.proxies=params',
                                  '--config.channels=4',
                                  '--config.cells_per_stage=1'],
    'freedarts_jax.train': ['--config=configs/train_smoke.py'],
    'theory.verify_ntk': ['--config=configs/theory_smoke.py'],
}
RESULT = {'theory.verify_ntk': 'report.md'}


def _cli(module: str, tmp_path, *args):
  env = {**os.environ, 'FREEDARTS_CACHE_DIR': str(tmp_path / 'cache'),
         'PYTHONPATH': str(ROOT)}
  return subprocess.run([sys.executable, '-m', module, *TINY[module], *args],
                        cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=600)


@pytest.mark.parametrize('module', list(TINY))
def test_a_workdir_that_is_a_file_is_refused(module, tmp_path):
  path = tmp_path / 'f'
  path.write_text('x\n')
  for workdir in (path, path / 'run'):
    proc = _cli(module, tmp_path, f'--workdir={workdir}')
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f'error: --workdir={workdir} ')
    assert 'Traceback' not in proc.stderr
  assert path.read_text() == 'x\n'


@pytest.mark.parametrize('module', list(TINY))
def test_a_finished_workdir_needs_overwrite(module, tmp_path):
  workdir = tmp_path / 'run'
  workdir.mkdir()
  done = workdir / RESULT.get(module, 'result.json')
  done.write_text('{}')
  proc = _cli(module, tmp_path, f'--workdir={workdir}')
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1] == (
      f'error: {done} exists: that run has finished. Pass --overwrite to '
      'replace it, or choose another --workdir.')
  assert done.read_text() == '{}'


def test_a_result_that_cannot_be_written_goes_to_a_fallback_file(
    tmp_path, monkeypatch):
  """The search's workdir turns into a file during the run."""
  workdir = tmp_path / 'run'
  monkeypatch.chdir(tmp_path)
  score = driver._score_with_fallback  # pylint: disable=protected-access

  def score_then_break(*args):
    out = score(*args)
    workdir.write_text('not a folder any more')
    return out

  monkeypatch.setattr(driver, '_score_with_fallback', score_then_break)
  config = nb201_config.get_config()
  config.update(channels=4, cells_per_stage=1, dtype='float64',
                schedule='oneshot')
  result = driver.run_search(config, workdir)
  written = pathlib.Path(result['written'])
  assert written.parent == tmp_path and written.name.startswith('result-')
  assert json.loads(written.read_text())['arch'] == result['arch']


def test_the_fallback_is_the_temp_folder_where_the_cwd_fails(
    tmp_path, monkeypatch, capsys):
  blocked = tmp_path / 'file'
  blocked.write_text('x')
  monkeypatch.setattr(pathlib.Path, 'cwd', lambda: blocked)
  monkeypatch.setattr('tempfile.tempdir', str(tmp_path / 'tmp'))
  (tmp_path / 'tmp').mkdir()
  written = runtime.save_json(blocked / 'run' / 'result.json', {'a': 1})
  assert written.parent == tmp_path / 'tmp'
  assert json.loads(written.read_text()) == {'a': 1}
  assert f'the result is in {written}' in capsys.readouterr().err
  again = runtime.save_json(blocked / 'run' / 'result.json', {'a': 2})
  assert again != written  # never over an earlier fallback


def test_a_cli_leaves_its_objects_to_the_os_at_exit():
  # cli.run freezes the garbage collector's objects once main has returned,
  # so that Python's finalisation does not walk them (0.4-0.5 s of a warm
  # make search). An atexit hook runs after that and sees the frozen count.
  script = ('import atexit, gc\n'
            'from freedarts_jax import cli\n'
            'atexit.register(lambda: print("frozen", gc.get_freeze_count()))\n'
            'cli.run(lambda argv: None)\n')
  out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                       text=True, check=True, cwd=ROOT).stdout
  assert int(out.split()[-1]) > 1000, out
