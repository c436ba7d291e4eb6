"""The FreeDARTS search: score the supernet's ops with ZEROS, choose a cell.

`python -m freedarts_jax.search` is the CLI (`__main__.py`); `run_search(config,
workdir)` (`driver.py`) is the library entry that notebooks call. Beside them:
the schedules (`schedule.py`), the numerical guards (`guards.py`), the
op-level SNIP/GraSP objectives (`objectives.py`), the FLOPs penalty
(`penalties.py`), seed ensembles (`ensemble.py`) and the printed report
(`report.py`).
"""
