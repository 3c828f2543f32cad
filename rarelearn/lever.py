"""Up-weight or scale? From finished runs whose members span sizes × frequencies of one task:
the frontier both ways, its power law f*(N) = a·N^(−κ) with intervals and extrapolation, and
what each route to "learned" costs.

    python -m rarelearn.lever --workdir=W [--workdir=W2 …] [--threshold=T] [--margin=0.05]
                              [--base_frequency=F] [--holdout=K]

(T and F in (0, 1], the margin finite ≥ 0, K ≥ 0: else one line, exit status 2.) The lever reads
finished workdirs and trains nothing: it takes no config.

Reads any run of the MLP families (a toy or MSP population with a swept ``factor`` or
``rare_frequency`` of ``mixture.rare_task``; without one, the tasks' own frequencies are the
frequency axis) or of the token ladder (rungs × injection frequencies). Several workdirs of one
family and task are read as one grid (e.g. a ladder and more rungs trained later).

- **Learned** is the first sustained crossing: the first evaluated step at which the task's
  score (ℓ_r for the toy, test accuracy for the ladder) is ≥ the threshold (the run's
  ``learned_threshold`` unless ``--threshold``) and from which it never falls below the
  threshold − margin (``--margin``, 0.05) to the end; a score hovering at the threshold is
  learned once, at its first crossing, or not at all.
- **The frontier both ways**, per seed: each size's lowest learned frequency — the lowest one
  from which every higher frequency of the grid is learned too — and each frequency's smallest
  learning size (likewise closed upwards). A size's frontier is only known to lie between that
  frequency and the next lower one of the grid: its geometric midpoint is the point estimate,
  and a size learning at every frequency (or at none) is censored. Across seeds: the geometric
  mean with the Student t 95% interval of the mean log (``rarelearn.claims.interval``).
- **The power law** ln f* = ln a − κ·ln N, least squares with one point per size (the seeds'
  mean of ln midpoint; sizes censored in any seed left out), with 95% intervals for a and κ
  and 90% prediction intervals for a size's point at sizes not trained: 10 and 100 times the
  largest (``extrapolation``), and with ``--holdout=K`` the K largest, left out of the fit and
  scored against it. A point's variance is the larger of the residual variance and what the
  grid and the seeds give on their own (a midpoint is uniform within its cell: w²/12 for a
  cell of log-width w, not divided by the seeds, which often share a cell; plus the seeds'
  spread over their number), so a fit through identical seeds on a coarse grid is not falsely
  exact, and seeds that agree are not counted as independent points.
- **The routes**, for each size that does not learn the task at the base frequency
  (``--base_frequency``; default the toy's own π_r, the ladder's lowest frequency): up-weight —
  stay at this size, train at its frontier frequency — or scale — the smallest size that learns
  it at the base frequency (beyond the grid: the size the power law predicts, cost unknown).
  Each route's cost is training FLOPs to the learning step (the family's own count per step:
  6 × weights × batch for the MLP, ``plan.flops_per_member_step`` for a transformer), its
  effect on the other tasks (the toy: their π-weighted loss at their original frequencies; the
  ladder: background loss), and for a task with a finite set of instances (the token tasks'
  5,000 train pairs) how many times the route shows each one, on average, before it is learned.
- **The toy's theory**: the utility theory's critical width at each frequency and its own κ,
  fitted the same way to its frontier at the trained widths.

Limits: the power law is an empirical form fitted where the grid measures a frontier; it says
nothing past a size where the task set runs out (the toy's width D learns every direction) or
the training budget does (a ladder's rungs share one number of steps). Without a swept
frequency the tasks' own frequencies form the axis, and the tasks differ in more than frequency
(their spectra, their parity orders). Learning steps are known to the evaluation interval.

Writes ``W/lever/lever.json`` (every table, the fit, the command, versions) and
``W/lever/lever.png`` (the frontier per seed with the fit and its prediction band; the routes'
costs) under the first workdir (``--out`` elsewhere).
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import Sequence

import numpy as np
from scipy import stats

from rarelearn import claims, configlib, results
from rarelearn import workdir as wd

LEVEL_FIT, LEVEL_PREDICTION = 0.95, 0.90
EXTRAPOLATE = (10, 100)  # report the frontier at these multiples of the largest size


@dataclasses.dataclass
class Grid:
  """A run read as [sizes N, frequencies F, seeds Z, evaluations P]; NaN where absent."""
  family: str
  task: str
  sizes: np.ndarray  # [N] ascending, parameters (``size_unit``)
  labels: list[str]  # [N] e.g. "width 8", "d16"
  freqs: np.ndarray  # [F] ascending
  seeds: list[int]
  steps: np.ndarray  # [P]
  score: np.ndarray  # [N, F, Z, P]
  other_loss: np.ndarray  # [N, F, Z] final; NaN where not defined
  flops_per_step: np.ndarray  # [N, F]
  instances_per_step: np.ndarray  # [N, F] task examples drawn per step (expected)
  threshold: float
  base_frequency: float | None
  size_unit: str
  train_instances: int | None = None  # a finite set of instances (None: fresh draws)
  theory: dict | None = None
  wall_time_s: float | None = None  # the runs' training time, all workdirs (summary.json)


# ---------------------------------------------------------------------------------------------
# The rules on trajectories and grids.

def learning_step(steps: Sequence[int], score: Sequence[float], threshold: float,
                  margin: float) -> int | None:
  """The first evaluated step at which ``score`` ≥ ``threshold`` and after which it never falls
  below ``threshold − margin`` (None if there is none; NaN counts as below)."""
  score = np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf)
  stays = np.flip(np.minimum.accumulate(np.flip(score))) >= threshold - margin
  ok = np.flatnonzero((score >= threshold) & stays)
  return int(steps[ok[0]]) if ok.size else None


def learned_grid(grid: Grid, steps_NFZ: np.ndarray) -> np.ndarray:
  """[N, F, Z] 1.0 learned, 0.0 not, NaN where no member was trained."""
  present = ~np.all(np.isnan(grid.score), axis=-1)
  learned = np.vectorize(lambda s: s is not None, otypes=[np.float64])(steps_NFZ)
  return np.where(present, learned, np.nan)


def learning_steps(grid: Grid, margin: float) -> np.ndarray:
  """[N, F, Z] object array: each member's learning step (None: not learned or absent)."""
  N, F, Z, _ = grid.score.shape
  out = np.full((N, F, Z), None, object)
  for idx in np.ndindex(N, F, Z):
    if np.all(np.isnan(grid.score[idx])):
      continue
    out[idx] = learning_step(grid.steps, grid.score[idx], grid.threshold, margin)
  return out


def closed_upwards(learned: Sequence[float]) -> int | None:
  """The index from which every later entry present is learned (1/True); absent entries (NaN)
  are skipped. None when the last present entry is not learned, or none is present."""
  v = np.asarray(learned, np.float64)
  idx = np.flatnonzero(~np.isnan(v))
  if not idx.size or not v[idx[-1]]:
    return None
  misses = np.flatnonzero(v[idx] == 0)
  return int(idx[misses[-1] + 1]) if misses.size else int(idx[0])


def _previous_present(row: np.ndarray, j: int) -> int | None:
  before = np.flatnonzero(~np.isnan(row[:j]))
  return int(before[-1]) if before.size else None


def frontier_cells(learned_NxF, freqs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
  """([N] low, [N] high): each size's lowest learned frequency lies in (low, high], ``low``
  the next lower frequency the size was trained at. Learned at every frequency: (0, lowest];
  at none: (highest, inf). ``learned``: 1/True, 0/False, or NaN where no member was trained."""
  freqs = np.asarray(freqs, np.float64)
  grid = np.asarray(learned_NxF, np.float64)
  low, high = np.zeros(len(grid)), np.full(len(grid), np.inf)
  for i, row in enumerate(grid):
    j = closed_upwards(row)
    if j is None:
      present = np.flatnonzero(~np.isnan(row))
      low[i] = freqs[present[-1]] if present.size else np.nan
    else:
      k = _previous_present(row, j)
      low[i], high[i] = (freqs[k] if k is not None else 0.0), freqs[j]
  return low, high


def smallest_sizes(learned_NxF, sizes: Sequence[float]) -> list[float | None]:
  """[F] each frequency's smallest learning size (every larger one trained there learning
  too), or None."""
  out = []
  for col in np.asarray(learned_NxF, np.float64).T:
    i = closed_upwards(col)
    out.append(None if i is None else float(sizes[i]))
  return out


def midpoint(low: float, high: float) -> float:
  """The geometric midpoint of an interior cell (NaN for a censored one)."""
  return math.sqrt(low * high) if 0 < low and math.isfinite(high) else math.nan


# ---------------------------------------------------------------------------------------------
# The power law f*(N) = a · N^(−κ).

def fit_power_law(sizes: Sequence[float], low_NxZ, high_NxZ) -> dict:
  """Least squares of ln f* on ln N, one point per size: the mean over seeds of ln of each
  seed's cell midpoint, over the sizes where every seed's cell is interior. ``a`` and ``kappa``
  with ``LEVEL_FIT`` intervals. The variance of a size's point is the larger of the residual
  variance and what the grid and the seeds alone give — the cells' resolution (mean w²/12, w a
  cell's log-width; not divided by the seeds, which often share a cell) plus the seeds' spread
  over their number; with two sizes only (no residual) that model variance alone, with normal
  quantiles."""
  low = np.asarray(low_NxZ, np.float64).reshape(len(sizes), -1)
  high = np.asarray(high_NxZ, np.float64).reshape(len(sizes), -1)
  mids = np.vectorize(midpoint)(low, high)
  keep = np.all(np.isfinite(mids), axis=1)
  if keep.sum() < 2:
    raise ValueError(f'the power law needs interior frontiers (in every seed) at ≥ 2 sizes; '
                     f'got {int(keep.sum())}')
  x, logs = np.log(np.asarray(sizes, np.float64)[keep]), np.log(mids[keep])
  y, seeds = logs.mean(axis=1), logs.shape[1]
  X = np.stack([np.ones_like(x), x], axis=1)
  beta = np.linalg.lstsq(X, y, rcond=None)[0]
  df = int(x.size - 2)
  resid = y - X @ beta
  resolution = float(np.mean(np.log(high[keep] / low[keep]) ** 2) / 12)
  spread = float(logs.var(axis=1, ddof=1).mean() / seeds) if seeds > 1 else 0.0
  residual = float(resid @ resid / df) if df > 0 else math.nan
  var = max(residual, resolution + spread) if df > 0 else resolution + spread
  xtx_inv = np.linalg.inv(X.T @ X)
  q = _quantile(LEVEL_FIT, df)
  se = np.sqrt(var * np.diag(xtx_inv))
  return {'a': float(np.exp(beta[0])), 'kappa': float(-beta[1]),
          'a_ci95': [float(np.exp(beta[0] - q * se[0])), float(np.exp(beta[0] + q * se[0]))],
          'kappa_ci95': [float(-beta[1] - q * se[1]), float(-beta[1] + q * se[1])],
          'sizes': int(x.size), 'seeds': int(seeds), 'df': df, 'sigma': math.sqrt(var),
          'residual_sigma': _or_none(math.sqrt(residual)) if df > 0 else None,
          'resolution_sigma': math.sqrt(resolution), 'seed_sigma': math.sqrt(spread),
          'sigma_is_model': bool(not df > 0 or residual <= resolution + spread),
          'beta': beta.tolist(), 'xtx_inv': xtx_inv.tolist()}


def _quantile(level: float, df: int) -> float:
  """The two-sided ``level`` quantile of Student's t with ``df`` (normal without any)."""
  p = 0.5 + level / 2
  return float(stats.t.ppf(p, df) if df > 0 else stats.norm.ppf(p))


def predict(fit: dict, size: float, level: float = LEVEL_PREDICTION) -> dict:
  """The power law's frontier at ``size`` and the prediction interval of a size's point there
  (the seeds' mean of ln f*, as many seeds as the fit's)."""
  x0 = np.array([1.0, math.log(size)])
  y0 = float(x0 @ np.asarray(fit['beta']))
  se = fit['sigma'] * math.sqrt(1.0 + x0 @ np.asarray(fit['xtx_inv']) @ x0)
  q = _quantile(level, fit['df'])
  return {'size': float(size), 'frequency': math.exp(y0),
          'interval': [math.exp(y0 - q * se), math.exp(y0 + q * se)], 'level': level}


def size_for(fit: dict, frequency: float) -> float:
  """The size whose predicted frontier is ``frequency``: (a / f)^(1/κ)."""
  try:
    return (fit['a'] / frequency) ** (1.0 / fit['kappa']) if fit['kappa'] > 0 else math.inf
  except OverflowError:  # a frontier (nearly) flat in size
    return math.inf


# ---------------------------------------------------------------------------------------------
# The frontier over seeds, the held-out check and the routes.

def frontiers(grid: Grid, learned_NxFxZ: np.ndarray) -> dict:
  """Per seed: each size's cell (low, high] and each frequency's smallest learning size; over
  seeds: the geometric mean of the seeds' midpoints (sizes) and smallest sizes (frequencies)
  with its 95% interval (Student t on the logs)."""
  Z = len(grid.seeds)
  cells = [frontier_cells(learned_NxFxZ[:, :, z], grid.freqs) for z in range(Z)]
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
    _, high = frontier_cells(learned, grid.freqs)
    scale = smallest_sizes(learned, grid.sizes)[j0]
    for i in np.flatnonzero(learned[:, j0] == 0):  # trained at the base frequency, missed it
      row = {'seed': seed, 'size': float(grid.sizes[i]), 'label': grid.labels[i],
             'upweight': None, 'scale': None}
      if math.isfinite(high[i]):
        j = int(np.flatnonzero(grid.freqs == high[i])[0])
        row['upweight'] = dict(_cost(grid, steps_NFZ, i, j, z), other_loss_change=_or_none(
            grid.other_loss[i, j, z] - grid.other_loss[i, j0, z]))
      if scale is not None:
        k = int(np.flatnonzero(grid.sizes == scale)[0])
        row['scale'] = dict(_cost(grid, steps_NFZ, k, j0, z), other_loss_change=_or_none(
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


def _or_none(v: float) -> float | None:
  return float(v) if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------------
# Reading runs.

def _mlp_params(width: int, hp) -> int:
  """Weights and biases of the D → N (→ N …) → out model."""
  out = hp.out_dim or hp.dim
  return width * hp.dim + width + (hp.depth - 1) * (width * width + width) + out * width + out


def _read_mlp(workdir: str, config) -> tuple[list[dict], dict]:
  """A toy or MSP population: the rare task over a swept frequency, or every task at its own."""
  from rarelearn import bench  # pylint: disable=g-import-not-at-top
  summary = wd.read_summary(workdir)
  members, hp = summary['members'], configlib.hyper(config)
  history = results.History.load(workdir, members)
  score, K = history.array('task_score'), config.tasks.num_tasks
  r, base = config.mixture.rare_task % K, configlib.frequencies(config)
  final_loss = np.asarray(summary['final']['task_loss'], np.float64)
  swept = any(k in m for m in members for k in ('factor', 'rare_frequency'))
  if not swept and len(set(np.round(base, 12))) < K:
    raise ValueError(f'{workdir}: no swept frequency, and tasks share a frequency: the tasks\' '
                     'own frequencies cannot be the frequency axis (sweep population.sweep.'
                     'factor or rare_frequency of one task)')
  others = np.arange(K) != r
  records = []
  for m in members:
    pi, w, idx = configlib.frequencies(config, m), m['width'], m['member']
    common = dict(size=float(_mlp_params(w, hp)), label=f'width {w}', seed=m['seed'],
                  flops=bench.useful_flops_per_step([w], hp.dim, hp.batch_size, hp.depth,
                                                    hp.out_dim or None))
    for k in ([r] if swept else range(K)):
      other = (float(base[others] @ final_loss[idx][others] / base[others].sum()) if swept
               else math.nan)
      records.append(dict(common, frequency=float(pi[k]), score=score[idx, :, k],
                          other_loss=other, instances=hp.batch_size * float(pi[k])))
  meta = dict(family=configlib.family(config), steps=history.steps('task_score'),
              task=f'task {r}' if swept else 'every task at its own frequency',
              threshold=float(summary['learned_threshold']), size_unit='parameters',
              base_frequency=float(base[r]) if swept else None, train_instances=None,
              theory_config=config if swept and configlib.family(config) == 'block_regression'
              else None, wall_time_s=summary.get('wall_time_s'))
  return records, meta


def _read_ladder(workdir: str, config) -> tuple[list[dict], dict]:
  """A token ladder: rungs × injection frequencies × seeds; test accuracy of the task."""
  from rarelearn import ladder, plan  # pylint: disable=g-import-not-at-top
  from rarelearn.tasks import tokens  # pylint: disable=g-import-not-at-top
  summary = wd.read_summary(workdir)
  members = summary['members']
  if len({m['gap'] for m in members}) > 1:
    raise ValueError(f'{workdir}: members differ in injection gap; the lever reads one gap')
  history = results.History.load(workdir, members)
  score, background = history.array('test_accuracy'), history.array('background_loss')
  rungs = {g.name: g for g in ladder.rungs(config)}
  records = [dict(size=float(m['non_embedding']), label=m['rung'], seed=m['seed'],
                  frequency=float(m['frequency']), score=score[m['member']],
                  other_loss=float(background[m['member'], -1]),
                  flops=plan.flops_per_member_step(rungs[m['rung']], config),
                  instances=config.train.batch_size * float(m['frequency']))
             for m in members]
  meta = dict(family='token_ladder', steps=history.steps('test_accuracy'),
              task=f'T_{summary["task"].upper()}', threshold=float(summary['learned_threshold']),
              size_unit='non-embedding parameters',
              train_instances=tokens.NUM_TASK_TOKENS ** 2 // 2,  # the train half of all pairs
              base_frequency=min(r['frequency'] for r in records), theory_config=None,
              wall_time_s=summary.get('wall_time_s'))
  return records, meta


def read(workdirs: Sequence[str], threshold: float | None = None,
         base_frequency: float | None = None) -> Grid:
  """The runs in ``workdirs`` (one family, task and evaluation schedule) as one grid."""
  records, metas = [], []
  for w in workdirs:
    config = wd.read_config(w)
    reader = _read_ladder if config.family == 'token_ladder' else _read_mlp
    rec, meta = reader(w, config)
    records += rec
    metas.append(meta)
  for key in ('family', 'task', 'size_unit'):
    if len({m[key] for m in metas}) > 1:
      raise ValueError(f'the workdirs differ in {key}: {[m[key] for m in metas]}')
  if any(not np.array_equal(m['steps'], metas[0]['steps']) for m in metas):
    raise ValueError('the workdirs were evaluated at different steps')
  times = [m['wall_time_s'] for m in metas]
  grid = _grid(records, metas[0], threshold, base_frequency)
  grid.wall_time_s = None if None in times else float(sum(times))
  return grid


def _grid(records: list[dict], meta: dict, threshold, base_frequency) -> Grid:
  sizes = sorted({r['size'] for r in records})
  freqs = sorted({round(r['frequency'], 12) for r in records})
  seeds = sorted({r['seed'] for r in records})
  N, F, Z, P = len(sizes), len(freqs), len(seeds), len(meta['steps'])
  score, other = np.full((N, F, Z, P), np.nan), np.full((N, F, Z), np.nan)
  flops, instances = np.full((N, F), np.nan), np.full((N, F), np.nan)
  labels = [''] * N
  for r in records:
    i, j = sizes.index(r['size']), freqs.index(round(r['frequency'], 12))
    z = seeds.index(r['seed'])
    if not np.all(np.isnan(score[i, j, z])):
      raise ValueError(f'two members at {r["label"]}, frequency {r["frequency"]:g}, seed '
                       f'{r["seed"]}: the lever needs one per cell')
    score[i, j, z], other[i, j, z] = r['score'], r['other_loss']
    flops[i, j], instances[i, j], labels[i] = r['flops'], r['instances'], r['label']
  grid = Grid(family=meta['family'], task=meta['task'], sizes=np.asarray(sizes),
              labels=labels, freqs=np.asarray(freqs), seeds=seeds,
              steps=np.asarray(meta['steps']), score=score, other_loss=other,
              flops_per_step=flops, instances_per_step=instances,
              threshold=meta['threshold'] if threshold is None else float(threshold),
              base_frequency=meta['base_frequency'] if base_frequency is None
              else float(base_frequency), size_unit=meta['size_unit'],
              train_instances=meta['train_instances'])
  if meta['theory_config'] is not None:
    grid.theory = toy_theory(meta['theory_config'], grid)
  return grid


def toy_theory(config, grid: Grid) -> dict:
  """The utility theory on the toy's task set: the rare task's critical width at each grid
  frequency, its lowest learned frequency at each trained width (by bisection: exact, not a
  grid cell; NaN where not even frequency 1 is learned), and the κ of a least-squares power law
  through that frontier over the trained sizes."""
  from rarelearn import theory  # pylint: disable=g-import-not-at-top
  from rarelearn.tasks import mixture  # pylint: disable=g-import-not-at-top
  base, spectra, _ = configlib.task_setup(config)
  r = config.mixture.rare_task % len(base)

  def critical(f):
    return theory.critical_widths(mixture.with_frequency(base, r, f), spectra,
                                  grid.threshold)[r] or math.inf

  widths = [int(label.split()[-1]) for label in grid.labels]
  frontier = []
  for w in widths:
    if critical(1.0) > w:  # not even at frequency 1
      frontier.append(math.nan)
      continue
    lo, hi = math.log(base[r] * 1e-3), 0.0  # critical(e^hi) ≤ w < critical(e^lo)
    for _ in range(50):
      mid = (lo + hi) / 2
      lo, hi = (lo, mid) if critical(math.exp(mid)) <= w else (mid, hi)
    frontier.append(math.exp(hi))
  keep = np.isfinite(frontier)
  slope = (np.polyfit(np.log(grid.sizes[keep]), np.log(np.asarray(frontier)[keep]), 1)[0]
           if keep.sum() >= 2 else math.nan)
  return {'critical_width': {float(f): critical(f) for f in grid.freqs},
          'frontier': frontier, 'kappa': float(-slope)}


# ---------------------------------------------------------------------------------------------
# The analysis, its report and its figure.

def analyse(grid: Grid, margin: float = 0.05, holdout: int = 0) -> dict:
  """Every table of the module docstring for ``grid`` (JSON-ready)."""
  steps = learning_steps(grid, margin)
  fr = frontiers(grid, learned_grid(grid, steps))
  try:
    power_law = fit_and_check(grid, fr['by_size'], holdout)
  except ValueError as e:
    power_law = {'error': str(e)}
  fit = power_law.get('fit')
  out = {'family': grid.family, 'task': grid.task, 'size_unit': grid.size_unit,
         'sizes': grid.sizes, 'labels': grid.labels, 'frequencies': grid.freqs,
         'seeds': grid.seeds, 'threshold': grid.threshold, 'margin': margin,
         'holdout': holdout, 'base_frequency': grid.base_frequency,
         'learning_step': steps.tolist(),
         'final_score': grid.score[..., -1], 'frontier': fr, 'power_law': power_law,
         'routes': routes(grid, steps, fit), 'flops_per_step': grid.flops_per_step,
         'train_instances': grid.train_instances, 'wall_time_s': grid.wall_time_s}
  if fit is not None:  # beyond the largest size trained: 10 and 100 times it
    out['extrapolation'] = [predict(fit, grid.sizes[-1] * k) for k in EXTRAPOLATE]
  out['routes_by_size'] = routes_by_size(out['routes'])
  if grid.theory is not None:
    out['theory'] = grid.theory
  return out


def _fmt(v, spec='.3g') -> str:
  return '—' if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def report(res: dict) -> list[str]:
  """The tables as text lines."""
  lines = [f'{res["family"]}, {res["task"]}: {len(res["sizes"])} sizes × '
           f'{len(res["frequencies"])} frequencies × {len(res["seeds"])} seeds; learned = '
           f'first sustained crossing of {res["threshold"]:g} (margin {res["margin"]:g})',
           'size (' + res['size_unit'] + ')  lowest learned frequency per seed  '
           'geometric mean [95%]  power law [90%]']
  preds = res['power_law'].get('predictions') or [None] * len(res['sizes'])
  for row, p in zip(res['frontier']['by_size'], preds):
    seeds = ' '.join('never' if math.isinf(h) else (f'≤{h:.3g}' if lo == 0 else f'{h:.3g}')
                     for lo, h in zip(row['low'], row['high']))
    shown = (f'{_fmt(row["geometric_mean"])} [{_fmt(row["ci95"][0])}, '
             f'{_fmt(row["ci95"][1])}]')
    pred = '' if p is None else (f'{p["frequency"]:.3g} [{p["interval"][0]:.3g}, '
                                 f'{p["interval"][1]:.3g}]' + (
                                     ' held out: ' + {True: 'inside', False: 'outside',
                                                      None: 'censored'}[p['inside']]
                                     if p.get('held_out') else ''))
    lines.append(f'{row["label"]:>10} {row["size"]:>10.4g}  {seeds:<24} {shown:<24} {pred}')
  label = dict(zip(res['sizes'], res['labels']))
  lines.append(f'smallest learning size per frequency: in lever.json ({len(res["frequencies"])} '
               'frequencies)' if len(res['frequencies']) > 12 else
               'smallest learning size per frequency: ' + '; '.join(
      f'{row["frequency"]:.3g}: ' + '/'.join('none' if s is None else label[s]
                                             for s in row['smallest_size'])
      for row in res['frontier']['by_frequency']))
  fit = res['power_law'].get('fit')
  if fit:
    lines.append(f'power law f*(N) = a·N^-κ over {fit["sizes"]} sizes: a = {fit["a"]:.3g} '
                 f'[{fit["a_ci95"][0]:.3g}, {fit["a_ci95"][1]:.3g}], κ = {fit["kappa"]:.3g} '
                 f'[{fit["kappa_ci95"][0]:.3g}, {fit["kappa_ci95"][1]:.3g}]'
                 + (' (σ from the grid and the seeds)' if fit['sigma_is_model'] else ''))
  else:
    lines.append(f'power law: {res["power_law"]["error"]}')
  for p in res.get('extrapolation', []):
    lines.append(f'extrapolated: at {p["size"]:.3g} the frontier is {p["frequency"]:.3g} '
                 f'[{p["interval"][0]:.3g}, {p["interval"][1]:.3g}] (90%)')
  if 'theory' in res:
    lines.append(f'utility theory: κ = {res["theory"]["kappa"]:.3g} over the same sizes')
  return lines + _route_lines(res)


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


def _route_lines(res: dict) -> list[str]:
  if not res['routes']:
    return ['routes: none (no size misses the task at the base frequency, or no base frequency)']
  lines = [f'routes from the base frequency {res["base_frequency"]:.3g} (over seeds: to, steps '
           'and FLOPs geometric mean, Δ other-task loss and passes over the train instances '
           'mean): up-weight | scale → cheaper in seeds']
  for r in res['routes_by_size']:
    text = []
    for key in ('upweight', 'scale'):
      v = r[key]
      text.append('—' if v is None else f'beyond the grid: ≈ {v["predicted_size"]:.3g}'
                  if 'flops' not in v else
                  f'{"/".join(_fmt(t) if key == "upweight" else t for t in v["to"])}, '
                  f'{v["steps"]:.0f} steps, {v["flops"]:.3g} FLOPs, '
                  f'Δ {_fmt(v["other_loss_change"], "+.3g")}, {_fmt(v["repetitions"])} passes')
    cheaper = ', '.join(f'{k} {n}/{r["seeds"]}' for k, n in r['cheaper'].items())
    lines.append(f'{r["label"]:>10}: {text[0]} | {text[1]} → {cheaper}')
  return lines


def figure(res: dict):
  """Left: ``frontier_panel``. Right: both routes' FLOPs per size."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
  frontier_panel(ax, res)
  route_panel(bx, res)
  fig.tight_layout()
  return fig


def frontier_panel(ax, res: dict) -> None:
  """Each seed's frontier cell per size, the power law and its 90% band (held-out sizes
  shaded), the theory's frontier where known."""
  fit = res['power_law'].get('fit')
  for row in res['frontier']['by_size']:
    for z, (lo, hi) in enumerate(zip(row['low'], row['high'])):
      x, style = row['size'] * 1.04 ** (z - 1), dict(color=f'C{z}', alpha=0.7)
      if math.isinf(hi):  # never learned: above the grid
        ax.plot([x], [lo], '^', **style)
      elif lo == 0:  # learned at every frequency: at or below the grid's lowest
        ax.plot([x], [hi], 'v', **style)
      else:
        ax.plot([x, x], [lo, hi], lw=3, **style)
  for z, seed in enumerate(res['seeds']):
    ax.plot([], [], color=f'C{z}', lw=3, label=f'seed {seed}: (next lower, lowest learned]')
  ax.plot([], [], 'k^', ls='none', label='never learned (▼: at every frequency)')
  if fit is not None:
    grid = np.geomspace(res['sizes'][0], res['sizes'][-1] * 4, 60)
    pred = [predict(fit, n) for n in grid]
    ax.plot(grid, [p['frequency'] for p in pred], 'k-', label=f'f* = a·N^-κ, κ = '
            f'{fit["kappa"]:.2f}')
    ax.fill_between(grid, *zip(*[p['interval'] for p in pred]), color='k', alpha=0.12,
                    label='90% prediction')
    for p in res['power_law']['predictions']:
      if p.get('held_out'):
        ax.axvspan(p['size'] / 1.1, p['size'] * 1.1, color='C3', alpha=0.1)
  if 'theory' in res:
    ax.plot(res['sizes'], res['theory']['frontier'], 'k--', label=f'utility theory, κ = '
            f'{res["theory"]["kappa"]:.2f}')
  ax.set(xscale='log', yscale='log', xlabel=f'size ({res["size_unit"]})',
         ylabel='lowest learned frequency', title=f'{res["task"]}: the frontier')
  ax.legend(fontsize=7)


def route_panel(ax, res: dict) -> None:
  for key, marker in (('upweight', 'o-'), ('scale', 's--')):
    per_size = {}
    for r in res['routes']:
      if r[key] is not None and r[key].get('flops'):
        per_size.setdefault(r['size'], []).append(r[key]['flops'])
    if per_size:
      xs = sorted(per_size)
      ax.plot(xs, [float(np.exp(np.mean(np.log(per_size[x])))) for x in xs], marker,
              label=f'{key} (geometric mean over seeds)')
  ax.set(xscale='log', yscale='log', xlabel=f'size ({res["size_unit"]})',
         ylabel='training FLOPs to learned',
         title=f'routes from frequency {_fmt(res["base_frequency"])}')
  if res['routes']:
    ax.legend(fontsize=7)


def main(argv: Sequence[str] | None = None) -> dict:
  from rarelearn import expt  # pylint: disable=g-import-not-at-top
  parser = expt.Parser('lever', prog='python -m rarelearn.lever',
                       description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', action='append', required=True,
                      help='a finished run (repeat to read several as one grid)')
  parser.add_argument('--threshold', type=expt.number(gt=0, le=1), default=None,
                      help='learned at a score ≥ this (default: the run\'s learned_threshold)')
  parser.add_argument('--margin', type=expt.number(ge=0), default=0.05,
                      help='once learned, the score stays above threshold − margin')
  parser.add_argument('--base_frequency', type=expt.number(gt=0, le=1), default=None,
                      help='where the routes start (default: the toy\'s own π_r, the ladder\'s '
                      'lowest frequency)')
  parser.add_argument('--holdout', type=expt.integer(0), default=0,
                      help='fit on all sizes but this many of the largest, and score them')
  parser.add_argument('--out', default=None, help='default: <first workdir>/lever')
  args = parser.parse_args(argv)
  expt._STARTED = expt._code_state()  # pylint: disable=protected-access
  try:
    grid = read(args.workdir, args.threshold, args.base_frequency)
    res = analyse(grid, args.margin, args.holdout)
  except (ValueError, OSError, KeyError) as e:
    expt.fail('lever', e)
  for line in report(res):
    print(line)
  out = args.out or os.path.join(args.workdir[0], 'lever')
  os.makedirs(out, exist_ok=True)
  fig = figure(res)
  expt.write_results(out, 'lever', dict(res, workdirs=args.workdir), fig)
  return res


if __name__ == '__main__':
  main(sys.argv[1:])
