"""DARTS-V2's CIFAR evaluation network and its training step, in PyTorch.

The peer of freedarts_jax.train for benchmarks/peer_cpu.py, written for it
and built like freedarts_jax's network (spaces/darts*.py) so both do the
same work: stem 3x3 conv to 3 C + BatchNorm, 20 cells with reductions at
cells 6 and 13, separable / dilated convs as ReLU, depthwise, 1x1, affine
BatchNorm, pools followed by a BatchNorm without affine (as freedarts_jax's
ops_from does), drop-path on every non-identity op, the auxiliary head after
cell 13 (loss weight 0.4), then SGD: gradient clipped to norm 5, weight
decay 3e-4, momentum 0.9.
"""

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 (PyTorch's own alias)

# DARTS-V2 (Liu et al. 2019): per cell type, (op, input) for nodes 2..5.
DARTS_V2 = {
    'normal': [('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),
               ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0),
               ('skip_connect', 0), ('dil_conv_3x3', 2)],
    'reduce': [('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2),
               ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2),
               ('skip_connect', 2), ('max_pool_3x3', 1)],
}
CONVS = {'sep_conv_3x3': (3, 1, 2), 'sep_conv_5x5': (5, 1, 2),
         'dil_conv_3x3': (3, 2, 1), 'dil_conv_5x5': (5, 2, 1)}


def _relu_conv_bn(c_in, c_out, k=1, stride=1):
  return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride,
                                            (k - 1) // 2, bias=False),
                       nn.BatchNorm2d(c_out))


class FactorizedReduce(nn.Module):
  """ReLU, two 1x1 stride-2 convs (one on x shifted by a pixel), BN."""

  def __init__(self, c_in, c_out):
    super().__init__()
    self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
    self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
    self.bn = nn.BatchNorm2d(c_out)

  def forward(self, x):
    """(B, C_in, H, W) -> (B, C_out, H / 2, W / 2)."""
    x = F.relu(x)
    return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])],
                             dim=1))


def _op(name, c, stride):
  if name in CONVS:
    k, dilation, stages = CONVS[name]
    parts = []
    for s in range(stages):
      parts += [nn.ReLU(), nn.Conv2d(
          c, c, k, stride if s == 0 else 1, dilation * (k - 1) // 2,
          dilation=dilation if s == 0 else 1, groups=c, bias=False),
                nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]
    return nn.Sequential(*parts)
  if name == 'max_pool_3x3':
    return nn.Sequential(nn.MaxPool2d(3, stride, 1),
                         nn.BatchNorm2d(c, affine=False))
  if name == 'avg_pool_3x3':
    return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False),
                         nn.BatchNorm2d(c, affine=False))
  return nn.Identity() if stride == 1 else FactorizedReduce(c, c)


def _drop_path(x, rate):
  keep = 1.0 - rate
  mask = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), keep))
  return x * mask / keep


class Cell(nn.Module):
  """A DARTS cell of a genotype: two inputs, four nodes, concat of 2..5."""

  def __init__(self, pairs, c_pp, c_p, c, reduction, reduction_prev):
    super().__init__()
    self.pre0 = (FactorizedReduce(c_pp, c) if reduction_prev
                 else _relu_conv_bn(c_pp, c))
    self.pre1 = _relu_conv_bn(c_p, c)
    self.pairs, self.reduction = pairs, reduction
    self.ops = nn.ModuleList(
        _op(name, c, 2 if reduction and j < 2 else 1) for name, j in pairs)

  def forward(self, s0, s1, drop):
    """The cell's output (B, 4 C, H', W') from the two previous outputs.

    drop: the drop-path rate (0: none).
    """
    nodes = [self.pre0(s0), self.pre1(s1)]
    for n in range(4):
      total = 0
      for i in (2 * n, 2 * n + 1):
        name, j = self.pairs[i]
        y = self.ops[i](nodes[j])
        identity = name == 'skip_connect' and not (self.reduction and j < 2)
        if drop > 0 and not identity:
          y = _drop_path(y, drop)
        total = total + y
      nodes.append(total)
    return torch.cat(nodes[2:], dim=1)


class AuxiliaryHead(nn.Module):
  """DARTS's CIFAR auxiliary classifier (an 8x8 input)."""

  def __init__(self, c, num_classes):
    super().__init__()
    self.features = nn.Sequential(
        nn.ReLU(), nn.AvgPool2d(5, 3, count_include_pad=False),
        nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU())
    self.classifier = nn.Linear(768, num_classes)

  def forward(self, x):
    """Logits (B, classes) from a cell's output (B, C, 8, 8)."""
    return self.classifier(self.features(x).mean(dim=(2, 3)))


class Network(nn.Module):
  """DARTS's CIFAR evaluation network of a genotype."""

  def __init__(self, genotype=None, channels=36, layers=20, num_classes=10):
    super().__init__()
    genotype = genotype or DARTS_V2
    c = channels
    self.stem = nn.Sequential(nn.Conv2d(3, 3 * c, 3, padding=1, bias=False),
                              nn.BatchNorm2d(3 * c))
    c_pp, c_p, reduction_prev = 3 * c, 3 * c, False
    self.cells = nn.ModuleList()
    self.aux_at = 2 * layers // 3
    for i in range(layers):
      reduction = i in (layers // 3, 2 * layers // 3)
      c = 2 * c if reduction else c
      self.cells.append(Cell(genotype['reduce' if reduction else 'normal'],
                             c_pp, c_p, c, reduction, reduction_prev))
      c_pp, c_p, reduction_prev = c_p, 4 * c, reduction
      if i == self.aux_at:
        self.aux = AuxiliaryHead(c_p, num_classes)
    self.classifier = nn.Linear(c_p, num_classes)

  def forward(self, x, drop=0.0):
    """Logits (B, classes) and auxiliary logits from x (B, 3, H, W)."""
    s0 = s1 = self.stem(x)
    aux = None
    for i, cell in enumerate(self.cells):
      s0, s1 = s1, cell(s0, s1, drop)
      if i == self.aux_at:
        aux = self.aux(s1)
    return self.classifier(s1.mean(dim=(2, 3))), aux


def train_step_fn(net, lr=0.025, momentum=0.9, weight_decay=3e-4, clip=5.0,
                  aux_weight=0.4, drop=0.2):
  """One SGD step on (images (B, 3, H, W), labels (B,)) -> loss."""
  opt = torch.optim.SGD(net.parameters(), lr, momentum=momentum,
                        weight_decay=weight_decay)
  net.train()

  def step(x, y):
    opt.zero_grad(set_to_none=True)
    logits, aux = net(x, drop)
    loss = F.cross_entropy(logits, y)
    total = loss + aux_weight * F.cross_entropy(aux, y)
    total.backward()
    nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()
    return loss.item()

  return step
