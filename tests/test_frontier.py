"""rarelearn.analysis.results' one learned-step rule (``learning_step``) and one frontier
(``frontier``,
``frontier_cells``), worked out by hand: the plain rule the experiments use (margin 0, any
learned frequency) and the lever's options (a margin, closed upwards), absent cells, and the
score compared in its own dtype."""
import math

import numpy as np
import pytest

from rarelearn.analysis import results

STEPS = np.array([0, 100, 200, 300, 400, 500])


@pytest.mark.parametrize('score, want', [
    ([0.1, 0.2, 0.5, 0.85, 0.9, 0.95], 300),  # crosses once and stays
    ([0.1, 0.85, 0.7, 0.82, 0.9, 0.95], 300),  # the first crossing falls back below 0.75
    ([0.1, 0.81, 0.78, 0.80, 0.77, 0.79], 100),  # hovers at 0.8 but never below 0.75
    ([0.1, 0.81, 0.78, 0.80, 0.77, 0.74], None),  # ends below 0.75
    ([0.9, 0.9, 0.9, 0.9, 0.9, 0.9], 0),
    ([0.1, 0.5, 0.6, 0.7, 0.79, 0.799], None),  # never reaches 0.8
    ([0.1, 0.85, float('nan'), 0.9, 0.9, 0.9], 300),  # a missing evaluation counts as below
])
def test_learning_step_with_a_margin_is_the_first_sustained_crossing(score, want):
  assert results.learning_step(STEPS, score, 0.8, 0.05) == want


@pytest.mark.parametrize('score, want', [
    ([0.1, 0.85, 0.79, 0.82, 0.9, 0.95], 300),  # after the last step below 0.8
    ([0.1, 0.81, 0.78, 0.80, 0.77, 0.79], None),  # ends below
    ([0.8, 0.8, 0.8, 0.8, 0.8, 0.8], 0),  # at the threshold counts
    ([0.9, 0.9, float('nan'), 0.9, 0.9, 0.9], 300),
])
def test_learning_step_without_margin_is_the_first_step_it_stays_at_or_above(score, want):
  assert results.learning_step(STEPS, score, 0.8) == want
  reached = np.asarray(score) >= 0.8  # the experiments' former reading: after the last miss
  misses = np.flatnonzero(~reached)
  plain = (None if not reached[-1] else
           int(STEPS[misses[-1] + 1]) if misses.size else int(STEPS[0]))
  assert plain == want


def test_a_margin_only_ever_learns_earlier():
  score = [0.1, 0.85, 0.79, 0.82, 0.9, 0.95]
  assert [results.learning_step(STEPS, score, 0.8, m) for m in (0.0, 0.005, 0.01, 0.05)] == [
      300, 300, 100, 100]


def test_the_score_is_compared_in_its_own_dtype():
  """float32(0.9) < 0.9 in float64, but numpy compares a float32 array with 0.9 in float32 (as
  the experiments' ``acc >= threshold`` did): an accuracy of exactly 9/10 reaches 0.9."""
  acc = np.full(6, 0.9, np.float32)
  assert results.learning_step(STEPS, acc, 0.9) == 0
  assert results.learning_step(STEPS, acc.astype(np.float64), 0.9) is None


# rows: sizes 10, 20, 40, 80; columns: frequencies 0.1, 0.2, 0.4, 0.8
FREQS, SIZES = [0.1, 0.2, 0.4, 0.8], [10, 20, 40, 80]
LEARNED = np.array([[False, False, False, False],  # never
                    [False, False, True, True],  # from 0.4
                    [False, True, False, True],  # a fluke at 0.2: closed upwards only from 0.8
                    [True, True, True, True]])  # every frequency


def test_frontier_any_learned_cell():
  by_size, by_freq = results.frontier(LEARNED, SIZES, FREQS)
  assert by_size == {10: None, 20: 0.4, 40: 0.2, 80: 0.1}
  assert by_freq == {0.1: 80, 0.2: 40, 0.4: 20, 0.8: 20}


def test_frontier_closed_upwards():
  by_size, by_freq = results.frontier(LEARNED, SIZES, FREQS, closed_upwards=True)
  assert by_size == {10: None, 20: 0.4, 40: 0.8, 80: 0.1}
  # per frequency, the smallest size from which every larger one learns (size 20 learns at
  # 0.4 but size 40 does not: 80)
  assert by_freq == {0.1: 80, 0.2: 40, 0.4: 80, 0.8: 20}


def test_both_readings_agree_on_a_learned_set_closed_upwards():
  monotone = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]], bool)
  assert results.is_monotone(monotone) and not results.is_monotone(LEARNED)
  assert (results.frontier(monotone, SIZES, FREQS)
          == results.frontier(monotone, SIZES, FREQS, closed_upwards=True))


def test_frontier_cells_by_hand():
  low, high = results.frontier_cells(LEARNED, FREQS)
  np.testing.assert_array_equal(low, [0.8, 0.2, 0.4, 0.0])  # never: (0.8, inf)
  np.testing.assert_array_equal(high, [np.inf, 0.4, 0.8, 0.1])  # every frequency: (0, 0.1]


def test_an_untrained_cell_is_unknown_not_missed():
  """Workdirs read together may not cover every cell: an absent member (NaN) is skipped, so the
  cell's low end is the next lower frequency the size was trained at."""
  nan = np.nan
  learned = np.array([[0, nan, 1, 1],  # 0.2 not trained: (0.1, 0.4]
                      [nan, 0, nan, 1],  # (0.2, 0.8]
                      [nan, nan, nan, nan]])  # nothing trained
  low, high = results.frontier_cells(learned, FREQS)
  np.testing.assert_array_equal(low[:2], [0.1, 0.2])
  np.testing.assert_array_equal(high, [0.4, 0.8, np.inf])
  assert math.isnan(low[2])
  for closed in (False, True):  # absent is neither learned nor missed
    by_size, by_freq = results.frontier(learned, [1, 2, 3], FREQS, closed_upwards=closed)
    assert by_size == {1: 0.4, 2: 0.8, 3: None}
    assert by_freq == {0.1: None, 0.2: None, 0.4: 1, 0.8: 1}
