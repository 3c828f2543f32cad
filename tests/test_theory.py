"""Utility-ranking theory against a 3-task example worked by hand, and against Eckart–Young."""
import numpy as np

from rarelearn.analysis import theory

FREQS = [0.5, 0.3, 0.2]
SPECTRA = [np.array([0.6, 0.4]), np.array([0.7, 0.3]), np.array([0.5, 0.5])]
# Utilities: (0,0) .30, (1,0) .21, (0,1) .20, (2,0) .10, (2,1) .10, (1,1) .09.


def test_predicted_scores_by_hand():
  got = theory.predicted_scores(FREQS, SPECTRA, [1, 2, 3, 4, 5, 6])
  want = [[0.6, 0, 0], [0.6, 0.7, 0], [1.0, 0.7, 0], [1.0, 0.7, 0.5], [1.0, 0.7, 1.0],
          [1.0, 1.0, 1.0]]
  np.testing.assert_allclose(got, want, atol=1e-12)


def test_critical_widths_by_hand():
  assert theory.critical_widths(FREQS, SPECTRA, 0.5) == [1, 2, 4]
  assert theory.critical_widths(FREQS, SPECTRA, 0.8) == [3, 6, 5]


def test_prediction_is_the_rank_n_optimum():
  """ℓ* from the ranking equals 1 − L_k of the truncated-SVD optimum of ||(W − I) Σ^½||."""
  rng = np.random.default_rng(0)
  freqs = rng.dirichlet(np.ones(5))
  spectra = [s / s.sum() for s in rng.uniform(0.1, 1.0, (5, 3))]
  q, _ = np.linalg.qr(rng.standard_normal((15, 15)))
  u, task, j = theory.utilities(freqs, spectra)
  sigma = q @ np.diag(u) @ q.T
  evals, evecs = np.linalg.eigh(sigma)
  for n in (1, 4, 9, 15):
    top = evecs[:, np.argsort(-evals)[:n]]
    w = top @ top.T  # best rank-n W for target I (T Σ^½ has right singular vectors of Σ)
    loss = [sum(spectra[k][jj] * np.sum(((w - np.eye(15)) @ q[:, 3 * k + jj]) ** 2)
                for jj in range(3)) for k in range(5)]
    np.testing.assert_allclose(theory.predicted_scores(freqs, spectra, [n])[0],
                               1 - np.array(loss), atol=1e-9)


def test_frequency_only_scores_by_hand():
  """Every task given the mean spectrum (.6, .4): utilities (0,0) .30, (0,1) .20, (1,0) .18,
  (1,1) .12 = (2,0) .12 (tie: lower task first), (2,1) .08."""
  got = theory.frequency_only_scores(FREQS, SPECTRA, [1, 2, 3, 4, 5, 6])
  want = [[0.6, 0, 0], [1.0, 0, 0], [1.0, 0.6, 0], [1.0, 1.0, 0], [1.0, 1.0, 0.6],
          [1.0, 1.0, 1.0]]
  np.testing.assert_allclose(got, want, atol=1e-12)


def test_learning_order_by_hand():
  assert theory.learning_order(FREQS, SPECTRA, 0.5) == [0, 1, 2]  # critical widths 1, 2, 4
  assert theory.learning_order(FREQS, SPECTRA, 0.8) == [0, 2, 1]  # critical widths 3, 6, 5


def test_utility_beats_frequency_on_the_complexity_smoke_example():
  """configs/complexity.py:smoke: π ∝ (1, 1/2, 1/3, 1/4) = (.48, .24, .16, .12), decays
  (0, 3, 0, 3) over 4 directions: λ = (.25,)*4 or (.849, .106, .0315, .0133). Utilities:
  .204 (task 1), .12 ×4 (task 0), .102 (task 3), .04 ×4 (task 2), … so width 2 learns task 1
  only (ℓ = (.25, .849, 0, 0)) and width 5 tasks 0 and 1. With the mean spectrum
  (.5496, .1781, .1407, .1316) frequency alone ranks (0,0) .264, (1,0) .132, (2,0) .088,
  (0,1) .085, (0,2) .0675, then (3,0) .0659: width 2 learns tasks 0 and 1, width 5 tasks
  0, 1 and 2."""
  freqs = np.array([1, 1 / 2, 1 / 3, 1 / 4]) / (25 / 12)
  steep = np.arange(1, 5) ** -3.0
  spectra = [np.full(4, 0.25), steep / steep.sum()] * 2
  utility = theory.predicted_scores(freqs, spectra, [2, 5])
  np.testing.assert_allclose(utility, [[0.25, steep[0] / steep.sum(), 0, 0],
                                       [1.0, steep[0] / steep.sum(), 0, 0]], atol=1e-12)
  mean = (0.25 + steep / steep.sum()) / 2
  np.testing.assert_allclose(theory.frequency_only_scores(freqs, spectra, [2, 5]),
                             [[mean[0], mean[0], 0, 0],
                              [mean[0] + mean[1] + mean[2], mean[0], mean[0], 0]], atol=1e-12)
  assert theory.is_learned(utility, 0.5).tolist() == [[False, True, False, False],
                                                       [True, True, False, False]]
