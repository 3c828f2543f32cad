"""Claims over seeds (rarelearn/claims.py) on hand-worked cases: the bootstrap's resamples of a
few seeds can be counted by hand, and so can the orderings of a few sizes."""
import math

import numpy as np
import pytest

from rarelearn import claims


def test_the_interval_of_two_or_three_seeds_is_their_range():
  """The bootstrap mean of seeds (a, b) is a, (a + b)/2 or b with probabilities 1/4, 1/2, 1/4:
  its 2.5% and 97.5% points are a and b. Of 3 seeds, one seed drawn three times has
  probability 1/27 > 2.5%, so the ends are the smallest and largest seed again."""
  assert claims.interval([0.3, 0.7]) == pytest.approx((0.3, 0.7), abs=1e-12)
  assert claims.interval([0.91, 0.85, 0.99]) == pytest.approx((0.85, 0.99), abs=1e-12)
  assert claims.interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
  # 6 seeds: one seed six times has probability 1/6^5 < 2.5%: strictly inside the range
  low, high = claims.interval([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
  assert 0.0 < low < 0.5 < high < 1.0


def test_a_claim_holds_only_when_its_whole_interval_clears_the_threshold():
  seeds = [0.85, 0.95, 0.99]  # interval [0.85, 0.99], mean 0.93
  held = claims.over_seeds('agreement', 'the theory predicts the learned set',
                           'agreement per seed', seeds, above=0.8)
  assert held['holds'] and held['value'] == pytest.approx(0.93)
  assert held['ci95'] == pytest.approx([0.85, 0.99]) and held['seeds'] == 3
  assert held['criterion'] == 'ci95 above 0.8' and held['per_seed'] == seeds
  # the mean (0.93) is above 0.9 but the seed at 0.85 is not: it does not hold
  assert not claims.over_seeds('a', 's', 'x', seeds, above=0.9)['holds']
  assert claims.over_seeds('a', 's', 'x', seeds, below=1.0)['holds']
  assert not claims.over_seeds('a', 's', 'x', seeds, below=0.95)['holds']
  inside = claims.over_seeds('a', 's', 'x', seeds, within=(0.8, 1.0))
  assert inside['holds'] and inside['criterion'] == 'ci95 within (0.8, 1)'
  assert not claims.over_seeds('a', 's', 'x', seeds, within=(0.9, 1.0))['holds']
  with pytest.raises(ValueError, match='exactly one'):
    claims.over_seeds('a', 's', 'x', seeds, above=0.1, below=0.2)
  with pytest.raises(ValueError, match='at least 2 seeds'):
    claims.over_seeds('a', 's', 'x', [0.9], above=0.5)
  undefined = claims.over_seeds('a', 's', 'x', [0.9, None, 0.95], above=0.5)
  assert not undefined['holds'] and undefined['value'] is None
  assert undefined['per_seed'] == [0.9, None, 0.95]
  assert 'undefined for some seed' in claims.line(undefined)


def test_a_trend_is_tested_over_every_size():
  """Means rising at every one of 5 sizes: ρ = 1, and of the 5! = 120 orderings of the means
  only the observed one reaches it (p = 1/120). Rising only between the two ends: ρ well
  below 1 and p far from small."""
  sizes = [8, 16, 32, 64, 128]
  rising = np.array([[0.1, 0.2, 0.3, 0.5, 0.8], [0.2, 0.25, 0.35, 0.6, 0.7],
                     [0.0, 0.3, 0.4, 0.45, 0.9]])
  c = claims.trend('frontier', 'accuracy rises with size', sizes, rising, above=0)
  assert c['value'] == 1.0 and c['p_permutation'] == pytest.approx(1 / 120)
  assert c['holds'] and c['ci95'][0] > 0 and c['seeds'] == 3
  ends_only = np.array([[0.1, 0.6, 0.5, 0.2, 0.8]] * 3)  # ranks 1, 4, 3, 2, 5
  c = claims.trend('ends', 'rises', sizes, ends_only, above=0)
  assert c['value'] == pytest.approx(0.6)  # 1 − 6·(0 + 4 + 0 + 4 + 0)/(5·24)
  # ρ ≥ 0.6 for ranks of 5: by hand, 21 of the 120 orderings (Σd² ≤ 8: 1 + 4 + 3 + 6 + 7)
  assert c['p_permutation'] == pytest.approx(21 / 120)
  assert c['ci95'] == [pytest.approx(0.6), pytest.approx(0.6)]  # every seed the same
  assert c['holds']  # identical seeds: the interval is the point; p says the rest
  falling = claims.trend('falls', 'falls', sizes, rising[:, ::-1], below=0)
  assert falling['value'] == -1.0 and falling['holds']
  assert falling['p_permutation'] == pytest.approx(1 / 120)


def test_seeds_that_disagree_on_a_trend_leave_it_open():
  """Seed 0 rises, seed 1 falls: a resample of both seeds has equal means (no ρ), of one seed
  twice ρ = ±1 — the interval is [−1, 1] and the claim does not hold."""
  c = claims.trend('t', 's', [1, 2, 3], [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], above=0)
  assert c['ci95'] == [-1.0, 1.0] and not c['holds'] and math.isnan(c['value'])
  with pytest.raises(ValueError, match='seeds'):
    claims.trend('t', 's', [1, 2], [[1.0, 2.0], [1.0, 3.0]], above=0)


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
