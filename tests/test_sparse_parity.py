"""Multitask sparse parity: labels against a brute-force parity, distinct subsets, frequencies;
the packed population against each member trained alone."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rarelearn import configlib, msp
from rarelearn.tasks import sparse_parity as sp
from conftest import REPO, assert_golden


def test_labels_equal_brute_force_parity():
  spec = sp.make_spec([0.5, 0.3, 0.2], [1, 3, 5], num_data_bits=7, seed=3)
  subsets = sp.subsets(spec)
  assert [len(s) for s in subsets] == [1, 3, 5]
  batch = jax.jit(lambda k: sp.sample(k, spec, 500))(jax.random.key(0))
  x, y, task = (np.asarray(a) for a in batch)
  for i in range(500):
    control, bits = x[i, :3], x[i, 3:].astype(int)
    assert control.tolist() == [float(t == task[i]) for t in range(3)]
    assert set(bits.tolist()) <= {0, 1}
    parity = 0
    for j in subsets[task[i]]:
      parity ^= int(bits[j])
    assert y[i] == parity
  # the data bits are fair coins and the labels balanced (500·7 bits: ±4.5 σ)
  assert abs(x[:, 3:].mean() - 0.5) < 4.5 * 0.5 / np.sqrt(3500)
  assert abs(y.mean() - 0.5) < 4.5 * 0.5 / np.sqrt(500)


def test_subsets_are_distinct_even_when_almost_all_are_needed():
  orders = [2] * 10  # C(5, 2) = 10: every pair once
  subsets = sp.distinct_subsets(0, orders, 5)
  assert len(set(subsets)) == 10 and all(len(s) == 2 and s == tuple(sorted(s)) for s in subsets)
  assert len(set(sp.distinct_subsets(1, [3] * 40, 10))) == 40
  with pytest.raises(ValueError, match='distinct subsets of size 2'):
    sp.distinct_subsets(0, [2] * 11, 5)


def test_task_frequencies_follow_the_spec():
  freqs = np.array([0.6, 0.3, 0.1])
  spec = sp.make_spec(freqs, [2, 2, 2], num_data_bits=6)
  task = np.asarray(sp.sample(jax.random.key(1), spec, 200_000).task_id)
  counts = np.bincount(task, minlength=3) / task.size
  np.testing.assert_allclose(counts, freqs, atol=4.5 * np.sqrt(0.25 / 200_000))


def test_packed_members_equal_standalone_models():
  """Each member of the packed population follows, step by step, a standalone model of its
  width trained with the same init, batches and Adam."""
  spec = sp.make_spec(np.ones(4) / 4, [2, 2, 3, 3], num_data_bits=6, seed=0)
  layout = msp.make_layout((3, 8, 5), num_seeds=2)
  params = msp.init(jax.random.key(0), layout, spec.input_dim)
  chunk, evaluate, opt = msp.make_functions(layout, spec, 3e-3, 64)
  data_key = jax.random.key(7)
  solo_opt = optax.adam(3e-3)

  @jax.jit
  def solo_step(p, s, t):
    batch = sp.sample(jax.random.fold_in(data_key, t), spec, 64)
    def loss(p):
      logp = jax.nn.log_softmax(msp.apply_member(p, batch.x))
      return -jnp.mean(logp[jnp.arange(64), batch.y])
    updates, s = solo_opt.update(jax.grad(loss)(p), s, p)
    return optax.apply_updates(p, updates), s

  with jax.default_matmul_precision('highest'):
    packed, _, _ = chunk(params, opt.init(params), data_key, jnp.int32(0), 40)
    ev = sp.eval_set(jax.random.key(2), spec, 50)
    losses = np.asarray(evaluate(packed, ev))
    for m in range(layout.size):
      solo = msp.init_member(jax.random.fold_in(jax.random.key(0), layout.seeds[m]),
                             layout.widths[m], spec.input_dim)
      solo_state = solo_opt.init(solo)
      for t in range(40):
        solo, solo_state = solo_step(solo, solo_state, jnp.int32(t))
      got = msp.member_params(packed, layout, m)
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(solo)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
      logits = np.asarray(msp.apply_member(solo, ev.x), np.float64)
      logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
      ce_bits = -logp[np.arange(len(ev.y)), np.asarray(ev.y)] / np.log(2)
      per_task = np.bincount(np.asarray(ev.task_id), ce_bits, 4) / 50
      np.testing.assert_allclose(losses[m], per_task, rtol=1e-4)


def test_init_is_pytorch_linear_default():
  """U(±1/sqrt(fan-in)): hidden fan-in D, output fan-in = the member's width."""
  p = msp.init_member(jax.random.key(0), 400, 70)
  for leaf, bound in ((p['hidden']['w'], 70 ** -0.5), (p['hidden']['b'], 70 ** -0.5),
                      (p['out']['w'], 400 ** -0.5)):
    leaf = np.asarray(leaf)
    assert np.abs(leaf).max() <= bound
    np.testing.assert_allclose(leaf.std(), bound / np.sqrt(3), rtol=0.06)


def test_schedules_compose_with_the_parity_family():
  """An injection burst of parity examples: exactly rare_count examples of the rare subtask,
  none outside bursts, and every label still the brute-force parity."""
  from rarelearn.tasks import mixture  # pylint: disable=g-import-not-at-top
  freqs = np.array([0.5, 0.3, 0.2])
  spec = sp.make_spec(freqs, [2, 3, 4], num_data_bits=8, seed=1)
  mix = mixture.injection(freqs, 2, gap=10, burst_steps=2, batch_size=40)  # 80 rare: 40 + 40
  subsets = sp.subsets(spec)
  for t in (0, 1, 2, 9, 10):
    k_task, k_bits = jax.random.split(jax.random.key(t))
    batch = sp.examples_of_tasks(k_bits, spec, mixture.task_ids(k_task, jnp.int32(t), mix, 40))
    task = np.asarray(batch.task_id)
    assert (task == 2).sum() == {0: 40, 1: 40, 2: 0, 9: 0, 10: 40}[t]
    bits = np.asarray(batch.x)[:, 3:].astype(int)
    want = [sum(bits[i, j] for j in subsets[task[i]]) % 2 for i in range(40)]
    np.testing.assert_array_equal(batch.y, want)


def test_msp_smoke_equals_its_golden_numbers():
  """configs/msp.py:smoke end to end: the final per-subtask test losses and the last chunk's
  training losses equal those recorded before the one-lifecycle refactor."""
  config = configlib.load_config_file(os.path.join(REPO, 'configs', 'msp.py') + ':smoke')
  out = msp.train(config, progress=False)
  assert_golden('msp_smoke', {'task_loss_bits': out['task_loss_bits'][-1],
                              'train_loss': out['train_loss'][-1]})
