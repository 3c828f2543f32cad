"""Claims as data: what an experiment asserts, measured over seeds, with a criterion fixed
before the run.

An experiment's docstring states each claim — the statement, its statistic, the criterion and
its threshold — before it runs; the script computes the statistic once per seed (seeds are
members of the population) and records it here, and its JSON carries ``claims``: one dict per
claim with ``name``, ``statement``, ``statistic``, ``value`` (the mean over seeds), ``ci95``
(a percentile bootstrap over seeds, ``scipy.stats.bootstrap``), ``seeds``, ``per_seed``,
``criterion`` and ``holds``. A claim holds only when its whole interval clears the threshold,
so a claim resting on seeds that disagree does not hold. With 3 seeds the interval of a mean is
exactly the range of the seeds' values (a resample of one seed three times has probability
1/27 > 2.5%): wide, and meant to be.

Trends are tested over every size, not the two ends: ``trend`` is Spearman's ρ between size
and the seeds' mean at each size, its interval bootstrapped by resampling seeds, and an exact
permutation p-value over the orderings of the sizes.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
from scipy import stats

RESAMPLES = 9999  # bootstrap resamples; the generator is seeded, so intervals are reproducible


def interval(per_seed: Sequence[float], statistic=np.mean, seed: int = 0) -> tuple[float, float]:
  """The 95% percentile-bootstrap interval of ``statistic`` over the seeds' values (both ends
  the value itself when they all agree)."""
  x = np.asarray(per_seed, np.float64)
  if np.ptp(x) == 0:
    return float(x[0]), float(x[0])
  res = stats.bootstrap((x,), statistic, n_resamples=RESAMPLES, method='percentile',
                        rng=np.random.default_rng(seed))
  return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _criterion(above: float | None, below: float | None, within=None):
  """(the criterion in words, and whether an interval (low, high) meets it)."""
  if sum(x is not None for x in (above, below, within)) != 1:
    raise ValueError('a claim needs exactly one of above=, below= or within=')
  if above is not None:
    return f'ci95 above {above:g}', lambda low, high: low > above
  if below is not None:
    return f'ci95 below {below:g}', lambda low, high: high < below
  return (f'ci95 within ({within[0]:g}, {within[1]:g})',
          lambda low, high: within[0] < low and high < within[1])


def over_seeds(name: str, statement: str, statistic: str, per_seed: Sequence[float], *,
               above: float | None = None, below: float | None = None,
               within: tuple[float, float] | None = None) -> dict:
  """A claim that the mean over seeds of a per-seed statistic is above (or below, or within) a
  threshold (a range): it holds when the whole 95% interval is."""
  criterion, meets = _criterion(above, below, within)
  x = np.asarray([math.nan if v is None else v for v in per_seed], np.float64)
  if x.size < 2:
    raise ValueError(f'claim {name}: needs values from at least 2 seeds, got {x}')
  if not np.all(np.isfinite(x)):  # undefined for some seed (e.g. too few subtasks learned)
    return dict(name=name, statement=statement, statistic=statistic, value=None,
                ci95=[None, None], seeds=int(x.size), per_seed=[_or_none(v) for v in x],
                criterion=criterion, holds=False)
  low, high = interval(x)
  return dict(name=name, statement=statement, statistic=statistic, value=float(x.mean()),
              ci95=[low, high], seeds=int(x.size), per_seed=x.tolist(), criterion=criterion,
              holds=bool(meets(low, high)))


def value_within(name: str, statement: str, statistic: str, value: float | None,
                 ci95: Sequence[float | None], per_seed: Sequence[float | None],
                 interval: Sequence[float], what: str) -> dict:
  """A claim that a measured value (with its own interval over seeds, reported) lies inside an
  interval predicted before it was measured (``what`` names it)."""
  holds = value is not None and interval[0] <= value <= interval[1]
  return dict(name=name, statement=statement, statistic=statistic, value=value,
              ci95=list(ci95), seeds=len(per_seed), per_seed=list(per_seed),
              criterion=f'value within {what} ({interval[0]:.3g}, {interval[1]:.3g})',
              holds=bool(holds))


def _or_none(v: float) -> float | None:
  return float(v) if math.isfinite(v) else None


def rank_correlation(sizes, values_RxN) -> np.ndarray:
  """[R] Spearman's ρ between ``sizes`` [N] and each row of ``values_RxN`` (ties get their
  average rank; NaN for a constant row or constant ``sizes``)."""
  a = stats.rankdata(np.asarray(sizes, np.float64))
  b = stats.rankdata(np.atleast_2d(values_RxN), axis=1)
  a, b = a - a.mean(), b - b.mean(axis=1, keepdims=True)
  with np.errstate(invalid='ignore', divide='ignore'):
    return (b @ a) / np.sqrt((b * b).sum(axis=1) * (a @ a))


def trend(name: str, statement: str, sizes: Sequence[float], values_ZxN, *,
          above: float | None = None, below: float | None = None, seed: int = 0,
          over: str = 'size') -> dict:
  """A claim that a statistic rises (ρ ``above`` a threshold) or falls (``below``) with size
  (or what ``over`` names: a frequency, a gap; its values are still ``sizes`` in the claim):
  Spearman's ρ between ``sizes`` [N] and the mean over seeds of ``values_ZxN`` [seeds, N],
  its 95% interval from resampling the seeds, and ``p_permutation``: the share of the
  orderings of the N means (all N! up to N = 8, else 9,999 drawn) whose ρ is at least as
  extreme in the claimed direction."""
  criterion, meets = _criterion(above, below)
  up = above is not None
  v = np.asarray(values_ZxN, np.float64)
  if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] != len(sizes) or len(sizes) < 3:
    raise ValueError(f'claim {name}: needs [seeds ≥ 2, sizes ≥ 3] values, got {v.shape}')
  mean = v.mean(axis=0)
  rho = float(rank_correlation(sizes, mean)[0])
  rng = np.random.default_rng(seed)
  resampled = v[rng.integers(0, v.shape[0], (RESAMPLES, v.shape[0]))].mean(axis=1)
  boot = rank_correlation(sizes, resampled)
  boot = boot[np.isfinite(boot)]  # a resample whose means are all equal has no ρ
  low, high = (float(q) for q in np.percentile(boot, [2.5, 97.5])) if boot.size else (
      math.nan, math.nan)
  n = len(sizes)
  orders = (np.asarray(list(itertools.permutations(range(n)))) if n <= 8
            else np.argsort(rng.random((RESAMPLES, n)), axis=1))
  perm = rank_correlation(sizes, mean[orders])
  extreme = np.sum(perm >= rho - 1e-12) if up else np.sum(perm <= rho + 1e-12)
  holds = meets(low, high)  # False where the interval is NaN
  return dict(name=name, statement=statement, statistic=f'Spearman ρ({over}, mean over seeds)',
              value=rho, ci95=[low, high], seeds=int(v.shape[0]), per_seed=v.tolist(),
              sizes=list(sizes), p_permutation=float(extreme / len(orders)),
              criterion=criterion, holds=bool(holds))


def line(c: dict) -> str:
  """One line for a claim: name, value [interval], criterion, held or not."""
  shown = ('undefined for some seed' if c['value'] is None else
           f'{c["value"]:.3g} [{c["ci95"][0]:.3g}, {c["ci95"][1]:.3g}]')
  return (f'{c["name"]}: {shown} over {c["seeds"]} seeds; {c["criterion"]}: '
          f'{"holds" if c["holds"] else "does not hold"}')
