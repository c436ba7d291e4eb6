"""What the search needs to know about a search space: the Space record."""

from collections.abc import Callable
import dataclasses
import pathlib

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class Space:
  """What the search needs to know about a search space.

  Attributes:
    name: registry name.
    ops: candidate op names, in alpha's column order; ops[0] is 'none'
      where has_none.
    datasets: dataset -> (input height/width, classes).
    alpha_shapes: alpha tensor name -> (edges, ops).
    build: (config, num_classes, scaled=False) -> the supernet module;
      `scaled` builds it for the overflow-safe float32 path.
    choose: (last scores, final mask) -> genotype, both dicts of numpy
      (edges, ops) arrays.
    describe: genotype -> JSON-able dict for result.json.
    one_hot: genotype -> dict of (edges, ops) 0/1 arrays, the ops it keeps.
    edge_labels: alpha tensor name -> a label per edge, for tables.
    benchmark: genotype -> ground-truth row (None where no table exists).
    write_artifacts: (genotype, workdir) -> list of files written next to
      result.json (e.g. cell pictures); None where there are none.
    size_fields: config fields that must be positive integers.
    choice_fields: config field -> its valid values, beyond the common ones.
    has_none: ops[0] is 'none' (scores 0, pruned first, never chosen while
      another op is left); False where every op is a real candidate.
    scalable: build(scaled=True) gives the dtype=float32_scaled path.
    input_size: config -> input height/width, overriding `datasets`' (None:
      the data set's).
    flops_table: (config, num_classes) -> (FLOPs of the fixed layers, alpha
      tensor name -> (edges, ops) FLOPs of every candidate), for
      config.flops_penalty; None where the space has no FLOPs model.
    train_bn_blind: with bn_mode=train, ZEROS's R cannot depend on alpha:
      every path to the global pooling ends in a BatchNorm without affine
      parameters, so the pooled features sum to zero over the batch, R is
      the batch size times sum |classifier bias| and dR/dalpha is exactly
      0, for the all-ones image and a batch alike (DARTS). The search
      refuses objective=zeros with bn_mode=train there.
  """

  name: str
  ops: tuple[str, ...]
  datasets: dict[str, tuple[int, int]]
  alpha_shapes: dict[str, tuple[int, int]]
  build: Callable[..., nn.Module]
  choose: Callable[[dict, dict], object]
  describe: Callable[[object], dict]
  one_hot: Callable[[object], dict]
  edge_labels: dict[str, tuple[str, ...]]
  benchmark: Callable[[object], dict] | None = None
  write_artifacts: Callable[[object, pathlib.Path], list[str]] | None = None
  size_fields: tuple[str, ...] = ()
  choice_fields: dict[str, tuple] = dataclasses.field(default_factory=dict)
  has_none: bool = True
  scalable: bool = True
  input_size: Callable[[object], int] | None = None
  flops_table: Callable[[object, int], tuple[int, dict]] | None = None
  train_bn_blind: bool = False
