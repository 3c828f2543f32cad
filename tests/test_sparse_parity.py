"""Multitask sparse parity: labels against a brute-force parity, distinct subsets, frequencies;
the packed population against each member trained alone."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rarelearn
from rarelearn import families
from rarelearn.core import configlib
from rarelearn.models import mlp
from rarelearn.population import vmapped
from rarelearn.runtime import workdir as workdir_lib
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


def _uniform_rows(key, num_rows, row_len, bound):
  return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i), (row_len,),
                                               minval=-bound, maxval=bound))(jnp.arange(num_rows))


def init_member(key, width, input_dim):
  """A standalone width-``width`` classifier, PyTorch's nn.Linear default init: hidden
  {w [N, D], b [N]}, out {w [N, 2], b [2]}; unit i's draws from keys folded with i."""
  ks = [jax.random.fold_in(key, i) for i in range(4)]
  hb, ob = 1.0 / np.sqrt(input_dim), 1.0 / np.sqrt(width)
  return {'hidden': {'w': _uniform_rows(ks[0], width, input_dim, hb),
                     'b': _uniform_rows(ks[1], width, 1, hb)[:, 0]},
          'out': {'w': _uniform_rows(ks[2], width, 2, ob),
                  'b': jax.random.uniform(ks[3], (2,), minval=-ob, maxval=ob)}}


def apply_member(params, x_BxD):
  h = jax.nn.relu(x_BxD @ params['hidden']['w'].T + params['hidden']['b'])
  return h @ params['out']['w'] + params['out']['b']


def _parity_config(layout):
  c = configlib.load_config_file(os.path.join(REPO, 'configs', 'msp.py') + ':smoke')
  c.population.widths, c.population.seeds, c.population.layout = (3, 8, 5), 2, layout
  # 6 members × 2 outputs ≤ 4 + 8 inputs: packed, they share one block output matmul
  c.tasks.num_tasks, c.tasks.orders, c.tasks.num_data_bits = 4, (2, 2, 3, 3), 8
  c.tasks.frequencies = (0.25,) * 4
  c.train.batch_size, c.train.num_steps, c.train.steps_per_chunk = 64, 40, 40
  c.optimizer.lr, c.eval.examples_per_task = 3e-3, 50
  return c


@pytest.mark.parametrize('layout', ['packed', 'padded'])
def test_members_equal_standalone_classifiers(layout):
  """Each member of a sparse-parity population (the MLP population of
  rarelearn.population.mlp_sweep, packed
  or padded) follows, step by step, a standalone classifier of its width written here (init,
  forward, cross-entropy, optax.adam) on the same batches; its per-subtask test loss in bits
  equals a numpy evaluation of that classifier."""
  su = pop = families.population(_parity_config(layout))
  with jax.default_matmul_precision('highest'):
    state, out = pop.chunk(pop.place(pop.init()), 0)
    solo_opt = optax.adam(3e-3)

    @jax.jit
    def solo_step(p, s, t):
      batch = sp.sample(jax.random.fold_in(su.keys['data'], t), su.spec, 64)
      def loss(p):
        logp = jax.nn.log_softmax(apply_member(p, batch.x))
        return -jnp.mean(logp[jnp.arange(64), batch.y])
      updates, s = solo_opt.update(jax.grad(loss)(p), s, p)
      return optax.apply_updates(p, updates), s

    ev = su.eval_batch
    for m, (w, seed) in enumerate(zip(su.grid.widths, su.grid.seeds)):
      solo = init_member(jax.random.fold_in(su.keys['init'], seed), w, su.spec.input_dim)
      solo_state = solo_opt.init(solo)
      for t in range(40):
        solo, solo_state = solo_step(solo, solo_state, jnp.int32(t))
      got = vmapped.select(state.params, m)
      mine = {'hidden': {'w': got['hidden'][0]['w'][:w], 'b': got['hidden'][0]['b'][:w]},
              'out': {'w': got['out']['w'][:, :w].T, 'b': got['out']['b']}}
      for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(solo)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
      assert not np.any(got['hidden'][0]['w'][w:]) and not np.any(got['out']['w'][:, w:])
      logits = np.asarray(apply_member(solo, ev.x), np.float64)
      logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
      ce_bits = -logp[np.arange(len(ev.y)), np.asarray(ev.y)] / np.log(2)
      per_task = np.bincount(np.asarray(ev.task_id), ce_bits, 4) / 50
      np.testing.assert_allclose(np.asarray(out['task_loss'])[m], per_task, rtol=1e-4)


def test_init_is_pytorch_linear_default():
  """U(±1/sqrt(fan-in)): hidden fan-in D, output fan-in = the member's width; padded units 0."""
  p = mlp.init_params(jax.random.key(0), jnp.int32(400), 416, 70, 1, 1.0, 2, 'uniform')
  hidden = p['hidden'][0]
  for leaf, bound in ((hidden['w'][:400], 70 ** -0.5), (hidden['b'][:400], 70 ** -0.5),
                      (p['out']['w'][:, :400], 400 ** -0.5)):
    leaf = np.asarray(leaf)
    assert np.abs(leaf).max() <= bound
    np.testing.assert_allclose(leaf.std(), bound / np.sqrt(3), rtol=0.06)
  assert not np.any(hidden['w'][400:]) and not np.any(hidden['b'][400:])
  assert not np.any(p['out']['w'][:, 400:])


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


def test_msp_smoke_equals_its_golden_numbers(tmp_path):
  """configs/msp.py:smoke through ``rarelearn.main``'s path: the final per-subtask test losses
  and the last chunk's training losses equal those recorded before the one-lifecycle refactor
  (to float32 rounding: tests/goldens/goldens.json says why). (Resume after SIGKILL:
  tests/test_run.py.)"""
  config = configlib.load_config_file(os.path.join(REPO, 'configs', 'msp.py') + ':smoke')
  summary = rarelearn.train(config, str(tmp_path / 'full'), progress=False).summary
  rows = workdir_lib.read_metrics(str(tmp_path / 'full'))
  last = [r['loss'] for r in rows if r['step'] == config.train.num_steps]
  assert_golden('msp_smoke', {'task_loss_bits': summary['final']['task_loss'],
                              'train_loss': last})
  assert summary['family'] == 'sparse_parity' and 'agreement' not in summary
  assert [t['order'] for t in summary['tasks']] == [2] * 6
  assert summary['final']['learned'] == (
      1 - np.asarray(summary['final']['task_loss']) >= 0.9).tolist()
