"""The power law of a frontier over sizes, f*(N) = a·N^(−κ): its least-squares fit through each
size's frontier cells (``results.frontier_cells``, one point per size: the seeds' mean of ln of
the cells' geometric midpoints) with intervals, its prediction interval at a size, and the size
it predicts for a frequency."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

LEVEL_FIT, LEVEL_PREDICTION = 0.95, 0.90


def midpoint(low: float, high: float) -> float:
  """The geometric midpoint of an interior cell (NaN for a censored one)."""
  return math.sqrt(low * high) if 0 < low and math.isfinite(high) else math.nan


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
          'residual_sigma': finite_or_none(math.sqrt(residual)) if df > 0 else None,
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


def finite_or_none(v: float) -> float | None:
  return float(v) if math.isfinite(v) else None
