"""The one optimizer of every family: schedule, element-wise direction, clipping, and one update
that freezes a member whose step would make it non-finite.

The learning rate is kept out of the optax transform: a member's update is
−η · direction with η = lr_member · ``lr_multiplier(step)``, so a per-member learning rate is a
traced value and one compiled program serves every member. The directions are element-wise
(SGD, Adam, AdamW, Lion), hence exact under width masking: a padded coordinate with a zero
gradient gets a zero direction. Clipping by global norm is exact too (padded coordinates add 0
to the norm) and, being per member, is computed inside the member's own update.

Divergence: a member whose loss or new parameters are not finite keeps its last finite state
from that step on and records the step in ``diverged_at`` (−1 while healthy); the other members
are unaffected (they share no parameter).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ('adam', 'adamw', 'sgd', 'lion')
SCHEDULES = ('constant', 'cosine')


@dataclasses.dataclass(frozen=True)
class Hyper:
  """Static optimizer settings (part of the compiled program)."""
  name: str = 'adam'
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  weight_decay: float = 0.0
  decay: str = 'all'  # 'matrices': weight decay on parameters of rank ≥ 2 only
  clip: float = 0.0  # global-norm clipping of the gradient (0: none)
  schedule: str = 'constant'
  warmup_steps: int = 0
  num_steps: int = 1
  final_lr_ratio: float = 0.0  # the cosine schedule ends at this fraction of the peak


def _decay_mask(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


def direction(oh: Hyper) -> optax.GradientTransformation:
  """The lr-free direction (element-wise, hence exact under masking), after optional clipping."""
  mask = _decay_mask if oh.decay == 'matrices' else None
  if oh.name == 'sgd':
    parts = [optax.identity()]
  elif oh.name in ('adam', 'adamw'):
    parts = [optax.scale_by_adam(b1=oh.b1, b2=oh.b2, eps=oh.eps)]
  elif oh.name == 'lion':
    parts = [optax.scale_by_lion(b1=oh.b1, b2=oh.b2)]
  else:
    raise ValueError(f'unknown optimizer {oh.name!r}; expected one of {OPTIMIZERS}')
  if oh.name in ('adamw', 'lion'):
    parts.append(optax.add_decayed_weights(oh.weight_decay, mask=mask))
  if oh.clip:
    parts.insert(0, optax.clip_by_global_norm(oh.clip))
  return parts[0] if len(parts) == 1 else optax.chain(*parts)


def lr_multiplier(step: jax.Array, oh: Hyper) -> jax.Array:
  """Linear warmup over ``warmup_steps``, then constant, or cosine decay from 1 to
  ``final_lr_ratio`` at ``num_steps``."""
  t = step.astype(jnp.float32) + 1.0
  warm = jnp.minimum(1.0, t / max(oh.warmup_steps, 1))
  if oh.schedule == 'constant':
    return warm
  frac = jnp.clip((t - oh.warmup_steps) / max(oh.num_steps - oh.warmup_steps, 1), 0.0, 1.0)
  cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
  return warm * (oh.final_lr_ratio + (1 - oh.final_lr_ratio) * cosine)


def init(params, oh: Hyper) -> Any:
  return direction(oh).init(params)


def apply(params, opt_state, grads, step: jax.Array, lr: jax.Array, oh: Hyper
          ) -> tuple[Any, Any, Any]:
  """(params − η · direction, the new optimizer state, the direction), η = lr · schedule."""
  step_dir, opt_state = direction(oh).update(grads, opt_state, params)
  eta = lr * lr_multiplier(step, oh)
  return jax.tree.map(lambda p, u: p - eta * u, params, step_dir), opt_state, step_dir


def update(params, opt_state, diverged_at: jax.Array, grads, loss: jax.Array, step: jax.Array,
           lr: jax.Array, oh: Hyper) -> tuple[Any, Any, jax.Array]:
  """One step of one member: (params, opt_state, diverged_at) after ``apply``, or the old
  ones (with ``diverged_at`` = ``step`` the first time) if the loss or the new parameters are
  not finite."""
  new, new_opt, _ = apply(params, opt_state, grads, step, lr, oh)
  healthy = diverged_at < 0
  finite = jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(new)])
  accept = healthy & jnp.isfinite(loss) & jnp.all(finite)
  params, opt_state = jax.tree.map(lambda n, o: jnp.where(accept, n, o), (new, new_opt),
                                   (params, opt_state))
  return params, opt_state, jnp.where(healthy & ~accept, step, diverged_at).astype(jnp.int32)
