"""The Family interface and its population (``family_population.FamilyPopulation``): a family
written for one member trains, member by member, as a numpy reference of that member alone (Adam by
hand); pieces equal the whole chunk; a diverging member is frozen alone; the registry finds the
families by their modules and rejects an unknown one in one line."""
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rarelearn import families
from rarelearn.core import configlib, optim
from rarelearn.families import base
from rarelearn.population import family_population, lm_training
from rarelearn.runtime import loop
from conftest import REPO

K, D, B = 3, 4, 16  # tasks, input dimension, batch


class Member(NamedTuple):
  lr: jax.Array
  target_scale: jax.Array


class Regression(base.Family):
  """A test family: per task k a linear map w_k [D] fitted to y_k = s · a_k · x (s the member's
  ``target_scale``), loss Σ_k mean_b (w_k · x_b − y_kb)²."""

  def __init__(self, config):
    super().__init__(config)
    self.a = np.asarray(jax.random.normal(jax.random.key(7), (K, D)), np.float32)

  def members(self):
    return [{'lr': lr, 'scale': s, 'seed': z} for lr, s, z in self.config.grid]

  def member_values(self, rows):
    return Member(jnp.asarray([r['lr'] for r in rows], jnp.float32),
                  jnp.asarray([r['scale'] for r in rows], jnp.float32))

  def init(self, key, member):
    return {'w': 0.1 * jax.random.normal(key, (K, D))}

  def batch_at(self, key, step, member):
    x = jax.random.normal(jax.random.fold_in(key, step), (B, D))
    return x, member.target_scale * x @ self.a.T

  def split_loss(self, params, batch, member):
    x, y = batch
    return jnp.mean((x @ params['w'].T - y) ** 2, axis=0)

  def evaluate(self, params, member, key):
    return {'task_loss': self.split_loss(params, self.batch_at(key, 0, member), member)}

  def optimizer(self):
    return optim.Hyper(name='adam', num_steps=self.config.train.num_steps)

  def lr(self, member):
    return member.lr

  def tasks(self):
    return [{'index': k} for k in range(K)]


def _config(grid, steps=12, chunk=6):
  c = ml_collections.ConfigDict({'family': 'test_regression', 'seed': 3, 'grid': grid})
  c.train = dict(num_steps=steps, steps_per_chunk=chunk, checkpoint_every_chunks=1,
                 keep_checkpoints=2, learned_threshold=0.9)
  return c


def _numpy_member(pop, m, steps):
  """Member m trained alone, in numpy: the analytic gradient and Adam (β 0.9, 0.999, ε 1e-8)
  on the same batches; its params after ``steps`` steps."""
  fam, row = pop.family, pop.members[m]
  member = Member(jnp.float32(row['lr']), jnp.float32(row['scale']))
  w = np.asarray(fam.init(jax.random.fold_in(pop.keys['init'], row['seed']), member)['w'],
                 np.float64)
  mu, nu = np.zeros_like(w), np.zeros_like(w)
  for t in range(steps):
    x, y = (np.asarray(v, np.float64) for v in fam.batch_at(pop.keys['data'], t, member))
    grad = 2.0 / B * (x @ w.T - y).T @ x  # d/dw_k of mean_b (w_k · x_b − y_kb)²
    mu, nu = 0.9 * mu + 0.1 * grad, 0.999 * nu + 0.001 * grad ** 2
    w = w - row['lr'] * (mu / (1 - 0.9 ** (t + 1))) / (
        np.sqrt(nu / (1 - 0.999 ** (t + 1))) + 1e-8)
  return w


GRID = [(0.01, 1.0, 0), (0.03, 2.0, 1), (0.01, 0.5, 0)]


def test_each_member_trains_as_a_numpy_reference_alone():
  pop = family_population.FamilyPopulation(Regression(_config(GRID)))
  out = loop.run(pop, None, progress=False)
  for m in range(len(GRID)):
    np.testing.assert_allclose(np.asarray(out.state.params['w'][m]), _numpy_member(pop, m, 12),
                               rtol=2e-5, atol=1e-6)
  # rows: one per evaluated step and member, with its description and per-task losses
  rows = out.history.rows
  assert [r['step'] for r in rows[:3]] == [0, 0, 0] and 'loss' not in rows[0]
  assert rows[-1] == dict(rows[-1], step=12, member=2, lr=0.01, scale=0.5, seed=0)
  assert len(rows[-1]['task_loss']) == K
  assert out.summary['family'] == 'test_regression'
  np.testing.assert_allclose(out.summary['final']['task_loss'],
                             out.history.array('task_loss')[:, -1], rtol=1e-6)


def test_pieces_equal_the_whole_chunk():
  """A chunk of 6 steps in pieces of 1, 2 and 3 steps: the same state and losses bit for bit."""
  pop = family_population.FamilyPopulation(Regression(_config(GRID)))
  whole = pop.chunk(pop.init(), 0)[0]
  state = pop.init()
  done = pop.begin(state, 0)
  for offset, count in ((0, 1), (1, 2), (3, 3)):
    state, done = pop.piece(state, done, 0, offset, count)
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_diverging_member_is_frozen_alone():
  """lr 1e30 makes member 1's first update non-finite: it keeps its initial parameters and
  records step 0; the others train as they would without it."""
  pop = family_population.FamilyPopulation(Regression(_config([GRID[0], (1e30, 1e30, 1), GRID[2]])))
  out = loop.run(pop, None, progress=False)
  assert out.summary['diverged'] == [{'member': 1, 'step': 0}]
  np.testing.assert_array_equal(np.asarray(out.state.params['w'][1]),
                                np.asarray(pop.init().params['w'][1]))
  np.testing.assert_allclose(np.asarray(out.state.params['w'][0]), _numpy_member(pop, 0, 12),
                             rtol=2e-5, atol=1e-6)


def test_the_registry_finds_every_family_module():
  names = families.names()
  assert {'block_regression', 'sparse_parity', 'token_ladder'} <= set(names)
  for name in names:  # a Family subclass, or a population of its own
    module = families.get(name)
    assert (isinstance(getattr(module, 'Family', None), type)
            and issubclass(module.Family, base.Family)) or callable(module.population)
  c = ml_collections.ConfigDict({'family': 'resnet'})
  with pytest.raises(configlib.ConfigError, match=r"^config.family='resnet' is not valid: "
                     r'expected block_regression, '):
    families.name_of(c)


@pytest.mark.parametrize('spec', ['sweep.py:smoke', 'msp.py:smoke'])
def test_an_mlp_member_trains_as_run_sweep_trains_it(spec):
  """The MLP families' ``Family`` (one member) through FamilyPopulation against mlp_sweep.Sweep's
  padded layout, 40 steps: the same parameters and task losses to float32 rounding (the loss is
  summed by task here); the loss split equals a numpy forward pass's per-task error sums."""
  config = configlib.load_config_file(os.path.join(REPO, 'configs', spec))
  config.train.num_steps, config.train.steps_per_chunk = 40, 20
  config.population.layout, config.measure.every = 'padded', 0
  family = families.get(config.family).Family(config)
  generic = loop.run(family_population.FamilyPopulation(family), None, progress=False)
  sweep = loop.run(families.population(config), None, progress=False)
  for a, b in zip(jax.tree.leaves(generic.state.params), jax.tree.leaves(sweep.state.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(generic.summary['final']['task_loss'],
                             sweep.summary['final']['task_loss'], rtol=1e-4, atol=1e-6)
  m = len(family.members()) - 1  # the widest member
  member = jax.tree.map(lambda a: a[m], family.member_values(family.members()))
  params = jax.tree.map(lambda a: np.asarray(a[m], np.float64), generic.state.params)
  batch = family.batch_at(jax.random.key(5), 3, member)
  hidden, out = params['hidden'][0], params['out']
  h = np.asarray(batch.x, np.float64) @ hidden['w'].T + hidden['b']
  h = np.maximum(h, 0) if config.model.activation == 'relu' else h
  pred = h @ out['w'].T + out['b']
  if config.family == 'sparse_parity':
    logp = pred - np.log(np.exp(pred).sum(-1, keepdims=True))
    loss_B = -logp[np.arange(len(pred)), np.asarray(batch.y)]
  else:
    loss_B = ((pred - np.asarray(batch.y)) ** 2).sum(-1)
  want = np.bincount(np.asarray(batch.task_id), loss_B, config.tasks.num_tasks) / len(loss_B)
  split = family.split_loss(jax.tree.map(lambda a: a[m], generic.state.params), batch, member)
  np.testing.assert_allclose(split, want, rtol=1e-4, atol=1e-7)


def test_a_ladder_member_trains_as_the_ladder_trains_it():
  """The ladder's ``Family`` (every rung in one program, padded to the largest) through
  FamilyPopulation against ladder.Ladder (a program per rung), the smoke ladder's 40 steps:
  the same parameters to float32 rounding; the split's two parts sum to the LM loss of
  ``lm_training.loss_fn``."""
  config = configlib.load_config_file(os.path.join(REPO, 'configs', 'olmo_tiny.py:smoke'))
  family = families.get(config.family).Family(config)  # the smoke's programs: Ladder's cached
  generic = loop.run(family_population.FamilyPopulation(family), None, progress=False)
  ladder = loop.run(families.population(config), None, progress=False)
  members = family.members()
  for m, row in enumerate(members):
    mine = jax.tree.map(lambda a: np.asarray(a[m]), generic.state.params)
    rung = ladder.state[row['rung']]
    index = [r['member'] for r in members if r['rung'] == row['rung']].index(m)
    theirs = jax.tree.map(lambda a: np.asarray(a[index]), rung.params)
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(theirs)):
      slices = tuple(slice(0, n) for n in b.shape)  # the rung's own shape inside the padding
      np.testing.assert_allclose(a[slices], b, rtol=1e-4, atol=1e-6)
  member = jax.tree.map(lambda a: a[0], family.member_values(members))
  params = jax.tree.map(lambda a: a[0], generic.state.params)
  tokens, carriers = family.batch_at(jax.random.key(3), 0, member)
  assert int(carriers.sum()) > 0
  whole = lm_training.loss_fn(params, tokens, jnp.ones(tokens[:, 1:].shape), member.lm.shape,
                              family.hp.dims)
  np.testing.assert_allclose(float(family.split_loss(params, (tokens, carriers), member).sum()),
                             float(whole), rtol=1e-6)
