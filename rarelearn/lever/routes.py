"""Up-weight or scale: for each size that misses the task at the base frequency, per seed, the
route that up-weights (this size at its lowest learned frequency) and the one that scales (the
smallest size learning at the base frequency; beyond the grid, the size the power law
predicts), each with its cost — training FLOPs and steps to the learning step, the change of
the other tasks' loss, the passes over a finite set of train instances — and over seeds per
size."""
from __future__ import annotations

import math

import numpy as np

from rarelearn.analysis import results
from rarelearn.lever.frontier import learned_grid, smallest_sizes
from rarelearn.lever.grid import Grid
from rarelearn.lever.power_law import finite_or_none, size_for


def _cost(grid: Grid, steps_NFZ, i: int, j: int, z: int) -> dict:
  s = steps_NFZ[i, j, z]
  reps = (s * grid.instances_per_step[i, j] / grid.train_instances
          if grid.train_instances else None)
  return {'size': float(grid.sizes[i]), 'label': grid.labels[i],
          'frequency': float(grid.freqs[j]), 'steps': s, 'flops': grid.flops_per_step[i, j] * s,
          'repetitions': reps}


def base_index(grid: Grid) -> int:
  """The grid column of the base frequency."""
  match = np.flatnonzero(np.isclose(grid.freqs, grid.base_frequency, rtol=1e-6, atol=0))
  if not match.size:
    raise ValueError(f'base frequency {grid.base_frequency:g} is not one of the grid\'s '
                     f'{[float(f) for f in grid.freqs]}')
  return int(match[0])


def routes(grid: Grid, steps_NFZ: np.ndarray, fit: dict | None) -> list[dict]:
  """Per seed and per size that misses the task at the base frequency: the up-weight route
  (this size at its lowest learned frequency) and the scale route (the smallest size learning
  at the base frequency), their costs and effect on the other tasks, and the cheaper one."""
  if grid.base_frequency is None:
    return []
  j0, rows, learned_NFZ = base_index(grid), [], learned_grid(grid, steps_NFZ)
  for z, seed in enumerate(grid.seeds):
    learned = learned_NFZ[:, :, z]
    _, high = results.frontier_cells(learned, grid.freqs)
    scale = smallest_sizes(learned, grid.sizes)[j0]
    for i in np.flatnonzero(learned[:, j0] == 0):  # trained at the base frequency, missed it
      row = {'seed': seed, 'size': float(grid.sizes[i]), 'label': grid.labels[i],
             'upweight': None, 'scale': None}
      if math.isfinite(high[i]):
        j = int(np.flatnonzero(grid.freqs == high[i])[0])
        row['upweight'] = dict(_cost(grid, steps_NFZ, i, j, z), other_loss_change=finite_or_none(
            grid.other_loss[i, j, z] - grid.other_loss[i, j0, z]))
      if scale is not None:
        k = int(np.flatnonzero(grid.sizes == scale)[0])
        row['scale'] = dict(_cost(grid, steps_NFZ, k, j0, z), other_loss_change=finite_or_none(
            grid.other_loss[k, j0, z] - grid.other_loss[i, j0, z]))
      elif fit is not None:
        row['scale'] = {'beyond_grid': True, 'predicted_size': size_for(fit, grid.freqs[j0]),
                        'flops': None}
      costs = {k: row[k]['flops'] for k in ('upweight', 'scale')
               if row[k] is not None and row[k]['flops'] is not None}
      row['cheaper'] = (min(costs, key=costs.get) if len(costs) == 2 else
                        f'{next(iter(costs))} (the other not measured)' if costs else
                        'neither measured')
      rows.append(row)
  return rows


def _gmean(values) -> float | None:
  values = [v for v in values if v is not None]
  return float(np.exp(np.mean(np.log(values)))) if values else None


def _mean(values) -> float | None:
  values = [v for v in values if v is not None]
  return float(np.mean(values)) if values else None


def routes_by_size(rows: list[dict]) -> list[dict]:
  """The routes per size over seeds: how many seeds each is cheaper in, the geometric mean of
  each route's FLOPs and steps, the mean change of the other tasks' loss and the passes."""
  out = []
  for size in sorted({r['size'] for r in rows}):
    mine = [r for r in rows if r['size'] == size]
    row = {'size': size, 'label': mine[0]['label'], 'seeds': len(mine),
           'cheaper': {c: sum(r['cheaper'] == c for r in mine)
                       for c in sorted({r['cheaper'] for r in mine})}}
    for key in ('upweight', 'scale'):
      routes_ = [r[key] for r in mine if r[key] is not None and r[key].get('flops') is not None]
      beyond = [r[key]['predicted_size'] for r in mine if r[key] and r[key].get('beyond_grid')]
      row[key] = None if not routes_ else {
          'to': [t for _, t in sorted({(r['size'], r['label']) if key == 'scale' else
                                       (r['frequency'], r['frequency']) for r in routes_})],
          'seeds': len(routes_), 'flops': _gmean([r['flops'] for r in routes_]),
          'steps': _gmean([r['steps'] for r in routes_]),
          'other_loss_change': _mean([r['other_loss_change'] for r in routes_]),
          'repetitions': _mean([r['repetitions'] for r in routes_])}
      if beyond:  # the seeds whose scale route lies beyond the grid
        extra = {'beyond_grid': True, 'beyond_grid_seeds': len(beyond),
                 'predicted_size': beyond[0]}
        row[key] = dict(row[key] or {}, **extra)
    out.append(row)
  return out
