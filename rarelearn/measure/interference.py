"""First-order interference: how much each task's update moves the rare task's loss (BRIEF).

An optimizer step θ ← θ + u changes the rare task's loss L_r by ∇L_r·u to first order. The update
of the optimizers here is linear in this step's gradient g = Σ_k g_k once the optimizer state is
fixed, so u splits exactly into one part per task plus what the state carries:

  SGD          u = −η Σ_k g_k
  Adam/AdamW   u = −η [ (1−β₁) P ⊙ Σ_k g_k  +  β₁ P ⊙ m_prev  (+ wd·θ) ],
               P = 1 / ((1 − β₁ᵗ)(sqrt(v̂_t) + ε)), the current diagonal preconditioner
               (v̂_t already includes this step's g², as the optimizer applies it)

with η the member's learning rate times the schedule. Task k's interference is
I_k = ∇L_r·u_k (positive: task k's update overwrites the rare task); the remainder (momentum,
weight decay) is reported separately, and Σ_k I_k + I_rest = ∇L_r·u exactly. Lion's sign makes
its update non-linear in g; its per-task split is reported as NaN.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from rarelearn.models import mlp


def _adam_state(opt_state: Any) -> optax.ScaleByAdamState:
  """The ScaleByAdamState inside an adam (bare) or adamw (chain) optimizer state."""
  if isinstance(opt_state, optax.ScaleByAdamState):
    return opt_state
  return next(s for s in opt_state if isinstance(s, optax.ScaleByAdamState))


def split_update(old_opt_state: Any, new_opt_state: Any, params: mlp.Params,
                 hp) -> tuple[mlp.Params | None, mlp.Params]:
  """(task_scale, rest) with direction = task_scale ⊙ g + rest, the update being −η · direction
  (``hp``: the ``optim.Hyper``); ``task_scale`` is None without a linear split (lion)."""
  if hp.name == 'sgd':
    return jax.tree.map(jnp.ones_like, params), jax.tree.map(jnp.zeros_like, params)
  if hp.name in ('adam', 'adamw'):
    old, new = _adam_state(old_opt_state), _adam_state(new_opt_state)
    t = new.count.astype(jnp.float32)
    c1, c2 = 1.0 - hp.b1 ** t, 1.0 - hp.b2 ** t
    precond = jax.tree.map(lambda v: 1.0 / (c1 * (jnp.sqrt(v / c2) + hp.eps)), new.nu)
    scale = jax.tree.map(lambda p: (1.0 - hp.b1) * p, precond)
    rest = jax.tree.map(lambda p, m: hp.b1 * p * m, precond, old.mu)
    if hp.name == 'adamw':
      rest = jax.tree.map(lambda r, w: r + hp.weight_decay * w, rest, params)
    return scale, rest
  return None, jax.tree.map(jnp.zeros_like, params)


def tree_dot(a: mlp.Params, b: mlp.Params) -> jax.Array:
  return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
