"""rarelearn.lever: the frontier it reads (``results.frontier`` closed upwards; the rules
themselves by hand in tests/test_frontier.py), the power-law fit against planted power laws
(its intervals cover the truth as often as they say), and the routes' costs worked out by hand
on a tiny grid."""
import math

import numpy as np
import pytest
from scipy import stats

from rarelearn import lever
from rarelearn.analysis import results

def test_the_lever_reads_the_one_frontier_closed_upwards():
  """``smallest_sizes`` is ``results.frontier``'s by-frequency side, closed upwards, as floats
  (tests/test_frontier.py works the rule by hand)."""
  learned = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]])
  assert lever.smallest_sizes(learned, [10, 20, 40, 80]) == [80.0, 40.0, 80.0, 20.0]
  assert lever.smallest_sizes([[np.nan, 1], [1, np.nan]], [1, 2]) == [2.0, 1.0]
  assert lever.midpoint(0.2, 0.4) == pytest.approx(math.sqrt(0.08))
  assert math.isnan(lever.midpoint(0.0, 0.1)) and math.isnan(lever.midpoint(0.8, math.inf))


def _planted(rng, a, kappa, sigma, sizes, seeds, ratio):
  """[sizes, seeds] cells of a frequency grid (a factor ``ratio`` apart) around each seed's
  f* = a·N^-κ·e^(σ·noise)."""
  grid = np.exp(np.arange(np.log(1e-4), np.log(1.0), np.log(ratio)))
  low, high = np.zeros((len(sizes), seeds)), np.zeros((len(sizes), seeds))
  for i, n in enumerate(sizes):
    for z in range(seeds):
      f = a * n ** -kappa * math.exp(sigma * rng.standard_normal())
      lo, hi = results.frontier_cells([grid >= f], grid)
      low[i, z], high[i, z] = lo[0], hi[0]
  return low, high


def _point(low, high):
  """A size's point: the seeds' mean of ln midpoint."""
  return float(np.mean(np.log([lever.midpoint(lo, hi) for lo, hi in zip(low, high)])))


@pytest.mark.parametrize('sigma, ratio', [(0.2, math.sqrt(2)), (0.0, 2.0), (0.5, 1.2)])
def test_fit_recovers_a_planted_power_law_and_its_intervals_cover_as_often_as_they_say(
    sigma, ratio):
  """f* = 2·N^-0.6 with log-normal seed noise σ, on a grid a factor ``ratio`` apart, 5 sizes ×
  3 seeds: over 300 planted data sets the 95% intervals of κ and a cover the truth at least 90%
  of the time (the grid's resolution is a floor, so without noise they may cover more often),
  and the 90% prediction interval at a size 4× beyond the largest covers that size's measured
  point (3 new seeds) at least 80% of the time. The intervals are conservative (the model
  variance does not divide the resolution by the seeds: 98–100% here) but informative: κ's is
  narrower than ±0.35 on average."""
  rng = np.random.default_rng(0)
  sizes = [1e3, 3e3, 1e4, 3e4, 1e5]
  cover_k = cover_a = cover_new = 0
  kappas, widths = [], []
  for _ in range(300):
    fit = lever.fit_power_law(sizes, *_planted(rng, 2.0, 0.6, sigma, sizes, 3, ratio))
    kappas.append(fit['kappa'])
    widths.append(fit['kappa_ci95'][1] - fit['kappa_ci95'][0])
    cover_k += fit['kappa_ci95'][0] <= 0.6 <= fit['kappa_ci95'][1]
    cover_a += fit['a_ci95'][0] <= 2.0 <= fit['a_ci95'][1]
    low, high = _planted(rng, 2.0, 0.6, sigma, [4e5], 3, ratio)
    interval = lever.predict(fit, 4e5)['interval']
    cover_new += interval[0] <= math.exp(_point(low[0], high[0])) <= interval[1]
  assert np.mean(kappas) == pytest.approx(0.6, abs=0.03)
  assert cover_k >= 270 and cover_a >= 270, (cover_k, cover_a)
  assert cover_new >= 240, cover_new
  assert np.mean(widths) < 0.7


def test_seeds_that_agree_are_one_point_not_three():
  """Three identical seeds give the fit of one: the same κ and the same interval."""
  rng = np.random.default_rng(1)
  sizes = [1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4]
  low, high = _planted(rng, 1.0, 0.5, 0.3, sizes, 1, 1.5)
  one = lever.fit_power_law(sizes, low, high)
  three = lever.fit_power_law(sizes, np.repeat(low, 3, axis=1), np.repeat(high, 3, axis=1))
  assert three['kappa'] == pytest.approx(one['kappa'])
  assert three['kappa_ci95'] == pytest.approx(one['kappa_ci95'])
  assert three['sigma'] >= math.log(1.5) / math.sqrt(12) - 1e-12  # at least the resolution


def test_fit_refuses_too_few_interior_sizes():
  with pytest.raises(ValueError, match='interior frontiers'):
    lever.fit_power_law([1e3, 1e4], [[0.1, 0.1], [0.0, 0.05]], [[0.2, 0.2], [0.1, 0.1]])


def test_prediction_and_inversion_by_hand():
  """Sizes 100, 400, 1600 (2 seeds each, the same cell) exactly on f = 4·N^-0.5 with cells of
  log-width w: the fit is exact, σ is the resolution w/√12 (no residual, no seed spread), and
  the 90% prediction interval at N is f·e^(±t·σ·√(1 + x0ᵀ(XᵀX)⁻¹x0)), t of 1 degree of
  freedom; with two sizes there is no residual and the quantile is the normal's."""
  sizes = np.array([100.0, 400.0, 1600.0])
  f = 4 * sizes ** -0.5
  w = math.log(1.5)
  low = np.repeat((f * math.exp(-w / 2))[:, None], 2, axis=1)
  high = np.repeat((f * math.exp(w / 2))[:, None], 2, axis=1)
  fit = lever.fit_power_law(sizes, low, high)
  assert fit['kappa'] == pytest.approx(0.5) and fit['a'] == pytest.approx(4.0)
  assert fit['sigma'] == pytest.approx(w / math.sqrt(12)) and fit['df'] == 1
  X = np.stack([np.ones(3), np.log(sizes)], axis=1)
  x0 = np.array([1.0, math.log(6400.0)])
  se = fit['sigma'] * math.sqrt(1 + x0 @ np.linalg.inv(X.T @ X) @ x0)
  t = stats.t.ppf(0.95, 1)
  p = lever.predict(fit, 6400.0)
  assert p['frequency'] == pytest.approx(0.05)
  assert p['interval'] == pytest.approx([0.05 * math.exp(-t * se), 0.05 * math.exp(t * se)])
  assert lever.size_for(fit, 0.05) == pytest.approx(6400.0)
  two = lever.fit_power_law(sizes[:2], low[:2], high[:2])
  X = X[:2]
  se = two['sigma'] * math.sqrt(1 + x0 @ np.linalg.inv(X.T @ X) @ x0)
  z = stats.norm.ppf(0.95)
  assert two['df'] == 0 and lever.predict(two, 6400.0)['interval'] == pytest.approx(
      [0.05 * math.exp(-z * se), 0.05 * math.exp(z * se)])


def _tiny_grid():
  """Sizes 100 and 400 × frequencies 0.1, 0.4 × 1 seed. Size 100 learns only at 0.4, from step
  300 (its 0.1 run ends at 0.5); size 400 learns at 0.1 from step 200 and at 0.4 from step
  100. FLOPs per step 6·N·B with B = 10; 50 train instances; 10·f instances per step."""
  steps = np.array([0, 100, 200, 300])
  score = np.zeros((2, 2, 1, 4))
  score[0, 0, 0] = [0, 0.2, 0.4, 0.5]
  score[0, 1, 0] = [0, 0.3, 0.7, 0.95]
  score[1, 0, 0] = [0, 0.5, 0.9, 0.9]
  score[1, 1, 0] = [0, 0.9, 0.95, 0.97]
  sizes, freqs = np.array([100.0, 400.0]), np.array([0.1, 0.4])
  other = np.array([[[2.0], [2.3]], [[1.5], [1.6]]])
  return lever.Grid(family='test', task='T', sizes=sizes, labels=['s100', 's400'],
                    freqs=freqs, seeds=[0], steps=steps, score=score, other_loss=other,
                    flops_per_step=6 * sizes[:, None] * 10 * np.ones((2, 2)),
                    instances_per_step=10 * freqs[None, :] * np.ones((2, 2)), threshold=0.8,
                    base_frequency=0.1, size_unit='parameters', train_instances=50)


def test_routes_costs_by_hand():
  grid = _tiny_grid()
  steps = lever.learning_steps(grid, 0.05)
  assert steps.tolist() == [[[None], [300]], [[200], [100]]]
  (row,) = lever.routes(grid, steps, None)  # only size 100 misses the task at 0.1
  assert row['size'] == 100 and row['seed'] == 0
  up, scale = row['upweight'], row['scale']
  assert (up['frequency'], up['steps'], up['flops']) == (0.4, 300, 6 * 100 * 10 * 300)
  assert up['repetitions'] == pytest.approx(300 * 10 * 0.4 / 50)  # 24 passes
  assert up['other_loss_change'] == pytest.approx(0.3)  # 2.3 − 2.0
  assert (scale['label'], scale['steps'], scale['flops']) == ('s400', 200, 6 * 400 * 10 * 200)
  assert scale['repetitions'] == pytest.approx(200 * 10 * 0.1 / 50)
  assert scale['other_loss_change'] == pytest.approx(-0.5)  # 1.5 − 2.0
  assert row['cheaper'] == 'upweight'  # 1.8e6 < 4.8e6 FLOPs
  (summary,) = lever.routes_by_size([row])
  assert summary['cheaper'] == {'upweight': 1}
  assert summary['upweight']['flops'] == pytest.approx(1.8e6)


def test_routes_beyond_the_grid_use_the_power_law():
  grid = _tiny_grid()
  grid.score[1, 0, 0] = [0, 0.1, 0.1, 0.1]  # size 400 misses 0.1 too: no size learns it
  steps = lever.learning_steps(grid, 0.05)
  fit = {'a': 4.0, 'kappa': 0.5}
  rows = lever.routes(grid, steps, fit)
  assert [r['size'] for r in rows] == [100.0, 400.0]
  for r in rows:
    assert r['scale'] == {'beyond_grid': True, 'predicted_size': pytest.approx(1600.0),
                          'flops': None}
    assert r['cheaper'] == 'upweight (the other not measured)'


def test_a_size_that_never_learns_has_only_the_scale_route():
  grid = _tiny_grid()
  grid.score[0, 1, 0] = [0, 0.3, 0.5, 0.6]  # size 100 misses 0.4 too
  (row,) = lever.routes(grid, lever.learning_steps(grid, 0.05), None)
  assert row['upweight'] is None and row['scale']['label'] == 's400'
  assert row['cheaper'] == 'scale (the other not measured)'
  (summary,) = lever.routes_by_size([row])
  assert summary['upweight'] is None and summary['scale']['to'] == ['s400']
