"""Scaling-law argument (paper Fig. 1) against values worked by hand and a numeric scan of the
constant-compute curve."""
import numpy as np
import pytest

from rarelearn.analysis import theory

# Round numbers: L_C = 2/√N, L_∞ = 1/N. At N_l = 100: L_C = 0.2, so N_s* = 1/0.2 = 5.
ROUND = theory.PaperScaling(a_c=2.0, gamma=0.5, a_inf=1.0, alpha=1.0)
# L = 1 + 1/√N + 1/√D: αA N^-α = βB D^-β gives D_opt = N, L_C = 1 + 2/√N, L_∞ = 1 + 1/√N.
UNIT = theory.ParametricScaling(E=1.0, A=1.0, B=1.0, alpha=0.5, beta=0.5)


def test_paper_form_by_hand():
  np.testing.assert_allclose(ROUND.loss_compute_optimal([100.0, 4.0]), [0.2, 1.0])
  np.testing.assert_allclose(ROUND.loss_infinite_data([5.0, 4.0]), [0.2, 0.25])
  assert ROUND.n_s_star(100.0) == pytest.approx(5.0)
  assert ROUND.n_s_star(100.0, eps=0.05) == pytest.approx(4.0)  # 1/(0.2 + 0.05)
  np.testing.assert_allclose(ROUND.n_s_star([100.0, 10_000.0]), [5.0, 50.0])  # 1/(2 · 0.01)


def test_paper_form_power_of_n_l():
  """a_C = a_∞: N_s* = N_l^(γ/α); γ = 1/4, α = 1/2, N_l = 10⁴ → L_C = 0.1, N_s* = 0.1⁻² = 100."""
  form = theory.PaperScaling(a_c=1.0, gamma=0.25, a_inf=1.0, alpha=0.5)
  assert form.n_s_star(1e4) == pytest.approx(100.0)
  assert theory.PAPER.n_s_star(1e8) == pytest.approx(10 ** (8 * 0.34 / 0.46))


@pytest.mark.parametrize('form', [theory.PAPER, theory.CHINCHILLA, ROUND, UNIT])
@pytest.mark.parametrize('eps', [0.0, 1e-4, 0.1])
def test_n_s_star_reaches_the_target(form, eps):
  """L_∞(N_s*) = L_C(N_l) + ε, and L_∞ is decreasing, so N_s* is the smallest such size."""
  n_l = np.array([1e7, 1e9, 1e11])
  n_s = form.n_s_star(n_l, eps)
  np.testing.assert_allclose(form.loss_infinite_data(n_s), form.loss_compute_optimal(n_l) + eps,
                             rtol=1e-12)
  assert np.all(form.loss_infinite_data(n_s * 0.999) > form.loss_compute_optimal(n_l) + eps)


def test_parametric_by_hand():
  np.testing.assert_allclose(UNIT.d_opt([4.0, 100.0]), [4.0, 100.0])
  np.testing.assert_allclose(UNIT.loss_compute_optimal(100.0), 1.2)  # 1 + 0.1 + 0.1
  np.testing.assert_allclose(UNIT.loss_infinite_data(100.0), 1.1)
  # 1/√N_s = 0.2 → 25;  with ε = 0.05: 1/√N_s = 0.25 → 16.
  np.testing.assert_allclose(UNIT.n_s_star(100.0, [0.0, 0.05]), [25.0, 16.0])
  # B = 4: 0.5 N^-½ = 2 D^-½ → D = 16 N.
  form = theory.ParametricScaling(E=0.0, A=1.0, B=4.0, alpha=0.5, beta=0.5)
  np.testing.assert_allclose(form.d_opt(100.0), 1600.0)


@pytest.mark.parametrize('form', [theory.CHINCHILLA, UNIT])
@pytest.mark.parametrize('n0', [1e7, 1e9, 1e11])
def test_d_opt_minimizes_loss_at_fixed_compute(form, n0):
  """Scan N along C = 6 N D with C = 6 n0 D_opt(n0): the minimum sits at n0, and L there is L_C."""
  c = 6 * n0 * form.d_opt(n0)
  n = n0 * np.logspace(-1, 1, 200_001)  # steps of 1e-5 decades
  loss = form.loss(n, c / (6 * n))
  best = np.argmin(loss)
  assert 0 < best < len(n) - 1
  assert n[best] == pytest.approx(n0, rel=1e-4)
  assert loss[best] == pytest.approx(float(form.loss_compute_optimal(n0)), rel=1e-9)
  np.testing.assert_allclose(form.loss(n0, form.d_opt(n0)), form.loss_compute_optimal(n0),
                             rtol=1e-12)
  # Central difference in log N of L(N, C/(6N)) vanishes at n0 (relative to one-sided slopes).
  h = 1e-4
  lo, mid, hi = form.loss(n0 * np.exp([-h, 0.0, h]), c / (6 * n0 * np.exp([-h, 0.0, h])))
  assert abs(hi - lo) < 1e-3 * abs(hi - mid) + 1e-15
  assert hi > mid and lo > mid


def test_chinchilla_ratio_is_constant():
  """(1 + 0.34/0.28)^(-1/0.34) = 2.2142857^(-2.9411765) = 0.0965177 (not 0.0971)."""
  ratio = 0.09651768
  form = theory.CHINCHILLA
  assert (form.E, form.A, form.B, form.alpha, form.beta) == (1.69, 406.4, 410.7, 0.34, 0.28)
  for n_l in (1e7, 1e11):
    assert form.n_s_star(n_l) / n_l == pytest.approx(ratio, rel=1e-6)
  # ε > 0 breaks the constancy: the ratio falls with N_l.
  assert form.n_s_star(1e11, 0.01) / 1e11 < form.n_s_star(1e7, 0.01) / 1e7


def test_regions():
  assert ROUND.region(4.9, 100.0) == theory.NEEDS_LARGER_MODEL
  assert ROUND.region(5.0, 100.0) == theory.FIXABLE_BY_DATA
  assert ROUND.region(4.5, 100.0, eps=0.05) == theory.FIXABLE_BY_DATA  # N_s* = 4
  got = ROUND.region([1.0, 4.9, 5.0, 50.0, 99.9, 100.0, 1e3], 100.0)
  want = ['needs a larger model'] * 2 + ['fixable by data'] * 3 + ['at least as large'] * 2
  assert list(got) == want
  n_l = 1e9  # Chinchilla: N_s* ≈ 9.65e7
  assert list(theory.CHINCHILLA.region([9.6e7, 9.7e7, 2e9], n_l)) == [
      theory.NEEDS_LARGER_MODEL, theory.FIXABLE_BY_DATA, theory.AT_LEAST_AS_LARGE]
