"""Block-regression sampler and evaluators against closed forms and independent estimates."""
import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.tasks import block_regression as br


def _spec(rotate=True):
  freqs = br.zipf_frequencies(4, 1.2, 0.5)
  spectra = br.power_spectra([3, 3, 3, 3], [0.0, 1.0, 2.0, 0.5])
  basis = br.random_orthogonal(jax.random.key(7), 12) if rotate else None
  return freqs, spectra, basis, br.make_spec(freqs, spectra, basis)


def test_zipf_and_spectra_hand_values():
  np.testing.assert_allclose(br.zipf_frequencies(3, 1.0, 0.0), [6 / 11, 3 / 11, 2 / 11])
  np.testing.assert_allclose(br.zipf_frequencies(2, 2.0, 1.0), [(1 / 4) / (1 / 4 + 1 / 9),
                                                                 (1 / 9) / (1 / 4 + 1 / 9)])
  (lam,) = br.power_spectra([3], [1.0])
  np.testing.assert_allclose(lam, np.array([1, 1 / 2, 1 / 3]) / (11 / 6))


def test_basis_is_orthogonal():
  q = br.random_orthogonal(jax.random.key(0), 16)
  np.testing.assert_allclose(q.T @ q, np.eye(16), atol=1e-12)


def test_sampler_is_deterministic_in_its_key():
  *_, spec = _spec()
  sample = jax.jit(br.sample, static_argnums=2)
  a = sample(jax.random.key(3), spec, 64)
  b = sample(jax.random.key(3), spec, 64)
  eager = br.sample(jax.random.key(3), spec, 64)
  c = sample(jax.random.key(4), spec, 64)
  for u, v, e in zip(a, b, eager):
    np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    np.testing.assert_allclose(np.asarray(u), np.asarray(e), rtol=1e-5, atol=1e-6)
  assert not np.allclose(np.asarray(a.x), np.asarray(c.x))


def test_frequencies_and_covariances_match_pi_and_lambda():
  freqs, spectra, basis, spec = _spec()
  n = 200_000
  batch = jax.jit(br.sample, static_argnums=2)(jax.random.key(1), spec, n)
  x, task = np.asarray(batch.x, np.float64), np.asarray(batch.task_id)
  np.testing.assert_array_equal(np.asarray(batch.y), np.asarray(batch.x))  # T = I
  counts = np.bincount(task, minlength=4) / n
  sigma = np.sqrt(freqs * (1 - freqs) / n)
  assert np.all(np.abs(counts - freqs) < 5 * sigma), (counts, freqs)
  for k in range(4):
    xk = x[task == k]
    b_k = basis[:, 3 * k:3 * k + 3]
    expected = b_k @ np.diag(spectra[k]) @ b_k.T
    cov = xk.T @ xk / len(xk)
    # Entry-wise standard error of a Gaussian second moment is ≤ sqrt(2/n)·max λ.
    tol = 6 * np.sqrt(2.0 / len(xk)) * spectra[k].max()
    assert np.max(np.abs(cov - expected)) < tol
    np.testing.assert_allclose(np.trace(cov), 1.0, atol=6 * np.sqrt(2.0 / len(xk)))


def test_closed_form_task_loss_equals_covariance_formula_and_monte_carlo():
  freqs, spectra, basis, spec = _spec()
  rng = np.random.default_rng(0)
  w = np.eye(12) + 0.3 * rng.standard_normal((12, 12))
  bias = 0.1 * rng.standard_normal(12)
  closed = np.asarray(br.closed_form_task_losses(jnp.asarray(w, jnp.float32),
                                                 jnp.asarray(bias, jnp.float32), spec))
  for k in range(4):  # oracle: tr((W−I) C_k (W−I)ᵀ) + ||bias||², float64
    b_k = basis[:, 3 * k:3 * k + 3]
    c_k = b_k @ np.diag(spectra[k]) @ b_k.T
    e = w - np.eye(12)
    np.testing.assert_allclose(closed[k], np.trace(e @ c_k @ e.T) + bias @ bias, rtol=1e-5)
  ev = br.eval_set(jax.random.key(5), spec, 50_000)
  pred = ev.x @ jnp.asarray(w, jnp.float32).T + jnp.asarray(bias, jnp.float32)
  mc = np.asarray(br.monte_carlo_task_losses(pred, ev, 4))
  np.testing.assert_allclose(mc, closed, rtol=0.03)


def test_zero_predictor_has_unit_task_loss():
  *_, spec = _spec()
  loss = br.closed_form_task_losses(jnp.zeros((12, 12)), jnp.zeros(12), spec)
  np.testing.assert_allclose(np.asarray(loss), 1.0, rtol=1e-6)


def test_unrotated_sampling_skips_the_identity_product_exactly():
  spec = br.make_spec(br.zipf_frequencies(4, 1.0, 0.0), br.power_spectra([3] * 4, [1.0] * 4))
  assert not spec.rotated
  explicit = spec.replace(rotated=True)  # multiplies by the stored identity
  a, b = (br.sample(jax.random.key(3), s, 64) for s in (spec, explicit))
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
