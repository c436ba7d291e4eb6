"""The NTK check of the ZEROS claim, sized for a 2-core CPU (~13 min shared).

  python -m theory.verify_ntk --config=configs/theory_nb201.py \
      --workdir=docs/theory

Writes report.json, report.md and op_level.png, arch_level.png,
infinite_width.png: ZEROS against the change of the NTK bound B and of
lambda_min when one op is removed (empirical NTK of a small Flax supernet and
the analytic infinite-width NTK), and NTK quantities of sampled NB201 cells
against their CIFAR-10 accuracy.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.experiments = 'op,arch,stax'  # comma-separated, non-empty: op, arch, stax
  c.seed = 0  # root PRNG seed (weights, alpha, inputs, labels, sampling)
  c.num_classes = 10  # logits K (CIFAR-10); >= 2
  c.channels = 8  # C of the first stage (NB201: 16)
  c.cells_per_stage = 1  # N (NB201: 5)
  c.image_size = 8  # H = W of the Gaussian inputs (CIFAR: 32)
  c.bn_mode = 'eval'  # eval | none (train couples the samples)
  c.alpha_init = 'normal'  # normal: |alpha_scale * N(0, 1)|; ones
  c.alpha_scale = 1.0  # keeps the cells' signal with BatchNorm eval / none
  c.n = 32  # inputs of the empirical NTK; >= 2
  c.block = 32  # samples per NTK block (memory: 2 blocks of Jacobians)
  c.rel_ridge = 1e-3  # ridge on Theta / its mean eigenvalue; 0: no ridge
  c.op_seeds = 3  # draws of theta, alpha, inputs for the op level
  c.arch_k = 32  # NB201 cells sampled for the architecture level; >= 3
  c.arch_seeds = 1  # draws of theta and inputs per cell (geometric mean)
  c.stax_n = 16  # inputs of the analytic NTK (cost ~ n^2); >= 2
  c.stax_seeds = 2  # draws of alpha and inputs for the stax op level
  c.stax_zeros_seeds = 4  # draws of theta averaged in its ZEROS
  c.bootstrap = 1000  # bootstrap resamples per confidence interval
  return c
