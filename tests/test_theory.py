"""Utility-ranking theory against a 3-task example worked by hand, and against Eckart–Young."""
import numpy as np

from rarelearn import theory

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
