"""Scores NAS-Bench-201 cells with zero-cost proxies (the proxy_bench CLI).

run_proxy_bench(config, workdir) scores the selected cells in chunks of
`config.chunk`, one chunk per device of this process (shard_map). A
routed chunk is one compiled call; otherwise each call scores
vmap_size() cells of every device's chunk (vmapped, or one cell called
directly), and Python loops over the chunk. Several processes
(jax.distributed) take every P-th chunk. Each finished chunk is appended to
workdir/partial/<settings>/<proxy>.p<process>.jsonl and flushed, so a run
that is stopped resumes at the first chunk not written; process 0 then
merges every process's chunks and writes the outputs (report.py). The
chunk files are store.py's.
"""

import functools
import hashlib
import json
import pathlib
import time

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import tqdm

from freedarts_jax import data
from freedarts_jax import errors
from freedarts_jax import nb201_table
from freedarts_jax import proxies
from freedarts_jax import runtime
from freedarts_jax import tree_util
from freedarts_jax.init import torch_init
from freedarts_jax.init import torch_init_fn
from freedarts_jax.proxies import checks
from freedarts_jax.proxies import executables
from freedarts_jax.proxies import report as proxy_report
from freedarts_jax.proxies import routed
from freedarts_jax.proxies import store
from freedarts_jax.spaces import nb201

# Chunk functions kept per process (LRU): each proxy of a run needs one; a
# second run with the same settings reuses them.
_CACHE_SIZE = executables.CACHE_SIZE
# Settings that change a score: partial results are kept per combination.
_SCORE_FIELDS = ('seed', 'limit', 'chunk', 'routed', 'batch_size', 'data',
                 'data_dir', 'init', 'dataset', 'channels', 'cells_per_stage',
                 'synflow_dtype', 'zeros_dtype', 'zeros_bn_mode')
# Fields that change the scores, added after runs were kept: at this default
# they stay out of the id, so those runs' partial scores still resume.
_SCORE_FIELDS_ADDED = {'data_dtype': 'auto'}


def setup_of(config) -> proxies.Setup:
  """The proxies' Setup (network and dtypes) from a proxy-bench config."""
  return proxies.Setup(config.dataset, config.channels,
                       config.cells_per_stage, config.synflow_dtype,
                       config.zeros_dtype, config.zeros_bn_mode,
                       config.routed, config.data_dtype)


def select_cells(config) -> np.ndarray:
  """Table indices to score, ascending: all, or a seeded random subset."""
  if not config.limit or config.limit == nb201_table.SIZE:
    return np.arange(nb201_table.SIZE)
  rng = np.random.default_rng(config.seed)
  return np.sort(rng.choice(nb201_table.SIZE, config.limit, replace=False))


def one_hots(indices: np.ndarray) -> np.ndarray:
  """(n, 6, 5) float32 one-hot alphas of table cells (-1: all zero)."""
  table = nb201_table.load()
  out = np.zeros((len(indices), len(nb201.EDGES), len(nb201.OPS)),
                 np.float32)
  for i, index in enumerate(indices):
    if index >= 0:  # -1: padding, no cell (an all-zero alpha)
      out[i] = tree_util.one_hot(
          nb201.from_string(table.archs[int(index)]), nb201.OPS)
  return out


def data_batch(config, setup: proxies.Setup,
               key: jax.Array) -> tuple[np.ndarray, np.ndarray, str]:
  """The batch of the data-dependent proxies and its description.

  data=cifar10: CIFAR-10 training images drawn with config.seed. Where tfds
  cannot read them from its default folder (no config.data_dir), Gaussian
  images from `key` instead, the description saying why; a data_dir given
  explicitly must be readable. data=synthetic: the Gaussian images.

  Returns:
    images (B, H, W, 3) float32, labels (B,) int32, the description.

  Raises:
    data.Unavailable: config.data_dir is set and cifar10 cannot be read
      from it.
  """
  note = 'gaussian (synthetic N(0, 1) images, uniform labels)'
  if config.data == 'cifar10':
    try:
      x, y = data.labelled_batch(
          'cifar10', config.batch_size, config.seed, config.data_dir,
          setup.input_shape, purpose=f'config.data_dir={config.data_dir}',
          instead='Or leave data_dir empty (Gaussian images where tfds '
          'finds none), or pass --config.data=synthetic.')
      return x, y, f'cifar10 (tfds train split, {config.batch_size} images)'
    except data.Unavailable as e:
      if config.data_dir:
        raise
      note = f'gaussian (cifar10 not prepared: {str(e)[:200]})'
  x, y = data.gaussian_batch(key, config.batch_size, setup.input_shape,
                             setup.num_classes)
  return np.asarray(x), np.asarray(y), note


def settings_id(config) -> str:
  """12 hex digits identifying the config fields that change the scores.

  The sha256 of the fields in _SCORE_FIELDS (and those of
  _SCORE_FIELDS_ADDED not at their default) as sorted JSON; partial results
  are kept under this id, so a resume never mixes settings.
  """
  fields = {f: config[f] for f in _SCORE_FIELDS}
  fields.update({f: config[f] for f, default in _SCORE_FIELDS_ADDED.items()
                 if config[f] != default})
  text = json.dumps(fields, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def vmap_size(config, proxy: proxies.Proxy, per_device: int) -> int:
  """Cells a device scores per call (the chunk's rest loop in Python).

  Automatic (config.vmap = 0): the whole share for data-free proxies with
  one shared initialisation; on CPU one cell at a time otherwise (a vmapped
  weight gradient or per-cell weights make XLA CPU's convolutions grouped,
  and a data batch per cell multiplies memory); on GPU/TPU 8 (2 for te_nas,
  whose Jacobian holds a weight gradient per image). The loop over a
  chunk's calls is Python's, not jax.lax.map's: on XLA CPU, grad_norm over
  4 cells took 9.9 s a cell as lax.map in shard_map against 0.7 s a cell
  called one at a time (benchmarks/RESULTS.md).
  """
  if config.vmap:
    return min(config.vmap, per_device)
  data_free = not proxy.needs_data and not (
      config.init == 'per_cell' and proxy.bn_mode(setup_of(config)))
  if data_free:
    return per_device
  if jax.default_backend() == 'cpu':
    return 1
  return min(per_device, 2 if proxy.name == 'te_nas' else 8)


def _example_args(setup: proxies.Setup):
  x = jax.ShapeDtypeStruct((1, *setup.input_shape), jnp.float32)
  alpha = {'cell': jax.ShapeDtypeStruct((len(nb201.EDGES), len(nb201.OPS)),
                                        jnp.float32)}
  return x, alpha


def uses_routing(config, proxy: proxies.Proxy) -> bool:
  """Whether the proxy runs on routed.py's batched network."""
  return (config.routed and proxy.name in routed.BATCHED
          and config.init == 'shared')


@functools.lru_cache(maxsize=_CACHE_SIZE)
def make_chunk_fn(proxy: proxies.Proxy, setup: proxies.Setup, init: str,
                  mesh: jax.sharding.Mesh, vmap: int, cap: int = 0):
  """jitted (variables, key, alphas, indices, x, y) -> {column: (n,)}.

  alphas (n, 6, 5) and indices (n,) are split over the mesh's 'cells' axis,
  n / devices = vmap cells per device, vmapped (vmap > 1) or scored
  directly (vmap = 1: the cell network's edge switch then runs one branch);
  with init 'per_cell' each cell's variables are drawn from key folded with
  its table index (variables unused), else `variables` are shared. With
  cap > 0 each device's cells go through routed.py's batched network (one
  group, at most cap cells per edge and op) instead.
  """
  if cap:
    batched = routed.BATCHED[proxy.name](setup, cap)

    def local(variables, key, alphas, indices, x, y):
      del key, indices
      return batched(variables, alphas, (x, y))

    return jax.jit(jax.shard_map(
        local, mesh=mesh,
        in_specs=(P(), P(), P('cells'), P('cells'), P(), P()),
        out_specs=P('cells')))
  score = proxy.make(setup)
  bn_mode = proxy.bn_mode(setup)
  draw = None
  if init == 'per_cell' and bn_mode is not None:
    draw = torch_init_fn(setup.model(bn_mode).init, *_example_args(setup))

  def local(variables, key, alphas, indices, x, y):
    def one(args):
      a, index = args
      v = variables if draw is None else draw(jax.random.fold_in(key, index))
      return score(v, {'cell': a}, (x, y))

    if alphas.shape[0] != vmap:
      raise ValueError(f'{alphas.shape[0]} cells on a device; this function '
                       f'scores vmap={vmap}')
    if vmap == 1:
      return jax.tree.map(lambda s: s[None], one((alphas[0], indices[0])))
    return jax.vmap(one)((alphas, indices))

  # check_vma off: cell_net's conv VJP mixes values that vary over 'cells'
  # (the cell's gradients) with ones that do not (the shared stem's output).
  sharded = jax.shard_map(
      local, mesh=mesh, in_specs=(P(), P(), P('cells'), P('cells'), P(), P()),
      out_specs=P('cells'), check_vma=False)
  return jax.jit(sharded, compiler_options=runtime.compiler_options(
      mesh.devices.flat[0].platform, 'weight_gradients'))


def _variables(proxy, setup, key):
  bn_mode = proxy.bn_mode(setup)
  if bn_mode is None:
    return {}
  return torch_init(setup.model(bn_mode).init, key, *_example_args(setup))


def cell_scorer(name: str, setup: proxies.Setup, key: jax.Array,
                batch: tuple[jax.Array, jax.Array]):
  """One proxy's value of one cell, jitted as the bench compiles it on CPU.

  For the benchmarks that time or compare a proxy a cell at a time
  (benchmarks/peer_cpu.py, benchmarks/proxy_dtypes.py).

  Args:
    name: a proxy id (proxies.get's).
    setup: the network and dtypes.
    key: PRNG key of the weights (`torch_init`).
    batch: (images (B, H, W, 3), labels (B,)), what the proxy reads.

  Returns:
    (variables, fn): the weights, and fn(variables, alpha) -> the proxy's
    scalar for a (6, 5) one-hot alpha (`one_hots`).

  Raises:
    errors.ConfigError: `name` is not a proxy (proxies.get).
  """
  proxy = proxies.get(name)
  variables = _variables(proxy, setup, key)
  score = proxy.make(setup)
  fn = jax.jit(lambda v, a: score(v, {'cell': a}, batch)[name],
               compiler_options=runtime.compiler_options('cpu',
                                                         'weight_gradients'))
  return variables, fn


def plan_chunks(config, proxy: proxies.Proxy, cells: np.ndarray
                ) -> list[np.ndarray]:
  """The proxy's chunks: table indices, at most config.chunk each.

  Consecutive cells, or for a routed proxy groups packed so that no op on
  an edge is chosen by more than routed.capacity(chunk) of their cells.
  Independent of the device and process count, so runs can resume on
  another machine.
  """
  if not uses_routing(config, proxy):
    return [cells[i:i + config.chunk]
            for i in range(0, len(cells), config.chunk)]
  ops = np.argmax(one_hots(cells), axis=-1)  # (n, 6)
  groups = routed.plan_groups(ops, config.chunk,
                              routed.capacity(config.chunk))
  return [cells[g[g >= 0]] for g in groups]


def _score_proxy(proxy, config, setup, chunks, mine, partial, keys, batch,
                 mesh, show_progress):
  """Scores this process's unfinished chunks, one per device."""
  done = partial.read_all()
  todo = [k for k in mine if k not in done]
  n_dev = mesh.devices.size
  cap = routed.capacity(config.chunk) if uses_routing(config, proxy) else 0
  vmap = vmap_size(config, proxy, config.chunk)
  timing = {'cells': 0, 'chunks': len(todo), 'vmap': vmap,
            'routed': bool(cap), 'compile_s': 0.0, 'score_s': 0.0}
  if not todo:
    return timing
  t0 = time.perf_counter()
  fn = make_chunk_fn(proxy, setup, config.init, mesh, vmap, cap)
  variables = _variables(proxy, setup, keys['weights'])
  cells_sharding = jax.sharding.NamedSharding(mesh, P('cells'))
  rounds = [todo[i:i + n_dev] for i in range(0, len(todo), n_dev)]
  width = config.chunk if cap else vmap  # cells per device and call

  def args(ks, start=0):
    index = np.full((n_dev, width), -1, np.int64)
    for d, k in enumerate(ks):
      part = chunks[k][start:start + width]
      index[d, :len(part)] = part
    index = index.reshape(-1)
    alphas = one_hots(index)
    if cap:
      for block in np.split(np.argmax(alphas, -1) * (alphas.sum(-1) > 0),
                            n_dev):
        routed.check_capacity(block, cap)
    alphas = jax.device_put(alphas, cells_sharding)
    index = jax.device_put(index.astype(np.int32), cells_sharding)
    return (variables, keys['weights'], alphas, index, *batch)

  compiled = executables.compile_cached(fn, args(rounds[0]))
  timing['compile_s'] = time.perf_counter() - t0
  t0 = time.perf_counter()
  bar = tqdm.tqdm(total=len(todo), desc=proxy.name, unit='chunk',
                  disable=not show_progress)
  for ks in rounds:
    longest = max(len(chunks[k]) for k in ks)
    outs = [jax.device_get(compiled(*args(ks, start)))
            for start in range(0, longest, width)]
    out = {c: np.concatenate([np.reshape(o[c], (n_dev, width)) for o in outs],
                             axis=1) for c in outs[0]}
    for d, k in enumerate(ks):
      n = len(chunks[k])
      partial.append({'chunk': int(k), 'index': chunks[k].tolist(),
                      'scores': {c: v[d, :n].astype(float).tolist()
                                 for c, v in out.items()}})
      timing['cells'] += n
      bar.update(1)
  bar.close()
  timing['score_s'] = time.perf_counter() - t0
  timing['per_cell_s'] = timing['score_s'] / max(timing['cells'], 1)
  return timing


def _merge(chosen, partials, chunks, wait_s: float) -> dict[str, dict]:
  """column -> {table index: score} once every chunk is written."""
  deadline = time.monotonic() + wait_s
  while True:
    records = {p.name: partials[p.name].read_all() for p in chosen}
    missing = sum(len(set(range(len(chunks[name]))) - set(r))
                  for name, r in records.items())
    if not missing:
      break
    if time.monotonic() > deadline:
      raise errors.FreeDartsError(
          f'{missing} chunks are still unscored after {wait_s:.0f} s: did '
          'another process stop? Run the same command again to resume.')
    time.sleep(0.5)
  scores = {}
  for p in chosen:
    for c in p.columns:
      scores[c] = {i: s for r in records[p.name].values()
                   for i, s in zip(r['index'], r['scores'][c])}
  return scores


def run_proxy_bench(config: ml_collections.ConfigDict, workdir,
                    overwrite: bool = False) -> dict | None:
  """Scores the cells; process 0 writes and returns the result dict.

  Args:
    config: see configs/proxy_nb201.py.
    workdir: output folder.
    overwrite: replace an existing result.json.

  Returns:
    The result dict on process 0 (None on the others).

  float64 (`jax_enable_x64`) is on inside this call only.
  """
  chosen = checks.check(config)
  workdir = runtime.check_workdir(workdir, overwrite)
  with jax.enable_x64(True):
    return _run(config, chosen, workdir)


def _run(config, chosen: tuple, workdir: pathlib.Path) -> dict | None:
  """run_proxy_bench after the checks, float64 on."""
  setup = setup_of(config)
  cells = select_cells(config)
  process, n_proc = jax.process_index(), jax.process_count()
  chunks = {p.name: plan_chunks(config, p, cells) for p in chosen}
  mesh = jax.make_mesh((len(jax.local_devices()),), ('cells',),
                       devices=jax.local_devices())
  key = jax.random.key(config.seed)
  keys = {'weights': jax.random.fold_in(key, 0),
          'data': jax.random.fold_in(key, 1)}
  data_note = None
  batch = (np.zeros((2, *setup.input_shape), np.float32),
           np.zeros((2,), np.int32))
  if any(p.needs_data for p in chosen):
    x, y, data_note = data_batch(config, setup, keys['data'])
    batch = (x, y)
  folder = workdir / 'partial' / settings_id(config)
  partials = {p.name: store.Partial(folder, p.name, process)
              for p in chosen}
  timing = {}
  for p in chosen:
    logging.info('scoring %d cells with %s', len(cells), p.name)
    mine = list(range(process, len(chunks[p.name]), n_proc))
    timing[p.name] = _score_proxy(p, config, setup, chunks[p.name], mine,
                                  partials[p.name], keys, batch, mesh,
                                  show_progress=config.progress)
  runtime.write_json(folder / f'timing.p{process}.json', timing)
  if process != 0:
    return None
  scores = _merge(chosen, partials, chunks, config.merge_wait_s)
  timings = {}
  for path in sorted(folder.glob('timing.p*.json')):
    timings[path.stem.split('.')[-1]] = json.loads(path.read_text())
  meta = {
      'cells': len(cells), 'limit': config.limit, 'seed': config.seed,
      'init': config.init, 'data': data_note, 'processes': n_proc,
      'local_devices': len(jax.local_devices()),
      'dtypes': {p.name: dtype_of(p, setup) for p in chosen},
      'bn_modes': {p.name: p.bn_mode(setup) for p in chosen},
      'references': {p.name: p.reference for p in chosen},
      'settings_id': settings_id(config),
  }
  return proxy_report.write_outputs(
      workdir, chosen, cells, scores, timing=timings, meta=meta,
      config=config.to_dict())


def dtype_of(proxy: proxies.Proxy, setup: proxies.Setup) -> str | None:
  """What the proxy computes in under setup, as result.json names it."""
  if proxy.name == 'synflow':
    return setup.synflow_dtype
  if proxy.name == 'zeros':
    return setup.zeros_dtype
  if proxy.bn_mode(setup) is None:
    return None
  dtype = setup.data_dtype if setup.data_dtype != 'auto' else (
      'float64' if proxy.name in ('grasp', 'te_nas') else 'float32')
  return f'{dtype} (kernel and eigenvalues in float64)' if proxy.name in (
      'jacob_cov', 'naswot', 'te_nas') else dtype
