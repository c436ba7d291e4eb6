"""Human-readable summary of a search result."""

from freedarts_jax import nb201_table


def score_table(result: dict, name: str) -> list[str]:
  """The last round's scores of alpha tensor `name`: a header, a row an edge."""
  lines = ['  edge  ' + ' '.join(f'{op:>13}' for op in result['ops'])]
  for label, row in zip(result['edges'][name], result['scores'][name]):
    lines.append(f'  {label:<5} ' + ' '.join(f'{v:13.4e}' for v in row))
  return lines


def budget_lines(budget: dict, seeds: list[int] | None = None) -> list[str]:
  """The budget, the chosen cost, the unconstrained choice, the score given up.

  For an ensemble each seed's (budget['seeds'], in the order of `seeds`).
  """
  unit = {'params': 'parameters', 'flops': 'multiply-adds'}[budget['metric']]
  lines = [f'budget: {unit} <= {budget["limit"]:,.0f} ({budget["network"]}; '
           f'smallest in the space {budget["min_cost"]:,.0f}); chosen: '
           f'{budget["cost"]:,.0f}']
  for seed, b in ([(None, budget)] if seeds is None else
                  zip(seeds, budget['seeds'])):
    head = '  ' if seed is None else f'  seed {seed}: {b["cost"]:,.0f}; '
    lines.append(
        f'{head}unconstrained choice {b["unconstrained"]["cost"]:,.0f}: '
        f'{b["unconstrained"]["arch"]}')
    lines.append(
        f'  score given up: {b["score_given_up"]:.4g} '
        f'({100 * b["score_given_up_fraction"]:.2f}% of the unconstrained '
        f'score, on the scores of round {b["round"]})')
  return lines


def format_result(result: dict) -> str:
  """The chosen cell, the per-edge score table, accuracies and timings."""
  lines = [f'cell: {result.get("arch", result.get("genotype"))}',
           f'space {result["space"]}, dataset {result["dataset"]}, seed '
           f'{result["seed"]}, dtype {result["dtype"]} (requested '
           f'{result["dtype_requested"]}), bn_mode {result["bn_mode"]}, '
           f'schedule {result["schedule"]}, R = {result["r"]:.6g}']
  if result['dtype_fallback']:
    lines.append('float32 guard tripped, re-scored in float64: '
                 + result['dtype_fallback']['reason'])
  for name in result['scores']:
    seed_note = ', first seed' if result.get('ensemble') else ''
    lines.append(f'ZEROS of the last round ({name}{seed_note}):')
    lines.extend(score_table(result, name))
  bench = result.get('benchmark')
  if bench:
    lines.append('NB201 test accuracy (shipped table, index '
                 f'{bench["index"]}): ' + ', '.join(
                     f'{name} {bench[col]:.2f}'
                     for name, col in nb201_table.ACCURACIES.values()))
  if 'eval_params' in result:
    lines.append(f'{result["eval_network"]}: {result["eval_params"]:,} '
                 f'parameters (DARTS-V2: {result["darts_v2_params"]:,})')
  if result.get('budget'):
    ens = result.get('ensemble')
    lines.extend(budget_lines(result['budget'], ens and ens['seeds']))
  penalty = result.get('penalty')
  if penalty:
    lines.append(f'FLOPs penalty {result["flops_penalty"]}: expected FLOPs '
                 f'{penalty["expected_flops"]:.4g}, factor '
                 f'{penalty["factor"]:.4f}, its share of the scores: median '
                 f'{penalty["share_median"]:.3g}, max '
                 f'{penalty["share_max"]:.3g}')
  ens = result.get('ensemble')
  if ens:
    lines.append(f'{len(ens["seeds"])} seeds: consensus cell above, chosen by '
                 f'{ens["agree"]} of them; op wins per edge:')
    for name, rows in ens['wins'].items():
      for label, row in zip(result['edges'][name], rows):
        lines.append(f'  {label:<5} ' + ' '.join(f'{v:13d}' for v in row))
    stats = ens.get('benchmark_stats')
    if stats:
      lines.append("over the seeds' cells: " + ', '.join(
          f'{name} {stats[col]["mean"]:.2f} +- {stats[col]["std"]:.2f}'
          for name, col in nb201_table.ACCURACIES.values()))
  t = result['timing']
  lines.append(f'time: init {t["init_s"]:.1f} s, compile {t["compile_s"]:.1f}'
               f' s, scoring {t["score_s"]:.2f} s over '
               f'{len(result["rounds"])} round(s), total {t["total_s"]:.1f} s')
  return '\n'.join(lines)
