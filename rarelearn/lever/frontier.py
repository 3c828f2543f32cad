"""The lever's frontier on a ``Grid``: each member's learning step (``results.learning_step``
with a margin), the frontier both ways per seed (``results.frontier`` closed upwards, each size's
cell by ``results.frontier_cells``) and over seeds, and the power law fitted on all sizes but
the held-out largest ones and checked against them."""
from __future__ import annotations

import math

import numpy as np

from rarelearn.analysis import claims, results
from rarelearn.lever.grid import Grid
from rarelearn.lever.power_law import fit_power_law, midpoint, predict


def learned_grid(grid: Grid, steps_NFZ: np.ndarray) -> np.ndarray:
  """[N, F, Z] 1.0 learned, 0.0 not, NaN where no member was trained."""
  present = ~np.all(np.isnan(grid.score), axis=-1)
  learned = np.vectorize(lambda s: s is not None, otypes=[np.float64])(steps_NFZ)
  return np.where(present, learned, np.nan)


def learning_steps(grid: Grid, margin: float) -> np.ndarray:
  """[N, F, Z] object array: each member's learning step, ``results.learning_step`` with
  ``margin`` (None: not learned or absent)."""
  N, F, Z, _ = grid.score.shape
  out = np.full((N, F, Z), None, object)
  for idx in np.ndindex(N, F, Z):
    if np.all(np.isnan(grid.score[idx])):
      continue
    out[idx] = results.learning_step(grid.steps, grid.score[idx], grid.threshold, margin)
  return out


def smallest_sizes(learned_NxF, sizes) -> list[float | None]:
  """[F] each frequency's smallest learning size, ``results.frontier`` closed upwards (every
  larger size trained there learning too), or None."""
  _, by_freq = results.frontier(learned_NxF, sizes, range(np.shape(learned_NxF)[1]),
                                closed_upwards=True)
  return [None if s is None else float(s) for s in by_freq.values()]


def frontiers(grid: Grid, learned_NxFxZ: np.ndarray) -> dict:
  """Per seed: each size's cell (low, high] and each frequency's smallest learning size; over
  seeds: the geometric mean of the seeds' midpoints (sizes) and smallest sizes (frequencies)
  with its 95% interval (Student t on the logs)."""
  Z = len(grid.seeds)
  cells = [results.frontier_cells(learned_NxFxZ[:, :, z], grid.freqs) for z in range(Z)]
  by_size = []
  for i, label in enumerate(grid.labels):
    lows = [float(c[0][i]) for c in cells]
    highs = [float(c[1][i]) for c in cells]
    mids = [midpoint(lo, hi) for lo, hi in zip(lows, highs)]
    by_size.append(dict({'size': float(grid.sizes[i]), 'label': label, 'low': lows,
                         'high': highs, 'midpoint': mids}, **_over_seeds(mids)))
  smallest = [smallest_sizes(learned_NxFxZ[:, :, z], grid.sizes) for z in range(Z)]
  by_freq = [dict({'frequency': float(f), 'smallest_size': [s[j] for s in smallest]},
                  **_over_seeds([np.nan if s[j] is None else s[j] for s in smallest]))
             for j, f in enumerate(grid.freqs)]
  return {'by_size': by_size, 'by_frequency': by_freq}


def _over_seeds(values) -> dict:
  """The geometric mean over seeds and its 95% interval (Student t on the logs; None where a
  seed has no value: censored)."""
  if not all(math.isfinite(v) for v in values):
    return {'geometric_mean': None, 'ci95': [None, None]}
  logs = np.log(values)
  mean = float(np.exp(logs.mean()))
  ci = [float(np.exp(v)) for v in claims.interval(logs)] if len(logs) > 1 else [mean, mean]
  return {'geometric_mean': mean, 'ci95': ci}


def fit_and_check(grid: Grid, by_size: list[dict], holdout: int) -> dict:
  """The power law fitted on all sizes but the ``holdout`` largest; its prediction at every
  size, and for the held-out ones whether the measured point (the seeds' geometric mean of
  midpoints; None where a seed is censored) lies inside it."""
  fitted = by_size[:len(by_size) - holdout]
  fit = fit_power_law([r['size'] for r in fitted], [r['low'] for r in fitted],
                      [r['high'] for r in fitted])
  out = {'fit': fit, 'fitted_sizes': [r['size'] for r in fitted], 'predictions': []}
  for i, r in enumerate(by_size):
    p = predict(fit, r['size'])
    if i >= len(fitted):  # the point the fit predicts: the seeds' mean of ln midpoint
      p['held_out'] = True
      p['measured'] = r['geometric_mean']
      p['inside'] = (None if r['geometric_mean'] is None else
                     bool(p['interval'][0] <= r['geometric_mean'] <= p['interval'][1]))
    out['predictions'].append(dict(p, label=r['label']))
  return out
