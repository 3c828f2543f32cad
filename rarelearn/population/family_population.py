"""A family written for ONE member (``families.base.Family``) with the member axis added once:
the population ``loop.run`` drives for it, and the interventions on its updates.

``FamilyPopulation(family)``: the family's members × the config's interventions
(``intervention.kinds`` × ``intervention.strengths``; none without an ``intervention`` block)
stacked on one axis, ``jax.vmap`` over their traced values, one jitted program for every
member (a chunk runs in pieces of any length; ``mlp_training.run_steps``), each step's batch from
``fold_in(data key, step)``, the optimizer ``optim.update`` (per-member lr, divergence
freezing). Keys from ``config.seed``: initialization ``fold_in(root, 0)`` folded with each
member's ``seed`` (so members of one seed start nested), data 1, evaluation 2, the
interventions' random directions 3 (folded with the member's index).

With interventions (``rarelearn/population/interventions.py``) each step takes the gradient of the
loss split by task (the whole loss's and the target task's), keeps the target's direction (an
average of its gradients) in the state, and changes the gradient as the member's intervention
says before the update; a member with kind ``none`` or strength 0 trains exactly as without.

Rows: per evaluated step and member, its description, ``loss`` (the chunk's mean training loss;
not at step 0), with interventions ``interference`` (the chunk's mean first-order effect of the
other tasks' update on the target along its direction, before and after the intervention; see
``interventions``), and the family's ``evaluate`` metrics (per-task lists). Summary: ``family``,
``members``, ``tasks``, ``final`` (the metrics [M][K] and ``learned``), ``diverged``,
``learned_threshold``, ``steps`` and the family's ``summarize``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.core import configlib, optim
from rarelearn.population import interventions, mlp_training, vmapped

def settings(config) -> list[tuple[str, float]]:
  """(kind, strength) of each member group: ``intervention.kinds`` × ``strengths``, or
  [('none', 0.0)] without interventions."""
  iv = config.get('intervention')
  if iv is None:
    return [('none', 0.0)]
  return [(k, float(s)) for k in iv.kinds for s in iv.strengths]


def intervening(config) -> bool:
  """Whether any member of the config intervenes on its updates."""
  return any(kind != 'none' and s > 0 for kind, s in settings(config))


def validate(config, num_tasks: int, optimizer: optim.Hyper) -> None:
  """What the ``intervention`` block asks of the family (ConfigError; its fields are checked
  with every config's, ``interventions.SCHEMA``): a target among the family's tasks, an
  optimizer whose update is linear in the gradient."""
  if config.get('intervention') is None:
    return
  target = config.intervention.target
  if not -num_tasks <= target < num_tasks:
    configlib.fail('intervention.target', target, f'a task index in [-{num_tasks}, '
                   f'{num_tasks - 1}]')
  if intervening(config) and optimizer.name not in interventions.OPTIMIZERS:
    configlib.fail('optimizer.name', optimizer.name, f'one of {", ".join(interventions.OPTIMIZERS)}'
                   ' with interventions (their update is linear in the gradient)')


class State(NamedTuple):
  """Every member's parameters, optimizer state and ``diverged_at`` (leading axis M)."""
  params: Any
  opt_state: Any
  diverged_at: jax.Array  # int32 [M]: the step that would have made it non-finite, −1 healthy


class InterventionState(NamedTuple):
  """``State`` and the target's direction d and each member's random direction q."""
  params: Any
  opt_state: Any
  diverged_at: jax.Array
  direction: Any
  random: Any


class FamilyPopulation(vmapped.Population):
  """A ``base.Family``'s members × interventions as one population (module docstring)."""
  evaluates_at_start = True

  def __init__(self, family):
    config = family.config
    own = family.members()
    groups = settings(config)
    optimizer = family.optimizer()
    self.num_tasks = len(family.tasks()) or 1
    validate(config, self.num_tasks, optimizer)
    # members are the family's × the intervention groups, trained by the program with
    # interventions, unless the only group is 'none'
    self.intervening = len(groups) > 1 or groups[0][0] != 'none'
    groups = groups if self.intervening else groups[:1]
    expanded = [(row, g) for row in own for g in groups]
    rows = [dict(member=m, **{k: v for k, v in row.items() if k != 'member'},
                 **({'intervention': kind, 'strength': s} if self.intervening else {}))
            for m, (row, (kind, s)) in enumerate(expanded)]
    super().__init__(config, rows)
    self.family = family
    self.values = (family.member_values([row for row, _ in expanded]), interventions.Member(
        jnp.asarray([interventions.KINDS.index(k) for _, (k, _) in expanded], jnp.int32),
        jnp.asarray([s for _, (_, s) in expanded], jnp.float32)))
    self.description = f'{len(rows)} members × {self.num_tasks} tasks ({config.family})'
    self.figure_files = family.figure_files
    root = jax.random.key(int(config.seed))
    self.keys = {name: jax.random.fold_in(root, i)
                 for i, name in enumerate(('init', 'data', 'eval', 'random'))}
    self.seeds = jnp.asarray([r['seed'] for r in rows], jnp.int32)
    iv = config.get('intervention')
    self._programs = _programs(family, optimizer, int(config.train.steps_per_chunk),
                               self.intervening, iv and int(iv.target) % self.num_tasks,
                               iv and float(iv.decay))

  def init(self):
    return self._programs.init(self.keys['init'], self.keys['random'], self.seeds, self.values)

  def begin(self, state, step: int):
    m, s = len(self.members), self.steps_per_chunk
    losses = jnp.zeros((m, s), jnp.float32)
    return (losses, jnp.zeros((m, s, 2), jnp.float32)) if self.intervening else losses

  def piece(self, state, done, step: int, offset: int, count: int):
    return self._programs.piece(state, done, self.keys['data'], jnp.int32(step),
                                jnp.int32(offset), jnp.int32(count), self.values)

  def finish(self, state, done, step: int):
    out = self._programs.evaluate(state.params, self.values[0], self.keys['eval'])
    if self.intervening:
      losses, effect = done
      return {'loss': jnp.mean(losses, axis=1), 'interference': jnp.mean(effect, axis=1), **out}
    return {'loss': jnp.mean(done, axis=1), **out}

  def evaluate(self, state):
    return self._programs.evaluate(state.params, self.values[0], self.keys['eval'])

  def rows(self, step: int, out) -> list[dict]:
    rows = []
    for m, member in enumerate(self.members):
      row = {'step': step, **member}
      for key, value in out.items():
        value = np.asarray(value[m])
        row[key] = (float(value) if value.ndim == 0
                    else [float(f'{float(v):.7g}') for v in value])
      rows.append(row)
    return rows

  def summary(self, out, diverged_M, history, wall_time_s: float) -> dict:
    final = {k: np.round(np.asarray(v, np.float64), 7).tolist() for k, v in out.items()
             if k not in ('loss', 'interference')}
    final['learned'] = np.asarray(self.family.learned(final)).tolist()
    diverged_M = np.asarray(diverged_M)
    summary = {'family': self.config.family, 'members': self.members,
               'tasks': self.family.tasks(), 'final': final,
               'diverged': [{'member': int(m), 'step': int(diverged_M[m])}
                            for m in np.flatnonzero(diverged_M >= 0)],
               'learned_threshold': float(self.config.train.learned_threshold),
               'steps': self.num_steps}
    return dict(summary, **self.family.summarize(summary))

  def result(self, summary: dict) -> str:
    return self.family.result(summary)

  def table(self, results: list[dict], members: list[int], tasks: list[int]) -> str:
    return self.family.table(results, members, tasks)


class _Programs(NamedTuple):
  init: Callable  # (init_key, random_key, seeds [M], values) → State or InterventionState
  piece: Callable  # (state, done, data_key, start, offset, count, values) → (state, done)
  evaluate: Callable  # (params, family values, eval_key) → the family's metrics, [M, …] each


def _programs(family, opt: optim.Hyper, steps_per_chunk: int, intervening: bool,
              target: int | None, decay: float | None) -> _Programs:
  """The jitted programs of a family's members: its single-member functions vmapped over the
  members' state and traced values (keys, steps and offsets shared)."""

  def init_one(key, random_key, seed, m, values):
    member, _ = values
    params = family.init(jax.random.fold_in(key, seed), member)
    if not intervening:
      return State(params, optim.init(params, opt), jnp.int32(-1))
    return InterventionState(
        params, optim.init(params, opt), jnp.int32(-1), jax.tree.map(jnp.zeros_like, params),
        interventions.random_direction(jax.random.fold_in(random_key, m), params))

  def step_one(state, values, data_key, step):
    member, iv = values
    batch = family.batch_at(data_key, step, member)
    split = lambda p: family.split_loss(p, batch, member)
    if not intervening:
      loss, grads = jax.value_and_grad(lambda p: jnp.sum(split(p)))(state.params)
      return State(*optim.update(state.params, state.opt_state, state.diverged_at, grads,
                                 loss, step, family.lr(member), opt)), loss
    loss, grads = jax.value_and_grad(lambda p: jnp.sum(split(p)))(state.params)
    target_grads = jax.grad(lambda p: split(p)[target])(state.params)
    direction = interventions.updated_direction(state.direction, target_grads, decay)
    lr = family.lr(member)
    scale = interventions.preconditioner(state.params, state.opt_state, grads, step, lr, opt)
    change, effect = interventions.delta(grads, target_grads, direction, scale, iv,
                                         state.random)
    grads = jax.tree.map(jnp.add, grads, change)
    params, opt_state, diverged = optim.update(state.params, state.opt_state,
                                               state.diverged_at, grads, loss, step, lr, opt)
    return InterventionState(params, opt_state, diverged, direction, state.random), (loss,
                                                                                      effect)

  def piece_one(state, done, values, data_key, start, offset, count):
    return mlp_training.run_steps(lambda s, j: step_one(s, values, data_key, start + j), state,
                                  steps_per_chunk, (done, offset, count))

  def piece(state, done, data_key, start, offset, count, values):
    return jax.vmap(piece_one, in_axes=(0, 0, 0, None, None, None, None))(
        state, done, values, data_key, start, offset, count)

  def init(key, random_key, seeds, values):
    m = jnp.arange(seeds.shape[0])
    return jax.vmap(init_one, in_axes=(None, None, 0, 0, 0))(key, random_key, seeds, m, values)
  return _Programs(init=jax.jit(init), piece=jax.jit(piece, donate_argnums=(0, 1)),
                   evaluate=jax.jit(jax.vmap(family.evaluate, in_axes=(0, 0, None))))
