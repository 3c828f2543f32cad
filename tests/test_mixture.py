"""Mixture schedules against hand-worked counts and exact long-run frequencies."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn.tasks import mixture

FREQS = np.array([0.5, 0.3, 0.14, 0.06])


def _ids(mix, steps, batch_size, key=0):
  fn = jax.jit(jax.vmap(lambda t: mixture.task_ids(jax.random.fold_in(jax.random.key(key), t),
                                                   t, mix, batch_size)))
  return np.asarray(fn(jnp.arange(steps, dtype=jnp.int32)))


def test_upweight_by_hand():
  np.testing.assert_allclose(mixture.upweight([0.5, 0.3, 0.2], 2, 2.0), [0.375, 0.225, 0.4])
  np.testing.assert_allclose(mixture.upweight([0.5, 0.3, 0.2], 0, 3.0), [1.0, 0.0, 0.0])
  np.testing.assert_allclose(mixture.upweight(FREQS, 3, 1.0), FREQS)


def test_with_frequency_and_shortest_burst_by_hand():
  np.testing.assert_allclose(mixture.with_frequency([0.5, 0.3, 0.2], 2, 0.6), [0.25, 0.15, 0.6])
  np.testing.assert_allclose(mixture.with_frequency([0.5, 0.3, 0.2], 0, 0.1),
                             [0.1, 0.3 * 1.8, 0.2 * 1.8])
  assert mixture.shortest_burst(0.26, 4, 10) == 1  # round(10.4) = 10 rare examples: one batch
  assert mixture.shortest_burst(0.74, 4, 10) == 3  # round(29.6) = 30: three batches
  assert mixture.shortest_burst(0.001, 4, 10) == 1  # none at all still takes a step
  auto = mixture.injection([0.26, 0.74], 1, gap=4, burst_steps=0, batch_size=10)
  assert int(auto.burst_steps) == 3 and int(auto.burst_total) == 30
  with pytest.raises(ValueError, match='frequency must be in'):
    mixture.with_frequency([0.5, 0.5], 0, 1.5)


def test_burst_counts_by_hand():
  """G = 4, 3 burst steps, B = 10, π_r = 0.26: n = round(10.4) = 10 split 4, 3, 3."""
  mix = mixture.injection([0.74, 0.26], 1, gap=4, burst_steps=3, batch_size=10, offset=2)
  counts = [int(mixture.rare_count(jnp.int32(t), mix)) for t in range(12)]
  assert counts == [0, 0, 4, 3, 3, 0, 4, 3, 3, 0, 4, 3]
  ids = _ids(mix, 12, 10)
  np.testing.assert_array_equal((ids == 1).sum(1), counts)  # the background never draws r


@pytest.mark.parametrize('gap,burst_steps', [(1, 1), (10, 1), (100, 7), (1000, 100)])
def test_injection_keeps_the_long_run_frequency_exactly(gap, burst_steps):
  batch_size, rare = 64, 3
  mix = mixture.injection(FREQS, rare, gap, burst_steps, batch_size)
  n = mixture.burst_total(FREQS[rare], gap, batch_size)
  assert n == round(gap * batch_size * FREQS[rare])
  assert abs(n / (gap * batch_size) - FREQS[rare]) <= 0.5 / (gap * batch_size)
  counts = np.asarray(jax.vmap(lambda t: mixture.rare_count(t, mix))(
      jnp.arange(3 * gap, dtype=jnp.int32))).reshape(3, gap)
  assert counts.sum(1).tolist() == [n] * 3
  assert np.all(counts[:, burst_steps:] == 0)
  burst = counts[:, :burst_steps]  # split as evenly as integers allow, larger counts first
  assert burst.max() - burst.min() <= 1 and np.all(np.diff(burst, axis=1) <= 0)


def test_background_frequencies_match_pi():
  """Over whole periods, every task's share is π_k (binomial tolerance, 5 sigma)."""
  batch_size, gap = 256, 50
  for mix in (mixture.iid(FREQS), mixture.injection(FREQS, 3, gap, 5, batch_size)):
    ids = _ids(mix, 4 * gap, batch_size)
    total = ids.size
    share = np.bincount(ids.ravel(), minlength=4) / total
    sigma = np.sqrt(FREQS * (1 - FREQS) / total)
    assert np.all(np.abs(share - FREQS) < 5 * sigma + 1e-12), (share, FREQS)


def test_vmapped_mixtures_equal_individual_ones():
  """A population carrying one mixture per member draws what each would alone."""
  mixes = [mixture.iid(mixture.upweight(FREQS, 3, f)) for f in (1.0, 4.0)]
  mixes.append(mixture.injection(FREQS, 3, 8, 2, 32))
  iid_only = jax.tree.map(lambda *a: jnp.stack(a), *mixes)
  key, step = jax.random.key(7), jnp.int32(16)
  got = jax.vmap(lambda m: mixture.task_ids(key, step, m, 32))(iid_only)
  for i, m in enumerate(mixes):
    np.testing.assert_array_equal(got[i], mixture.task_ids(key, step, m, 32))


def test_injection_rejects_impossible_bursts():
  with pytest.raises(ValueError, match='burst_steps'):
    mixture.injection(FREQS, 3, gap=4, burst_steps=5, batch_size=8)
  with pytest.raises(ValueError, match='do not fit'):
    mixture.injection([0.1, 0.9], 1, gap=10, burst_steps=1, batch_size=8)
