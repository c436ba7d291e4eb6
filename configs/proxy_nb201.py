"""Zero-cost proxies over NAS-Bench-201 (the proxy benchmark).

  python -m freedarts_jax.proxy_bench --config=configs/proxy_nb201.py \
      --workdir=runs/proxies --config.proxies=synflow,zeros --config.limit=1000

Scores every chosen cell with every chosen proxy and writes scores.csv,
correlations.json / correlations.md (Spearman and Kendall with the shipped
table's test accuracies), plots/*.png and result.json (timings included).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.proxies = 'all'  # ids, comma-separated, or all; snip, grasp: weight level
  c.limit = 0  # 0: all 15,625 cells; N: a seeded random subset of N
  c.seed = 0  # PRNG seed of the subset, the weights and the data batch
  c.init = 'shared'  # shared: one draw for all cells; per_cell: key + index
  c.data = 'synthetic'  # synthetic (Gaussian) | cifar10 (tfds if prepared)
  c.data_dir = ''  # tfds data_dir for data=cifar10; '' = tfds's default
  c.batch_size = 64  # images in the batch of the data-dependent proxies
  c.dataset = 'cifar10'  # network shape: cifar10 | cifar100 | imagenet16
  c.channels = 16  # C of the first stage (NB201: 16)
  c.cells_per_stage = 5  # N (NB201: 5)
  c.chunk = 64  # cells per device between writes (routed: per call)
  c.vmap = 0  # cells per device and call (unrouted); 0: automatic
  c.routed = True  # only each cell's ops (routed.py; cell_net.py for data)
  c.synflow_dtype = 'float64'  # float64 | float32 (overflow-safe, rescaled)
  c.zeros_dtype = 'float64'  # float64 | float32 (noise on some cells)
  c.zeros_bn_mode = 'train'  # BatchNorm of zeros' network: train|eval|none
  # The data-dependent proxies' networks: auto (float32; grasp and te_nas
  # float64) | float32 | float64 (proxies.Setup.data_dtype)
  c.data_dtype = 'auto'
  c.progress = True  # progress bar per proxy
  c.merge_wait_s = 3600.0  # process 0 waits this long for other processes
  return c
