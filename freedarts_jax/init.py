"""PyTorch-default initialisation for any of the project's Flax networks.

The released scorer runs on PyTorch's initial weights, so the values follow
PyTorch's defaults: conv and linear kernels kaiming-uniform with a = sqrt(5),
i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)); their biases
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the kernel's fan_in; BatchNorm scale 1
and bias 0; running mean 0 and running variance 1.

Why not Flax initialisers: `jax.jit(model.init)` compiles the whole forward pass
(20-30 s for the NB201 supernet on XLA CPU). Here the structure comes from
`jax.eval_shape` (tracing only) and the values from one uniform draw, sliced
into the leaves on the host. Where the compilation cache is on (the CLIs,
`exported.folder()`), the structure of a Flax module's variables is kept
there as JSON, so a repeat run does not trace the network at all.
"""

from collections.abc import Callable
import functools
import json
import math
import pathlib

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from freedarts_jax import errors
from freedarts_jax import exported
from freedarts_jax import runtime

# (collection, leaf name, has a 'kernel' sibling) -> constant value, for the
# leaves that are not drawn.
_CONSTANTS = {
    ('params', 'scale', False): 1.0,
    ('params', 'bias', False): 0.0,
    ('batch_stats', 'mean', False): 0.0,
    ('batch_stats', 'var', False): 1.0,
}


def _rule(path, leaf_shape, siblings) -> tuple[str, float]:
  """('uniform', bound) or ('constant', value) for one leaf."""
  collection, name = path[0].key, path[-1].key
  kernel = siblings.get('kernel')
  if collection == 'params' and name == 'kernel':
    return 'uniform', 1.0 / math.sqrt(math.prod(leaf_shape[:-1]))
  if collection == 'params' and name == 'bias' and kernel is not None:
    return 'uniform', 1.0 / math.sqrt(math.prod(kernel.shape[:-1]))
  key = (collection, name, kernel is not None)
  if key in _CONSTANTS:
    return 'constant', _CONSTANTS[key]
  raise errors.FreeDartsError(
      f'no PyTorch-default rule for the variable {jax.tree_util.keystr(path)}'
      ': add one to freedarts_jax/init.py.')


def torch_init(
    apply_init: Callable[..., dict], key: jax.Array, *args
) -> dict:
  """Initialises the variables of a Flax module with PyTorch's defaults.

  Args:
    apply_init: the module's `init` method.
    key: PRNG key.
    *args: example call arguments (only their shapes and dtypes are used;
      the structure is traced once per module and argument shapes).

  Returns:
    The variables, every leaf float32.
  """
  shapes, rules, tree = _structure_of(apply_init, args)
  return jax.tree_util.tree_unflatten(tree, _draw(key, shapes, rules))


def uniform_size(apply_init: Callable[..., dict], *args) -> int:
  """How many U(-1, 1) values torch_init draws for these arguments.

  Args:
    apply_init: the module's `init` method.
    *args: example call arguments (shapes and dtypes only).

  Returns:
    The length of the one uniform vector (`uniform(key, size)`) that
    torch_init slices into the drawn leaves.
  """
  shapes, rules, _ = _structure_of(apply_init, args)
  return sum(_sizes(shapes, rules))


def from_uniform(apply_init: Callable[..., dict], u: np.ndarray,
                 *args) -> dict:
  """torch_init's variables from its uniform draw, for many draws at once.

  `from_uniform(apply_init, uniform(key, n)[None], *args)` equals
  `torch_init(apply_init, key, *args)` with a leading axis of 1, leaf for
  leaf and bit for bit (n = `uniform_size(apply_init, *args)`).

  Args:
    apply_init: the module's `init` method.
    u: float32 host array (K, n) of U(-1, 1) values, one row per draw.
    *args: example call arguments (shapes and dtypes only).

  Returns:
    The variables, every leaf float32 of shape (K, *leaf shape), on device.
  """
  shapes, rules, tree = _structure_of(apply_init, args)
  leaves = jax.device_put(_host_leaves(np.asarray(u), shapes, rules))
  return jax.tree_util.tree_unflatten(tree, leaves)


def torch_init_fn(
    apply_init: Callable[..., dict], *args
) -> Callable[[jax.Array], dict]:
  """A traceable `key -> variables` with torch_init's values.

  For drawing inside jit or vmap (one initialisation per cell or seed):
  `torch_init_fn(model.init, *args)(key)` equals
  `torch_init(model.init, key, *args)` leaf for leaf.

  Args:
    apply_init: the module's `init` method.
    *args: example call arguments (shapes and dtypes only).

  Returns:
    A pure function of a PRNG key giving the variables, every leaf float32.
  """
  shapes, rules, tree = _structure_of(apply_init, args)
  offsets = np.cumsum([0] + _sizes(shapes, rules))

  def draw(key: jax.Array) -> dict:
    u = uniform(key, int(offsets[-1]))
    out = []
    for i, (shape, (kind, value)) in enumerate(zip(shapes, rules)):
      if kind == 'uniform':
        part = u[int(offsets[i]):int(offsets[i + 1])].reshape(shape)
        out.append(jnp.float32(value) * part)
      else:
        out.append(jnp.full(shape, value, jnp.float32))
    return jax.tree_util.tree_unflatten(tree, out)

  return draw


def _structure_of(apply_init, args):
  """`_structure` for example call arguments."""
  leaves, treedef = jax.tree.flatten(args)
  specs = tuple((tuple(x.shape), jnp.dtype(x.dtype)) for x in leaves)
  return _structure(apply_init, treedef, specs)


def _sizes(shapes, rules) -> list[int]:
  """How many uniform values each leaf takes (0 for a constant one)."""
  return [math.prod(s) if kind == 'uniform' else 0
          for s, (kind, _) in zip(shapes, rules)]


@functools.cache
def _structure(apply_init, treedef, specs):
  """Leaf shapes, init rules and tree of the variables (traced once)."""
  args = jax.tree.unflatten(
      treedef, [jax.ShapeDtypeStruct(s, d) for s, d in specs])
  file = _structure_file(apply_init, args)
  kept = None if file is None else _read_structure(file)
  if kept is not None:
    return kept
  out = jax.eval_shape(apply_init, jax.random.key(0), *args)
  flat, tree = jax.tree_util.tree_flatten_with_path(out)
  parents = {}
  for path, leaf in flat:
    parents.setdefault(path[:-1], {})[path[-1].key] = leaf
  rules = tuple(_rule(path, leaf.shape, parents[path[:-1]])
                for path, leaf in flat)
  shapes = tuple(leaf.shape for _, leaf in flat)
  if file is not None:
    _write_structure(file, [p for p, _ in flat], shapes, rules)
  return shapes, rules, tree


def _structure_file(apply_init, args) -> pathlib.Path | None:
  """Where a Flax module's variable structure is kept; None: not kept."""
  folder, module = exported.folder(), getattr(apply_init, '__self__', None)
  if folder is None or not isinstance(module, nn.Module):
    return None
  key = (f'variables of {type(module).__module__}.'
         f'{type(module).__qualname__} {module!r}')
  return folder / f'{exported.digest(key, args)}.structure.json'


def _write_structure(file: pathlib.Path, paths, shapes, rules) -> None:
  """The leaves' dict keys, shapes and rules as JSON, in flattening order."""
  if not all(isinstance(k, jax.tree_util.DictKey) for p in paths for k in p):
    return
  leaves = [{'path': [k.key for k in p], 'shape': list(s), 'rule': list(r)}
            for p, s, r in zip(paths, shapes, rules)]
  try:
    runtime.write_json(file, {'leaves': leaves})
  except OSError as e:
    logging.warning('could not keep the variable structure in %s: %s', file,
                    e)


def _read_structure(file: pathlib.Path):
  """`_structure`'s (shapes, rules, tree) from `file`; None if unusable."""
  try:
    leaves = json.loads(file.read_text())['leaves']
    nested = {}
    for leaf in leaves:
      *parents, name = leaf['path']
      node = nested
      for k in parents:
        node = node.setdefault(k, {})
      node[name] = 0
    paths, tree = jax.tree_util.tree_flatten_with_path(nested)
    if [[k.key for k in p] for p, _ in paths] != [x['path'] for x in leaves]:
      raise ValueError('the leaves are not in flattening order')
    return (tuple(tuple(x['shape']) for x in leaves),
            tuple((x['rule'][0], float(x['rule'][1])) for x in leaves), tree)
  except FileNotFoundError:
    return None
  except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
    logging.warning('could not read %s (%s): tracing again', file, e)
    return None


def _draw(key, shapes, rules) -> list[jax.Array]:
  """One U(-1, 1) draw on device, sliced and scaled into leaves on the host.

  The leaves go back with `jax.device_put`, which copies: `jnp.asarray`
  would compile a `stage` executable per leaf shape (17 in `make search`,
  each about 75 ms to read back from the compilation cache).
  """
  u = np.asarray(uniform(key, sum(_sizes(shapes, rules))))
  return jax.device_put([x[0] for x in _host_leaves(u[None], shapes, rules)])


def _host_leaves(u: np.ndarray, shapes, rules) -> list[np.ndarray]:
  """Rows of uniform draws (K, n), sliced and scaled: leaves (K, *shape)."""
  offsets = np.cumsum([0] + _sizes(shapes, rules))
  num = u.shape[0]
  out = []
  for i, (shape, (kind, value)) in enumerate(zip(shapes, rules)):
    if kind == 'uniform':
      part = u[:, offsets[i]:offsets[i + 1]].reshape(num, *shape)
      out.append(np.float32(value) * part)
    else:
      out.append(np.full((num, *shape), value, np.float32))
  return out


@functools.partial(jax.jit, static_argnums=1)
def uniform(key: jax.Array, size: int) -> jax.Array:
  """U(-1, 1), float32 (size,): the one draw torch_init slices into leaves."""
  return jax.random.uniform(key, (size,), jnp.float32, -1.0, 1.0)
