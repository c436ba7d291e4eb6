"""A small PyTorch reference for benchmarks/peer_cpu.py and peer_gpu.py.

Written for these benchmarks (no code copied from elsewhere): the NB201
network of one cell and the NB201 supernet, the zero-cost proxies as
freedarts_jax/proxies defines them (Abdelfattah et al. 2021; TE-NAS and
ZEROS as their papers), and DARTS-V2's CIFAR evaluation network with its
training step (torch_darts.py). Runs in its own virtualenv, never in the
project's (torch is not a project dependency):

  python3 -m venv /work/peer-venv
  /work/peer-venv/bin/pip install -r benchmarks/requirements-peer.txt

Layers carry the path of the matching Flax variables (`flax_path`) so that
`load_flax` can give a network freedarts_jax's weights and the two
implementations can be compared value for value.
"""

import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 (PyTorch's own alias)

OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def parse_cell(arch: str) -> tuple[str, ...]:
  """'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' -> 6 op names in EDGES order."""
  return tuple(t.split('~')[0] for t in arch.replace('+', '').split('|') if t)


def _tag(module: nn.Module, path: str) -> nn.Module:
  module.flax_path = path
  return module


def _conv(c_in, c_out, k, stride, path):
  return _tag(nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, bias=False),
              path)


def _bn(c, path, affine=True, bn=True):
  if not bn:
    return nn.Identity()
  return _tag(nn.BatchNorm2d(c, affine=affine), path)


class NorConv(nn.Module):
  """ReLU, k x k conv, BatchNorm without affine: NB201's nor_conv op."""

  def __init__(self, c, k, path, bn):
    super().__init__()
    self.relu = nn.ReLU()
    self.conv = _conv(c, c, k, 1, path)
    self.bn = _bn(c, path, affine=False, bn=bn)

  def forward(self, x):
    """(B, C, H, W) -> (B, C, H, W)."""
    return self.bn(self.conv(self.relu(x)))


def _op(name, c, path, bn):
  if name == 'skip_connect':
    return nn.Identity()
  if name == 'avg_pool_3x3':
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
  return NorConv(c, int(name[-1]), f'{path}_{name}', bn)


class Cell(nn.Module):
  """NB201 cell; each edge holds the ops listed for it, mixed by alpha."""

  def __init__(self, c, edge_ops, path, bn):
    super().__init__()
    self.edge_ops = edge_ops
    self.ops = nn.ModuleDict({
        f'{e}_{op}': _op(op, c, f'{path}/edge{to}_{frm}', bn)
        for e, (to, frm) in enumerate(EDGES) for op in edge_ops[e]
        if op != 'none'})

  def forward(self, x, alpha=None):
    """The last node (B, C, H, W); alpha (6, 5) mixes the ops, None sums."""
    nodes = [x]
    for i in range(1, 4):
      total = torch.zeros_like(x)
      for e, (to, frm) in enumerate(EDGES):
        for op in self.edge_ops[e]:
          if to == i and op != 'none':
            y = self.ops[f'{e}_{op}'](nodes[frm])
            total = total + (y if alpha is None else
                             alpha[e, OPS.index(op)] * y)
      nodes.append(total)
    return nodes[-1]


class ResBlock(nn.Module):
  """NB201's stride-2 basic block between stages."""

  def __init__(self, c_in, c_out, path, bn):
    super().__init__()
    self.conv_a = nn.Sequential(nn.ReLU(), _conv(
        c_in, c_out, 3, 2, f'{path}/conv_a/conv/conv'), _bn(
            c_out, f'{path}/conv_a/bn', bn=bn))
    self.conv_b = nn.Sequential(nn.ReLU(), _conv(
        c_out, c_out, 3, 1, f'{path}/conv_b/conv/conv'), _bn(
            c_out, f'{path}/conv_b/bn', bn=bn))
    self.pool = nn.AvgPool2d(2, 2)
    self.downsample = _conv(c_in, c_out, 1, 1, f'{path}/downsample/conv')

  def forward(self, x):
    """(B, C_in, H, W) -> (B, C_out, H / 2, W / 2)."""
    return self.downsample(self.pool(x)) + self.conv_b(self.conv_a(x))


class NB201(nn.Module):
  """NB201's network of one cell, or its supernet.

  edge_ops: one op per edge for the cell's network, or all five per edge
  for the supernet (alpha (6, 5) at call time); bn=False removes every
  BatchNorm (synflow).
  """

  def __init__(self, edge_ops, channels=16, cells_per_stage=5,
               num_classes=10, bn=True):
    super().__init__()
    c = channels
    layers = [_conv(3, c, 3, 1, 'stem_conv/conv'), _bn(c, 'stem_bn', bn=bn)]
    for stage in range(3):
      if stage:
        layers.append(ResBlock(c, 2 * c, f'reduce{stage}', bn))
        c *= 2
      layers += [Cell(c, edge_ops, f'stage{stage}_cell{i}', bn)
                 for i in range(cells_per_stage)]
    self.layers = nn.ModuleList(layers)
    self.lastact = nn.Sequential(_bn(c, 'lastact_bn', bn=bn), nn.ReLU())
    self.classifier = _tag(nn.Linear(c, num_classes), 'classifier/fc')

  def forward(self, x, alpha=None):
    """Logits (B, classes) of x (B, 3, H, W); alpha (6, 5) for a supernet."""
    for layer in self.layers:
      x = layer(x, alpha) if isinstance(layer, Cell) else layer(x)
    x = self.lastact(x).mean(dim=(2, 3))
    return self.classifier(x)


def cell_network(arch: str, **kw) -> NB201:
  """The network of the cell string arch; kw as for NB201."""
  return NB201(tuple((op,) for op in parse_cell(arch)), **kw)


def supernet(**kw) -> NB201:
  """The supernet (all five ops on every edge); kw as for NB201."""
  return NB201((OPS,) * len(EDGES), **kw)


def load_flax(net: nn.Module, flat: dict) -> nn.Module:
  """Copies freedarts_jax variables into the tagged layers of net.

  Variables as 'params/stem_conv/conv/kernel': array; HWIO kernels,
  (in, out) dense.
  """
  def get(col, path, name):
    return torch.from_numpy(np.asarray(flat[f'{col}/{path}/{name}']))

  with torch.no_grad():
    for m in net.modules():
      path = getattr(m, 'flax_path', None)
      if path is None:
        continue
      if isinstance(m, nn.Conv2d):
        m.weight.copy_(get('params', path, 'kernel').permute(3, 2, 0, 1))
      elif isinstance(m, nn.Linear):
        m.weight.copy_(get('params', path, 'kernel').T)
        m.bias.copy_(get('params', path, 'bias'))
      else:
        m.running_mean.copy_(get('batch_stats', path, 'mean'))
        m.running_var.copy_(get('batch_stats', path, 'var'))
        if m.affine:
          m.weight.copy_(get('params', path, 'scale'))
          m.bias.copy_(get('params', path, 'bias'))
  return net


def _weights(net):
  """Conv and linear kernels: the layers the published proxies sum."""
  return [m.weight for m in net.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]


def naswot(net, x, y):
  """log|K_H|, K_H summed over every ReLU of c c^T + (1-c)(1-c)^T."""
  del y
  k = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64)

  def hook(_, inputs, __):
    c = (inputs[0] > 0).flatten(1).float()
    k.add_((c @ c.T + (1 - c) @ (1 - c).T).double())

  handles = [m.register_forward_hook(hook) for m in net.modules()
             if isinstance(m, nn.ReLU)]
  with torch.no_grad():
    net(x)
  for h in handles:
    h.remove()
  return torch.linalg.slogdet(k)[1].item()


def jacob_cov(net, x, y):
  """-sum(log(v + k) + 1 / (v + k)), v the eigenvalues of corrcoef(J)."""
  del y
  x = x.clone().requires_grad_(True)
  net(x).sum().backward()
  j = x.grad.flatten(1).double().numpy()
  v = np.linalg.eigvalsh(np.corrcoef(j))
  return float(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)))


def _loss_grads(net, x, y, create_graph=False):
  """dL/dw per kernel.

  Zeros for a kernel the output does not read (an op on an edge into a node
  with no path to the output).
  """
  weights = _weights(net)
  loss = F.cross_entropy(net(x), y)
  grads = torch.autograd.grad(loss, weights, create_graph=create_graph,
                              allow_unused=True)
  return [torch.zeros_like(w) if g is None else g
          for w, g in zip(weights, grads)]


def grad_norm(net, x, y):
  """grad_norm: sum over kernels of ||dL/dw||_2."""
  return sum(g.norm().item() for g in _loss_grads(net, x, y))


def snip(net, x, y):
  """SNIP: sum over kernels of |w * dL/dw|."""
  return sum((w * g).abs().sum().item()
             for w, g in zip(_weights(net), _loss_grads(net, x, y)))


def grasp(net, x, y):
  """-theta . (H g), g = dL/dtheta held constant."""
  grads = _loss_grads(net, x, y, create_graph=True)
  z = sum((g * g.detach()).sum() for g in grads)
  hg = torch.autograd.grad(z, _weights(net), allow_unused=True)
  hg = [torch.zeros_like(w) if h is None else h
        for w, h in zip(_weights(net), hg)]
  return sum((-w * h).sum().item() for w, h in zip(_weights(net), hg))


def fisher(net, x, y):
  """Fisher: per channel, the squared gradient of its activations.

  0.5 sum over conv/linear outputs and channels of mean_n (sum over
  positions of a * dL/da)^2.
  """
  acts = []

  def hook(_, __, out):
    out.retain_grad()
    acts.append(out)

  handles = [m.register_forward_hook(hook) for m in net.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
  F.cross_entropy(net(x), y).backward()
  for h in handles:
    h.remove()
  total = 0.0
  for a in acts:
    if a.grad is None:  # an op whose output never reaches the loss: 0
      continue
    g = a * a.grad
    g = g.sum(dim=(2, 3)) if g.dim() == 4 else g
    total += 0.5 * g.pow(2).mean(0).sum().item()
  return total


def te_nas(net, x, y):
  """TE-NAS's -cond(J J^T), one backward pass per example.

  J per example over the kernels and BN scales (TE-NAS's loop).
  """
  del y
  weights = [p for name, p in net.named_parameters() if 'weight' in name]
  out = net(x).sum(dim=1)
  rows = []
  for n in range(x.shape[0]):
    g = torch.autograd.grad(out[n], weights, retain_graph=True,
                            allow_unused=True)
    rows.append(torch.cat([t.flatten() for t in g if t is not None]))
  j = torch.stack(rows).double()
  v = torch.linalg.eigvalsh(j @ j.T)
  cond = (v[-1] / v[0]).item()
  return -(1e5 if np.isnan(cond) else cond)


def synflow(net, input_shape, dtype=torch.float64):
  """synflow: sum |theta * dR/dtheta|.

  R = sum of logits of f(ones; |theta|), the network built without
  BatchNorm (bn=False).
  """
  net = net.to(dtype)
  with torch.no_grad():
    for p in net.parameters():
      p.abs_()
  x = torch.ones((1, *input_shape), dtype=dtype, device=next(
      net.parameters()).device)
  net(x).sum().backward()
  return sum((w * w.grad).abs().sum().item() for w in _weights(net))


def zeros_scorer(net, input_shape):
  """The ZEROS supernet scorer: (alpha (6, 5)) -> |alpha * dR/dalpha|.

  R = sum of logits of the supernet f(ones; |theta|, alpha).
  """
  p = next(net.parameters())
  with torch.no_grad():
    for t in list(net.parameters()) + list(net.buffers()):
      if t.is_floating_point():
        t.abs_()
  x = torch.ones((1, *input_shape), dtype=p.dtype, device=p.device)

  def score(alpha):
    alpha = alpha.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x, alpha).sum(), alpha)
    return (alpha * grad).abs()

  return score


PROXIES = {'naswot': naswot, 'jacob_cov': jacob_cov, 'grad_norm': grad_norm,
           'snip': snip, 'fisher': fisher, 'grasp': grasp, 'te_nas': te_nas}


def _time_proxies(job, x, y):
  """Per cell: build the cell's network (PyTorch default init) and score."""
  fn, times, cpu, values = PROXIES[job['proxy']], [], [], []
  for i, arch in enumerate([job['cells'][0]] + job['cells']):  # 1 warm-up
    t, c = time.perf_counter(), time.process_time()
    value = fn(cell_network(arch), x, y)
    if i:
      times.append(time.perf_counter() - t)
      cpu.append(time.process_time() - c)
      values.append(value)
  return {'per_cell_s': times, 'cpu_s': cpu, 'values_own_init': values}


def _same_weights(job, x, y):
  """The proxy of each cell with freedarts_jax's weights loaded."""
  flat = dict(np.load(job['weights']))
  return [PROXIES[job['proxy']](load_flax(cell_network(arch), flat), x, y)
          for arch in job['cells']]


def _time_training(job):
  import torch_darts  # pylint: disable=g-import-not-at-top
  net = torch_darts.Network(channels=job['channels'], layers=job['layers'])
  step = torch_darts.train_step_fn(net)
  gen = torch.Generator().manual_seed(0)
  x = torch.randn(job['batch'], 3, 32, 32, generator=gen)
  y = torch.randint(0, 10, (job['batch'],), generator=gen)
  step(x, y)  # warm-up
  times, cpu = [], []
  for _ in range(job['steps']):
    t, c = time.perf_counter(), time.process_time()
    step(x, y)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
  return {'step_s': times, 'cpu_s': cpu,
          'params': sum(p.numel() for n, p in net.named_parameters()
                        if not n.startswith('aux'))}


def main(job_file: str) -> None:
  """Runs one job (JSON: task 'proxy' or 'train') and writes job['out']."""
  job = json.loads(pathlib.Path(job_file).read_text())
  torch.set_num_threads(job.get('threads', 2))
  torch.manual_seed(0)
  out = {'torch': torch.__version__, 'threads': torch.get_num_threads(),
         'loadavg_before': os.getloadavg()}
  if job['task'] == 'train':
    out.update(_time_training(job))
  else:
    batch = np.load(job['batch'])
    x = torch.from_numpy(batch['x']).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(batch['y']).long()
    out.update(_time_proxies(job, x, y))
    out['values_same_weights'] = _same_weights(job, x, y)
  out['loadavg_after'] = os.getloadavg()
  pathlib.Path(job['out']).write_text(json.dumps(out))


if __name__ == '__main__':
  main(sys.argv[1])
