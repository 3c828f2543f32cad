"""Claims as data: what an experiment asserts, measured over seeds, with a criterion fixed
before the run.

An experiment's docstring states each claim — the statement, its statistic, the criterion and
its threshold — before it runs (``criteria_commit`` in its JSON: ``rarelearn.expt``); the script
computes the statistic once per seed (seeds are members of the population) and records it here.
Its JSON carries ``claims``: one dict per claim with ``name``, ``kind``, ``statement``,
``statistic``, ``value`` (the mean over seeds), ``ci95``, ``seeds``, ``per_seed``, ``criterion``
and ``holds``.

``kind`` is ``'claim'`` when the outcome could have come out otherwise, ``'check'`` when it holds
by construction (a bound, a ceiling, a theorem): checks are reported, never counted as evidence.

Intervals: ``interval`` is the Student t 95% interval of the mean over seeds, mean ± t(0.975,
n − 1)·s/√n — its coverage is exactly 95% when the per-seed values are normal, at any number of
seeds (``tests/test_claims.py`` measures it by simulation at 3 and 5 seeds). Every statistic
here is a mean over seeds of a per-seed value, a rank correlation included, so the t interval is
the one method; none is a median. With 3 seeds t(0.975, 2) = 4.30: an interval is about 5
standard errors wide, and meant to be. Seeds that agree exactly give an interval of zero width;
``line`` says so, since that is the seeds' agreement, not a measurement without error.

A claim holds only when its whole interval clears the threshold, so a claim resting on seeds
that disagree does not hold.

Trends are tested over every size, not the two ends: ``trend``'s statistic is the mean over
seeds of each seed's Spearman ρ between size and its values, with the t interval over the
seeds and ``p_permutation``, the exact permutation p-value of that statistic over the orderings
of the sizes. A trend holds only when p < ``ALPHA`` AND its interval clears the criterion; over
so few sizes that no ordering can reach p < ``ALPHA`` (3 sizes: 1/6) it cannot hold, and its
``note`` says why.
"""
from __future__ import annotations

import itertools
import math
import os
import re
from typing import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95  # the intervals' coverage
ALPHA = 0.05  # a trend's permutation p must be below this
PERMUTATIONS = 9999  # orderings drawn when the sizes are too many to enumerate (N > 8)
KINDS = ('claim', 'check')


def interval(per_seed: Sequence[float]) -> tuple[float, float]:
  """The Student t 95% interval of the mean over the seeds' values (both ends the mean when
  they all agree)."""
  x = np.asarray(per_seed, np.float64)
  if x.size < 2:
    raise ValueError(f'an interval over seeds needs at least 2 values, got {x.size}')
  half = stats.t.ppf(0.5 + LEVEL / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
  return float(x.mean() - half), float(x.mean() + half)


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


def _kind(kind: str) -> str:
  if kind not in KINDS:
    raise ValueError(f'a claim\'s kind is one of {KINDS}, got {kind!r}')
  return kind


def over_seeds(name: str, statement: str, statistic: str, per_seed: Sequence[float], *,
               above: float | None = None, below: float | None = None,
               within: tuple[float, float] | None = None, kind: str = 'claim') -> dict:
  """A claim that the mean over seeds of a per-seed statistic is above (or below, or within) a
  threshold (a range): it holds when the whole 95% interval is."""
  criterion, meets = _criterion(above, below, within)
  x = np.asarray([math.nan if v is None else v for v in per_seed], np.float64)
  if x.size < 2:
    raise ValueError(f'claim {name}: needs values from at least 2 seeds, got {x}')
  head = dict(name=name, kind=_kind(kind), statement=statement, statistic=statistic)
  if not np.all(np.isfinite(x)):  # undefined for some seed (e.g. too few subtasks learned)
    return dict(head, value=None, ci95=[None, None], seeds=int(x.size),
                per_seed=[_or_none(v) for v in x], criterion=criterion, holds=False)
  low, high = interval(x)
  return dict(head, value=float(x.mean()), ci95=[low, high], seeds=int(x.size),
              per_seed=x.tolist(), criterion=criterion, holds=bool(meets(low, high)))


def value_within(name: str, statement: str, statistic: str, value: float | None,
                 ci95: Sequence[float | None], per_seed: Sequence[float | None],
                 interval: Sequence[float], what: str, kind: str = 'claim') -> dict:
  """A claim that a measured value (with its own interval over seeds, reported) lies inside an
  interval predicted before it was measured (``what`` names it)."""
  holds = value is not None and interval[0] <= value <= interval[1]
  return dict(name=name, kind=_kind(kind), statement=statement, statistic=statistic,
              value=value, ci95=list(ci95), seeds=len(per_seed), per_seed=list(per_seed),
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


def _rho(sizes_QxN: np.ndarray, values_ZxN: np.ndarray) -> np.ndarray:
  """[Q, Z] ρ(sizes, each seed's values) for each ordering of the sizes (a seed whose values
  are all equal counts as ρ = 0: it shows no trend)."""
  a = np.apply_along_axis(stats.rankdata, 1, sizes_QxN)
  b = stats.rankdata(values_ZxN, axis=1)
  a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
  norm = np.sqrt((b * b).sum(axis=1))[None, :] * np.sqrt((a * a).sum(axis=1))[:, None]
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(norm > 0, (a @ b.T) / np.where(norm > 0, norm, 1), 0.0)


def trend(name: str, statement: str, sizes: Sequence[float], values_ZxN, *,
          above: float | None = None, below: float | None = None, seed: int = 0,
          over: str = 'size', kind: str = 'claim') -> dict:
  """A claim that a statistic rises (ρ ``above`` a threshold) or falls (``below``) with size
  (or what ``over`` names: a frequency, a gap; its values are still ``sizes`` in the claim):
  the mean over seeds of each seed's Spearman ρ between ``sizes`` [N] and its values
  (``values_ZxN`` [seeds, N]; a seed with no spread counts as ρ = 0), its Student t 95%
  interval over the seeds, and ``p_permutation``: the share of the orderings of the sizes (all
  N! up to N = 8, else 9,999 drawn with ``seed``, the observed one counted among them) whose
  mean ρ is at least as extreme in the claimed direction; undefined (not holding) where a
  seed has no finite value at some size. It holds only when p < ``ALPHA`` and the interval clears
  the threshold;
  ``rho_of_means`` is ρ between size and the seeds' mean (what a figure of the means shows)."""
  criterion, meets = _criterion(above, below)
  up = above is not None
  v = np.asarray(values_ZxN, np.float64)
  if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] != len(sizes) or len(sizes) < 3:
    raise ValueError(f'claim {name}: needs [seeds ≥ 2, sizes ≥ 3] values, got {v.shape}')
  head = dict(name=name, kind=_kind(kind), statement=statement,
              statistic=f'Spearman ρ({over}, value), mean over seeds')
  criterion = f'{criterion} and p_permutation < {ALPHA:g}'
  if not np.all(np.isfinite(v)):  # undefined for some seed at some size
    return dict(head, value=None, ci95=[None, None], seeds=int(v.shape[0]),
                per_seed=[[_or_none(x) for x in row] for row in v], sizes=list(sizes),
                p_permutation=None, criterion=criterion, holds=False)
  sizes_N = np.asarray(sizes, np.float64)
  per_seed_rho = np.round(_rho(sizes_N[None], v)[0], 12)  # ρ = 1 − 6Σd²/…: no float noise
  value = float(per_seed_rho.mean())
  low, high = (float(np.clip(x, -1, 1)) for x in interval(per_seed_rho))  # ρ lies in [−1, 1]
  n = len(sizes)
  rng = np.random.default_rng(seed)
  orders = (np.asarray(list(itertools.permutations(range(n)))) if n <= 8
            else np.argsort(rng.random((PERMUTATIONS, n)), axis=1))
  perm = np.round(_rho(sizes_N[orders], v), 12).mean(axis=1)
  extreme = np.sum(perm >= value - 1e-12) if up else np.sum(perm <= value + 1e-12)
  # every ordering counted exactly; of drawn ones, the observed ordering counts as one more
  p = float(extreme / len(orders)) if n <= 8 else float((extreme + 1) / (len(orders) + 1))
  out = dict(head, value=value, ci95=[low, high], seeds=int(v.shape[0]), per_seed=v.tolist(),
             per_seed_rho=per_seed_rho.tolist(), sizes=list(sizes),
             rho_of_means=float(rank_correlation(sizes, v.mean(axis=0))[0]),
             p_permutation=p, criterion=criterion, holds=bool(p < ALPHA and meets(low, high)))
  if math.factorial(n) * ALPHA <= 1:
    out['note'] = (f'{n} {over} values: the smallest attainable permutation p is 1/{n}! = '
                   f'{1 / math.factorial(n):.3g} ≥ {ALPHA:g}, so this trend cannot hold')
  return _json_nan(out)


def _json_nan(c: dict) -> dict:
  return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in c.items()}


def evidence(claims_: Sequence[dict]) -> list[dict]:
  """The entries that count as evidence: the claims, not the checks."""
  return [c for c in claims_ if c.get('kind', 'claim') == 'claim']


def line(c: dict) -> str:
  """One line for a claim: name, value [interval], criterion, held or not (a check says so)."""
  if c['value'] is None:
    shown = 'undefined for some seed'
  else:
    low, high = c['ci95']
    shown = f'{c["value"]:.3g} [{_g(low)}, {_g(high)}]'
    if low is not None and low == high:
      shown += ' (the seeds agree exactly)'
  if c.get('p_permutation') is not None:
    shown += f', p = {c["p_permutation"]:.3g}'
  check = ' (a check: holds by construction, not evidence)' if c.get('kind') == 'check' else ''
  return (f'{c["name"]}{check}: {shown} over {c["seeds"]} seeds; {c["criterion"]}: '
          f'{"holds" if c["holds"] else "does not hold"}' + (f' ({c["note"]})' if c.get('note')
                                                             else ''))


def _g(x) -> str:
  return 'undefined' if x is None else f'{x:.3g}'


_CRITERION = re.compile(r'ci95 (above|below|within) \(?(-?[\d.e+-]+)(?:, (-?[\d.e+-]+)\))?')


def recompute(c: dict, kind: str = 'claim') -> dict:
  """A committed claim rebuilt from the per-seed values it stores, with this module's intervals
  and rules (``kind`` as given); a ``value within`` claim (its interval comes from the lever's
  fit, not from here) keeps its verdict and gains ``kind`` only."""
  if c['criterion'].startswith('value within'):
    return dict(c, kind=_kind(kind))
  m = _CRITERION.match(c['criterion'])
  if m is None:
    raise ValueError(f'claim {c["name"]}: criterion {c["criterion"]!r} not understood')
  side, a, b = m.groups()
  bound = ({'above': float(a)} if side == 'above' else {'below': float(a)} if side == 'below'
           else {'within': (float(a), float(b))})
  if 'sizes' in c:  # a trend
    over = re.search(r'ρ\((\w+)', c['statistic']).group(1)
    return trend(c['name'], c['statement'], c['sizes'], c['per_seed'], over=over, kind=kind,
                 **bound)
  return over_seeds(c['name'], c['statement'], c['statistic'], c['per_seed'], kind=kind,
                    **bound)


# Claims of results made before ``kind`` that hold by construction (their experiments now mark
# them): fig3's bound is a theorem; fig4's width 256 = D keeps every task at full rank; fig8's
# retention is below 1 unless the loss keeps falling between injections; fig9's batch gradient
# contains g_r on batches full of task instances.
CHECKS = ('residual_bound_holds', 'wide_keeps', 'loss_climbs_back', 'g_aligned_at_injection')


MULTI_ARM = ('ladder_controls', 'interference_interventions')  # one JSON per arm


def script_of(result_path: str) -> str:
  """``experiments/<name>.py`` for a committed result ``docs/results/<name>_<date>.json`` (the
  JSONs of a ``MULTI_ARM`` script's arms, ``<name>_<arm>_<date>.json``, are all its)."""
  name = re.sub(r'_\d{4}-\d\d-\d\d\w?\.json$', '', os.path.basename(result_path))
  name = next((s for s in MULTI_ARM if name.startswith(f'{s}_')), name)
  return f'experiments/{name}.py'


def recompute_file(path: str, commit: str, date: str, git) -> dict:
  """Rewrites the results JSON ``path`` with its ``claims`` rebuilt by ``recompute`` (kinds from
  ``CHECKS``), the verdicts as first computed kept under ``claims_as_first_computed``, what was
  done under ``claims_recomputed`` and, where missing, ``run_commit`` (its provenance's commit)
  and ``criteria_commit`` (the last commit at ``run_commit`` that changed the experiment's
  script, ``script_of``; ``git(*args)`` → stdout);
  returns the JSON."""
  import json  # pylint: disable=g-import-not-at-top
  with open(path) as f:
    made = json.load(f)
  first = made.get('claims_as_first_computed', made['claims'])
  made['claims_as_first_computed'] = first
  made['claims'] = [recompute(c, 'check' if c['name'] in CHECKS else 'claim') for c in first]
  made['claims_recomputed'] = {
      'commit': commit, 'date': date,
      'how': 'from the per-seed values stored in this file (the runs were not repeated) with '
             'rarelearn.analysis.claims at this commit: Student t 95% intervals over seeds, trends '
             'as the '
             'mean over seeds of each seed\'s Spearman ρ holding only with permutation p < 0.05, '
             'and each entry\'s kind; claims_as_first_computed keeps the percentile-bootstrap '
             'verdicts'}
  made.setdefault('run_commit', made['provenance']['commit'])
  made.setdefault('criteria_commit', git('log', '-1', '--format=%H', made['run_commit'], '--',
                                         script_of(path)))
  with open(path, 'w') as f:
    json.dump(made, f, indent=1)
  return made


if __name__ == '__main__':  # python -m rarelearn.claims FILE.json …: recompute committed claims
  import datetime  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  git = lambda *a: subprocess.run(['git', *a], capture_output=True, text=True,
                                  check=True).stdout.strip()
  today = datetime.date.today().isoformat()
  for name in sys.argv[1:]:
    for c in recompute_file(name, git('rev-parse', 'HEAD'), today, git)['claims']:
      print(f'{name}: {line(c)}')
