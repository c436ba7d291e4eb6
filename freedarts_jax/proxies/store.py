"""The proxy benchmark's resumable store: finished chunks, one JSON line each.

Each process appends to workdir/partial/<settings>/<proxy>.p<process>.jsonl
and flushes after every chunk, so a stopped run resumes at the first chunk
not written (bench.py); process 0 reads every process's file to merge.
"""

import json
import os
import pathlib


class Partial:
  """One process's append-only record of finished chunks of one proxy."""

  def __init__(self, folder: pathlib.Path, proxy: str, process: int):
    self.folder, self.proxy = folder, proxy
    self.path = folder / f'{proxy}.p{process}.jsonl'

  def read_all(self) -> dict[int, dict]:
    """chunk -> record, from every process's file (complete lines only)."""
    out = {}
    for path in sorted(self.folder.glob(f'{self.proxy}.p*.jsonl')):
      for line in path.read_text().splitlines(keepends=True):
        if not line.endswith('\n'):
          continue  # a line cut by a kill
        try:
          record = json.loads(line)
        except json.JSONDecodeError:
          continue
        out[record['chunk']] = record
    return out

  def append(self, record: dict) -> None:
    """Appends one JSON line to this process's file and syncs it to disk.

    A last line cut by a kill is dropped first.
    """
    self.folder.mkdir(parents=True, exist_ok=True)
    if self.path.exists():  # drop a line cut by a kill before appending
      text = self.path.read_bytes()
      if text and not text.endswith(b'\n'):
        with self.path.open('r+b') as f:
          f.truncate(text.rfind(b'\n') + 1)
    with self.path.open('a') as f:
      f.write(json.dumps(record) + '\n')
      f.flush()
      os.fsync(f.fileno())
