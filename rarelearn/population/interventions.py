"""Interventions on the update, written once for every family on the loss split by task
(``families.base.Family.split_loss``): protect a task's direction, a random-direction control,
disturb. One member, no member axis (``family_population`` adds it).

Per step the gradient is g = Σ_k g_k; the target task's part is g_r (the gradient of its entry
of the split) and the rest g_o = g − g_r. The target's *direction* d is an exponential moving
average of g_r over the steps (``decay``), so that it persists through the batches where a rare
task is absent — the batches in which the other tasks' updates overwrite it. (Orthogonal
gradient descent, Farajtabar et al. 2019, keeps the span of a task's past gradients; one
average per member is its cheapest form.)

With Adam the update, not the gradient, moves the target's loss: to first order the rest's
update changes L_r by −η (1 − β₁) ⟨∇L_r, P ⊙ g_o⟩, P the step's diagonal preconditioner
(``measure/interference.py``). So the projections here are in P's metric, P that of the
update plain training would make this step (``preconditioner``):
c = ⟨d, P ⊙ g_o⟩ / ⟨d, P ⊙ d⟩, and with strength s:

- ``protect``: g ← g − s · min(c, 0) · d. The part of the rest whose update would raise the
  target's loss along d is removed; a part that lowers it is kept (as PCGrad, Yu et al. 2020,
  which projects only on conflict — the aligned part is transfer, not interference, and
  removing it would make the step smaller for a reason other than interference). At s = 1 the
  rest's update has no first-order effect on the target along d that raises its loss.
- ``control``: the same norm, s · |min(c, 0)| · ‖d‖, removed along a fixed random unit direction
  q of the member instead (against the sign of ⟨q, P ⊙ g_o⟩): the same size of change in
  another direction, so that an effect of ``protect`` cannot be a smaller step.
- ``disturb``: g ← g − s · ‖g_o‖ · d / ‖d‖: the rest's gradient gets a component against the
  target's direction of s times its own norm, so that its update raises the target's loss (a
  cosine of about −s between the rest's gradient and d: the interference a small model's
  common tasks cause, set from a measured cos(g_nt, g_r), given to a model that learns the
  task).
- ``none``, or s = 0: g unchanged (``δ`` is exactly 0: plain training).

``record``: the first-order effect on the target along d̂ of the rest's update, before and after
(⟨d̂, P ⊙ g_o⟩ and ⟨d̂, P ⊙ (g_o + δ)⟩; negative: the update raises the target's loss).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rarelearn.core import optim, rules
from rarelearn.measure import interference

KINDS = ('none', 'protect', 'control', 'disturb')
OPTIMIZERS = ('sgd', 'adam', 'adamw')  # a preconditioner linear in the step's gradient


# config.intervention (optional; checked with every config's fields, ``families.validate``):
# what each member's updates undergo — every family's members × kinds × strengths
SCHEMA = {
    'intervention.kinds': rules.tuple_of(rules.one_of(KINDS), f'a non-empty tuple of '
                                         f'{", ".join(KINDS)}: one member group each'),
    'intervention.strengths': rules.tuple_of(rules.number(ge=0), 'a non-empty tuple of numbers '
                                             '>= 0: one member group each'),
    'intervention.target': (rules.is_int, 'an integer: the task whose direction is protected, '
                            'negative counting from the end'),
    'intervention.decay': rules.number(ge=0, lt=1)}


def default_config(target: int):
  """The ``intervention`` block of a config: no intervention (kinds ('none',)); an experiment
  or ``--config.intervention.kinds="('none','protect','control')"`` sets its groups."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  return ml_collections.ConfigDict({
      'kinds': ('none',),  # none | protect | control | disturb: one member group each
      'strengths': (1.0,),  # one member group each (0: plain training)
      'target': target,  # the task protected, controlled or disturbed (negative: from the end)
      'decay': 0.99})  # the target's direction: this average of its gradients over the steps



class Member(NamedTuple):
  """A member's traced intervention."""
  kind: jax.Array  # int32: index in KINDS
  strength: jax.Array  # float32


def _dot(a, b) -> jax.Array:
  return interference.tree_dot(a, b)


def _scaled(tree, scale):
  return jax.tree.map(lambda a, s: a * s, tree, scale)


def preconditioner(params, opt_state, grads, step, lr, oh: optim.Hyper):
  """P (up to a constant) of the update ``optim.apply`` makes with ``grads`` this step: the
  element-wise scale of the step's gradient in the direction (``interference.split_update``)."""
  _, new_state, _ = optim.apply(params, opt_state, grads, step, lr, oh)
  scale, _ = interference.split_update(opt_state, new_state, params, oh)
  return scale


def random_direction(key: jax.Array, like) -> Any:
  """A unit vector shaped like the parameters ``like``, zero where they are zero (drawn once,
  from the initial parameters: padding stays zero)."""
  leaves, tree = jax.tree.flatten(like)
  keys = jax.random.split(key, len(leaves))
  q = jax.tree.unflatten(tree, [jax.random.normal(k, a.shape) * (a != 0)
                                for k, a in zip(keys, leaves)])
  return jax.tree.map(lambda a: a / jnp.sqrt(jnp.maximum(_dot(q, q), 1e-30)), q)


def delta(grads, target_grads, direction, scale, member: Member, q) -> tuple[Any, jax.Array]:
  """(δ, the rest's first-order effect on the target along d̂ before and after [2]): the change
  the member's intervention makes to this step's gradient ``grads`` (module docstring);
  ``target_grads`` g_r, ``direction`` d, ``scale`` P, ``q`` the member's random unit
  direction."""
  rest = jax.tree.map(jnp.subtract, grads, target_grads)
  d_p_d = _dot(direction, _scaled(direction, scale))
  d_p_rest = _dot(direction, _scaled(rest, scale))
  c = jnp.where(d_p_d > 0, d_p_rest / jnp.where(d_p_d > 0, d_p_d, 1.0), 0.0)
  s = member.strength
  conflict = jnp.minimum(c, 0.0)
  norm_d = jnp.sqrt(_dot(direction, direction))
  unit_d = jax.tree.map(lambda a: a / jnp.where(norm_d > 0, norm_d, 1.0), direction)
  q_sign = jnp.sign(_dot(q, _scaled(rest, scale)))
  removed = s * jnp.abs(conflict) * norm_d
  norm_rest = jnp.sqrt(_dot(rest, rest))
  coef = {1: (-s * conflict, direction), 2: (-removed * q_sign, q), 3: (-s * norm_rest, unit_d)}
  change = jax.tree.map(jnp.zeros_like, grads)
  for kind, (a, v) in coef.items():
    on = (member.kind == kind).astype(jnp.float32)
    change = jax.tree.map(lambda ch, x, a=a, on=on: ch + on * a * x, change, v)
  before = _dot(unit_d, _scaled(rest, scale))
  after = _dot(unit_d, _scaled(jax.tree.map(jnp.add, rest, change), scale))
  return change, jnp.stack([before, after])


def updated_direction(direction, target_grads, decay: float):
  """d ← decay · d + (1 − decay) · g_r."""
  return jax.tree.map(lambda d, g: decay * d + (1.0 - decay) * g, direction, target_grads)
