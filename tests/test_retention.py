"""Retention on synthetic trajectories with a known decay."""
import numpy as np
import pytest

from rarelearn.measure import retention


def _trajectory(num_bursts, gap, burst_steps, offset, gain, tau, floor=0.0):
  """ℓ rises linearly by ``gain`` during each burst, then decays back toward its pre-burst
  level as exp(−(t − e_i)/τ), so exactly exp(−(gap − burst_steps)/τ) of the gain is retained."""
  steps = np.arange(offset + num_bursts * gap + 1)
  score = np.full(len(steps), floor, float)
  level = floor
  for i in range(num_bursts):
    s = offset + i * gap
    e = s + burst_steps
    score[s:e + 1] = level + gain * (steps[s:e + 1] - s) / burst_steps
    after = steps[e:s + gap + 1]
    score[e:s + gap + 1] = level + gain * np.exp(-(after - e) / tau)
    level = score[s + gap]
  return steps, score


@pytest.mark.parametrize('tau', [50.0, 400.0, 1e9])
def test_retained_fraction_is_the_known_decay(tau):
  gap, burst, offset = 100, 10, 30
  steps, score = _trajectory(5, gap, burst, offset, gain=0.6, tau=tau)
  res = retention.retention(steps, score, gap, burst, offset)
  assert res['starts'] == [30, 130, 230, 330, 430]
  np.testing.assert_allclose(res['gain'], 0.6, rtol=1e-12)
  np.testing.assert_allclose(res['retained'], np.exp(-(gap - burst) / tau), rtol=1e-9)
  assert res['mean_retained'] == pytest.approx(np.exp(-(gap - burst) / tau))


def test_hand_example_and_small_gains_left_out():
  # Bursts at 0 and 10 (3 steps each), trajectory sampled at the steps that matter.
  steps = [0, 3, 10, 13, 20]
  score = [0.0, 0.5, 0.1, 0.11, 0.05]
  res = retention.retention(steps, score, gap=10, burst_steps=3, offset=0)
  assert res['starts'] == [0, 10]  # the burst at 20 has no successor in the trajectory
  np.testing.assert_allclose(res['gain'], [0.5, 0.01])
  assert res['retained'][0] == pytest.approx(0.2)
  assert np.isnan(res['retained'][1])  # gain 0.01 < min_gain
  assert res['mean_retained'] == pytest.approx(0.2)
  assert res['weighted_retained'] == pytest.approx(0.2)


def test_weighted_retention_by_hand():
  # drops 1.0 and 0.1 (score = −loss), kept 0.5 and −0.4: plain mean (0.5 − 4) / 2, weighted
  # (0.5 − 0.4) / 1.1
  steps = [0, 2, 10, 12, 20]
  score = [0.0, 1.0, 0.5, 0.6, 0.1]
  res = retention.retention(steps, score, gap=10, burst_steps=2, offset=0)
  np.testing.assert_allclose(res['retained'], [0.5, -4.0])
  assert res['mean_retained'] == pytest.approx(-1.75)
  assert res['weighted_retained'] == pytest.approx(0.1 / 1.1)


def test_missing_steps_are_an_error():
  with pytest.raises(ValueError, match='lacks steps'):
    retention.retention([0, 10, 20], [0.0, 0.1, 0.2], gap=10, burst_steps=3, offset=0)


def test_burst_aligned_averages_each_phase_of_the_cycle():
  """gap 4 from step 2: steps 2..13 have phases 0,1,2,3,0,1,2,3,0,1,2,3; values = step."""
  steps = list(range(0, 14))
  aligned = retention.burst_aligned(steps, [float(t) for t in steps], gap=4, offset=2)
  assert aligned == {0: (2 + 6 + 10) / 3, 1: (3 + 7 + 11) / 3, 2: (4 + 8 + 12) / 3,
                     3: (5 + 9 + 13) / 3}
  with_nan = retention.burst_aligned([2, 6, 7], [1.0, float('nan'), 3.0], gap=4, offset=2)
  assert with_nan == {0: 1.0, 1: 3.0}
