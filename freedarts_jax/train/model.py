"""The network to train: a genotype from a search, a name or a string.

A DARTS genotype builds DARTS's evaluation network (`darts.Network` with
affine BatchNorms, the auxiliary head and drop-path; CIFAR stem, or the
ImageNet mobile-setting stems with a stem of C channels); an NB201 cell
builds NB201's own network (`nb201.Network` with that cell). Parameter counts
follow DARTS: the auxiliary head is excluded.
"""

import dataclasses
import json
import pathlib

import flax.linen as nn
import jax

from freedarts_jax import errors
from freedarts_jax import layers
from freedarts_jax import tree_util
from freedarts_jax.spaces import darts
from freedarts_jax.spaces import darts_genotype
from freedarts_jax.spaces import nb201

BUILTIN = {'DARTS_V2': darts_genotype.DARTS_V2}


@dataclasses.dataclass(frozen=True)
class Arch:
  """A genotype to train.

  Attributes:
    space: 'darts' or 'nb201'.
    genotype: darts_genotype.Genotype or an NB201 tuple of 6 op names.
    source: where it came from (a file, a name, 'string').
  """

  space: str
  genotype: object
  source: str

  def describe(self) -> dict:
    """JSON-able form for result.json."""
    if self.space == 'nb201':
      return {'space': 'nb201', 'arch': nb201.to_string(self.genotype),
              'genotype': list(self.genotype), 'source': self.source}
    return {'space': 'darts', 'arch': darts_genotype.to_text(self.genotype),
            'genotype': darts_genotype.to_json(self.genotype),
            'source': self.source}


def _from_result(path: pathlib.Path) -> Arch:
  """The genotype of a search's result.json."""
  try:
    result = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError) as e:
    raise errors.GenotypeError(f'cannot read the genotype file {path}: {e}.'
                               ) from e
  except json.JSONDecodeError as e:
    raise errors.GenotypeError(
        f'the genotype file {path} is not valid JSON ({e}); give the '
        'result.json that `python -m freedarts_jax.search` wrote.') from e
  if not isinstance(result, dict) or 'genotype' not in result:
    raise errors.GenotypeError(
        f'the genotype file {path} has no "genotype" field; give the '
        'result.json that `python -m freedarts_jax.search` wrote.')
  space = result.get('space')
  try:
    if space == 'darts':
      return Arch('darts', darts_genotype.from_json(result['genotype']),
                  str(path))
    if space == 'nb201':
      return Arch('nb201', nb201.validate(result['genotype']), str(path))
  except errors.GenotypeError as e:
    raise errors.GenotypeError(f'in {path}: {e}') from e
  raise errors.GenotypeError(
      f'in {path}: ' + errors.one_of('space', space, ('darts', 'nb201')))


def resolve(spec: str) -> Arch:
  """config.genotype -> Arch.

  Args:
    spec: a search's result.json path, a built-in name (DARTS_V2), an NB201
      string (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|) or DARTS's
      Genotype(...) text / JSON.

  Raises:
    errors.GenotypeError: naming the problem and the accepted forms.
  """
  if not isinstance(spec, str) or not spec.strip():
    raise errors.GenotypeError(
        'config.genotype is empty: give a search result.json path, a '
        f'built-in name ({", ".join(BUILTIN)}), an NB201 string or a DARTS '
        'Genotype(...) text.')
  spec = spec.strip()
  if spec in BUILTIN:
    return Arch('darts', BUILTIN[spec], spec)
  if spec.startswith('|'):
    return Arch('nb201', nb201.from_string(spec), 'string')
  if spec.startswith(('Genotype(', '{')):
    return Arch('darts', darts_genotype.from_text(spec), 'string')
  path = pathlib.Path(spec).expanduser()
  if path.is_file():
    return _from_result(path)
  if spec.endswith('.json') or '/' in spec:
    raise errors.GenotypeError(f'no genotype file {spec!r} (not found).')
  raise errors.GenotypeError(
      f'unknown genotype {spec!r}: give a search result.json path, a '
      f'built-in name ({", ".join(BUILTIN)}), an NB201 string such as '
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|'
      'nor_conv_3x3~1|nor_conv_3x3~2| or a DARTS Genotype(...) text.')


def build(arch: Arch, config, num_classes: int, bn_mode: str) -> nn.Module:
  """The network of `arch` for `config`.

  From config's channels, layers, cells_per_stage, dataset and
  auxiliary_weight; bn_mode 'train' to train, 'eval' to test.
  """
  if arch.space == 'nb201':
    return nb201.Network(num_classes, config.channels, config.cells_per_stage,
                         bn_mode, arch.genotype)
  imagenet = config.dataset == 'imagenet2012'
  return darts.Network(
      num_classes, config.channels, config.layers,
      'imagenet' if imagenet else 'cifar', bn_mode, affine=True,
      genotype=arch.genotype, auxiliary=config.auxiliary_weight > 0,
      stem_multiplier=1 if imagenet else darts.STEM_MULTIPLIER,
      # The sliced form with its written VJP on CPU (XLA CPU's grouped
      # convolution and its kernel gradient are slow; training needs no
      # forward mode), the primitive on GPU/TPU (layers.depthwise_conv).
      depthwise=layers.depthwise_impl('auto', reverse_only=True))


def count_params(variables: dict) -> tuple[int, int]:
  """(parameters without the auxiliary head, with it), DARTS's convention."""
  params = variables['params']
  total = tree_util.count_params(params)
  aux = tree_util.count_params(params.get('auxiliary_head', {}))
  return total - aux, total


def train_forward(model: nn.Module, variables: dict, images: jax.Array,
                  drop_path: jax.Array, key: jax.Array):
  """A training-mode forward pass.

  BatchNorm on the batch, running statistics updated, drop-path on DARTS
  ops.

  Returns:
    logits (B, classes), auxiliary logits (B, classes) or None, and the new
    batch_stats.
  """
  if isinstance(model, nb201.Network):
    logits, state = model.apply(variables, images, mutable=['batch_stats'])
    return logits, None, state['batch_stats']
  out, state = model.apply(variables, images, None, drop_path,
                           rngs={'drop_path': key}, mutable=['batch_stats'])
  logits, aux = out if model.auxiliary else (out, None)
  return logits, aux, state['batch_stats']


def predict(model: nn.Module, variables: dict, images: jax.Array) -> jax.Array:
  """Logits (B, classes) of an evaluation-mode network."""
  out = model.apply(variables, images)
  return out[0] if isinstance(out, tuple) else out
