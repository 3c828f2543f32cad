"""Claims over seeds (rarelearn/analysis/claims.py) on hand-worked cases: t intervals from tables
and their coverage by simulation; the orderings of a few sizes counted by hand."""
import math

import numpy as np
import pytest

from rarelearn.analysis import claims


def test_the_interval_is_students_t_worked_by_hand():
  """Seeds 0.85, 0.91, 0.99: mean 0.91667, s = 0.070238 (Σ(x − x̄)² = 0.0098667 over 2),
  t(0.975, 2) = 4.302653 (tables): half-width 4.302653 · 0.070238 / √3 = 0.174481."""
  low, high = claims.interval([0.91, 0.85, 0.99])
  assert (low, high) == pytest.approx((0.91667 - 0.174481, 0.91667 + 0.174481), abs=1e-5)
  assert claims.interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
  with pytest.raises(ValueError, match='at least 2'):
    claims.interval([0.5])


@pytest.mark.parametrize('seeds', [3, 5])
def test_the_interval_covers_the_mean_95_percent_of_the_time(seeds):
  """Coverage by simulation, independent of the formula: 20,000 draws of normal seeds (mean 0.3,
  sd 0.1); the share of intervals that contain 0.3 is 95% ± 0.5% (3 standard errors ≈ 0.46%).
  The percentile bootstrap of 3 seeds — the seeds' range — covers about 75% (1 − 2·(1/2)³)."""
  rng = np.random.default_rng(seeds)
  draws = rng.normal(0.3, 0.1, (20_000, seeds))
  covered = np.mean([low < 0.3 < high for low, high in map(claims.interval, draws)])
  assert 0.945 <= covered <= 0.955
  if seeds == 3:
    ranges = np.mean((draws.min(axis=1) < 0.3) & (0.3 < draws.max(axis=1)))
    assert ranges == pytest.approx(0.75, abs=0.01)


def test_a_claim_holds_only_when_its_whole_interval_clears_the_threshold():
  seeds = [0.85, 0.95, 0.99]  # mean 0.93, s = √(0.0104 / 2), t interval 0.93 ∓ 0.179134
  held = claims.over_seeds('agreement', 'the theory predicts the learned set',
                           'agreement per seed', seeds, above=0.7)
  assert held['holds'] and held['value'] == pytest.approx(0.93) and held['kind'] == 'claim'
  assert held['ci95'] == pytest.approx([0.750866, 1.109134], abs=1e-6) and held['seeds'] == 3
  assert held['criterion'] == 'ci95 above 0.7' and held['per_seed'] == seeds
  # the mean (0.93) is above 0.8 but the interval is not: it does not hold
  assert not claims.over_seeds('a', 's', 'x', seeds, above=0.8)['holds']
  assert claims.over_seeds('a', 's', 'x', seeds, below=1.2)['holds']
  assert not claims.over_seeds('a', 's', 'x', seeds, below=1.0)['holds']
  inside = claims.over_seeds('a', 's', 'x', seeds, within=(0.7, 1.2))
  assert inside['holds'] and inside['criterion'] == 'ci95 within (0.7, 1.2)'
  assert not claims.over_seeds('a', 's', 'x', seeds, within=(0.8, 1.2))['holds']
  with pytest.raises(ValueError, match='exactly one'):
    claims.over_seeds('a', 's', 'x', seeds, above=0.1, below=0.2)
  with pytest.raises(ValueError, match='at least 2 seeds'):
    claims.over_seeds('a', 's', 'x', [0.9], above=0.5)
  with pytest.raises(ValueError, match='kind'):
    claims.over_seeds('a', 's', 'x', seeds, above=0.5, kind='theorem')
  undefined = claims.over_seeds('a', 's', 'x', [0.9, None, 0.95], above=0.5)
  assert not undefined['holds'] and undefined['value'] is None
  assert undefined['per_seed'] == [0.9, None, 0.95]
  assert 'undefined for some seed' in claims.line(undefined)


def test_checks_are_reported_but_not_evidence():
  check = claims.over_seeds('bound', 's', 'x', [0.5, 0.6, 0.55], below=1.0, kind='check')
  claim = claims.over_seeds('c', 's', 'x', [0.5, 0.6, 0.55], above=0.1)
  assert check['holds'] and check['kind'] == 'check'
  assert claims.evidence([check, claim]) == [claim]
  assert 'a check' in claims.line(check) and 'a check' not in claims.line(claim)


def test_a_trend_is_tested_over_every_size():
  """Every seed rising at every one of 5 sizes: each seed's ρ = 1, and of the 5! = 120
  orderings of the sizes only the observed one reaches a mean ρ of 1 (p = 1/120). Rising only
  between the two ends: ρ well below 1 and p far from small — it does not hold, whatever its
  interval (the seeds are identical: the interval is the point)."""
  sizes = [8, 16, 32, 64, 128]
  rising = np.array([[0.1, 0.2, 0.3, 0.5, 0.8], [0.2, 0.25, 0.35, 0.6, 0.7],
                     [0.0, 0.3, 0.4, 0.45, 0.9]])
  c = claims.trend('frontier', 'accuracy rises with size', sizes, rising, above=0)
  assert c['value'] == 1.0 and c['p_permutation'] == pytest.approx(1 / 120)
  assert c['holds'] and c['ci95'] == [1.0, 1.0] and c['seeds'] == 3 and 'note' not in c
  assert c['criterion'] == 'ci95 above 0 and p_permutation < 0.05'
  ends_only = np.array([[0.1, 0.6, 0.5, 0.2, 0.8]] * 3)  # ranks 1, 4, 3, 2, 5
  c = claims.trend('ends', 'rises', sizes, ends_only, above=0)
  assert c['value'] == pytest.approx(0.6)  # 1 − 6·(0 + 4 + 0 + 4 + 0)/(5·24)
  # ρ ≥ 0.6 for ranks of 5: by hand, 21 of the 120 orderings (Σd² ≤ 8: 1 + 4 + 3 + 6 + 7)
  assert c['p_permutation'] == pytest.approx(21 / 120)
  assert c['ci95'] == [pytest.approx(0.6), pytest.approx(0.6)]
  assert not c['holds']  # its interval clears 0, its p does not clear 0.05
  falling = claims.trend('falls', 'falls', sizes, rising[:, ::-1], below=0)
  assert falling['value'] == -1.0 and falling['holds']
  assert falling['p_permutation'] == pytest.approx(1 / 120)


def test_seeds_that_disagree_on_a_trend_leave_it_open():
  """Seed 0 rises (ρ = 1), seed 1 falls (ρ = −1): mean 0, the t interval (clipped to ρ's range)
  is [−1, 1]; it does not hold. Over 3 sizes no trend can hold: the smallest p is 1/6."""
  c = claims.trend('t', 's', [1, 2, 3, 4], [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]], above=0)
  assert c['ci95'] == [-1.0, 1.0] and not c['holds'] and c['value'] == 0.0
  assert c['per_seed_rho'] == [1.0, -1.0]
  three = claims.trend('t', 's', [1, 2, 3], [[1.0, 2.0, 3.0]] * 3, above=0)
  assert three['value'] == 1.0 and three['p_permutation'] == pytest.approx(1 / 6)
  assert not three['holds'] and 'cannot hold' in three['note']
  with pytest.raises(ValueError, match='seeds'):
    claims.trend('t', 's', [1, 2], [[1.0, 2.0], [1.0, 3.0]], above=0)
  undefined = claims.trend('t', 's', [1, 2, 3, 4], [[1.0, 2.0, None, 4.0], [1.0, 2.0, 3.0, 4.0]],
                           above=0)  # e.g. no injection to measure retention on at one size
  assert undefined['value'] is None and not undefined['holds']
  assert undefined['per_seed'][0] == [1.0, 2.0, None, 4.0]
  assert 'undefined for some seed' in claims.line(undefined)


def test_recomputed_claims_keep_their_criterion():
  old = {'name': 'r', 'statement': 's', 'statistic': 'Spearman ρ(gap, mean over seeds)',
         'sizes': [1, 2, 3, 4, 5], 'per_seed': [[1, 2, 3, 4, 5], [1, 2, 3, 5, 4]],
         'criterion': 'ci95 below -0.5', 'holds': True, 'p_permutation': 0.01}
  new = claims.recompute(old)
  assert new['criterion'] == 'ci95 below -0.5 and p_permutation < 0.05'
  assert not new['holds'] and new['value'] == pytest.approx(0.95) and 'ρ(gap' in new['statistic']
  mean = claims.recompute({'name': 'm', 'statement': 's', 'statistic': 'x', 'per_seed': [1, 2],
                           'criterion': 'ci95 within (-20, 20)', 'holds': False}, kind='check')
  assert mean['holds'] and mean['kind'] == 'check'


def test_count_of_orderings_by_brute_force():
  """The permutation count against an independent enumeration in plain Python (ranks without
  ties, so ρ = 1 − 6Σd²/(n(n²−1)))."""
  import itertools  # pylint: disable=g-import-not-at-top
  values = [[0.3, 0.1, 0.4, 0.2, 0.6, 0.5]] * 2
  observed = [3, 1, 4, 2, 6, 5]  # the ranks of the values
  n = len(observed)
  rho = lambda r: 1 - 6 * sum((i + 1 - x) ** 2 for i, x in enumerate(r)) / (n * (n * n - 1))
  count = sum(rho(p) >= rho(observed) - 1e-12 for p in itertools.permutations(observed))
  c = claims.trend('t', 's', list(range(1, n + 1)), values, above=0)
  assert c['value'] == pytest.approx(rho(observed))
  assert c['p_permutation'] == pytest.approx(count / math.factorial(n))
