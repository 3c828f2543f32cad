"""Single-member training: state, loss, one optimizer step, a chunk of steps, evaluation.

Nothing here has a member axis; ``vmapped.py`` adds it once with ``jax.vmap``. Every
per-member quantity (width, learning rate) is a traced argument, so one compiled program serves
all members. The optimizer is ``optim``'s (element-wise, exact under width masking).
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rarelearn.core import optim
from rarelearn.models import mlp
from rarelearn.tasks import block_regression as br, mixture, sparse_parity as sp


@dataclasses.dataclass(frozen=True)
class Hyper:
  """Static (Python-valued) settings shared by every member; part of the compiled program."""
  dim: int
  depth: int
  activation: str
  init_scale: float
  batch_size: int
  steps_per_chunk: int
  opt: optim.Hyper = optim.Hyper()  # the optimizer, its schedule and steps
  compute_dtype: str = 'float32'  # of the training forward/backward; params stay float32
  loss: str = 'squared'  # LOSSES: squared error (regression) or cross-entropy (a label)
  out_dim: int = 0  # outputs (0: dim, the regression target)
  init: str = 'normal'  # mlp.INITS


class MemberHparams(NamedTuple):
  """Traced per-member scalars (leading member axis in the population)."""
  width: jax.Array  # int32
  lr: jax.Array  # float32, peak learning rate


class TrainState(NamedTuple):
  params: mlp.Params
  opt_state: Any
  # The step whose update would have made the loss or a parameter non-finite, −1 while healthy.
  # From that step on the member is frozen at its last finite state (``train_step``).
  diverged_at: jax.Array  # int32


def init_state(key: jax.Array, width: jax.Array, hp: Hyper, max_width: int) -> TrainState:
  """A member of true width ``width`` padded to ``max_width`` hidden units (exact zeros)."""
  params = mlp.init_params(key, width, max_width, hp.dim, hp.depth, hp.init_scale,
                           hp.out_dim or None, hp.init)
  return TrainState(params, optim.init(params, hp.opt), jnp.int32(-1))


COMPUTE_DTYPES = ('float32', 'bfloat16')
LOSSES = ('squared', 'cross_entropy')


def in_compute_dtype(params, x, dtype: str):
  """Parameters and inputs cast for the forward pass (the gradient flows back to the float32
  parameters); unchanged for float32."""
  if dtype == 'float32':
    return params, x
  return jax.tree.map(lambda p: p.astype(dtype), params), x.astype(dtype)


def prediction_loss(pred_BxO: jax.Array, batch, loss: str) -> jax.Array:
  """The training loss of one member's predictions (float32): squared error summed over the
  outputs (``loss`` 'squared': block regression) or cross-entropy in nats ('cross_entropy':
  sparse parity's label), averaged over the batch."""
  if loss == 'cross_entropy':
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(pred_BxO), batch.y[:, None],
                                         axis=-1))
  return jnp.mean(jnp.sum((pred_BxO - batch.y) ** 2, axis=-1))


def loss_fn(params: mlp.Params, batch, mask_W: jax.Array, activation: str,
            compute_dtype: str = 'float32', loss: str = 'squared'):
  """``prediction_loss`` of the member's forward pass (in ``compute_dtype``)."""
  params, x = in_compute_dtype(params, batch.x, compute_dtype)
  pred = mlp.apply(params, x, mask_W.astype(x.dtype), activation).astype(jnp.float32)
  return prediction_loss(pred, batch, loss)


def apply_gradients(state: TrainState, grads: mlp.Params, step: jax.Array,
                    member: MemberHparams, hp: Hyper) -> tuple[TrainState, mlp.Params]:
  """One optimizer update; returns the new state and the lr-free direction it applied."""
  params, opt_state, direction = optim.apply(state.params, state.opt_state, grads, step,
                                             member.lr, hp.opt)
  return TrainState(params, opt_state, state.diverged_at), direction


def train_step(state: TrainState, batch: br.Batch, step: jax.Array, member: MemberHparams,
               hp: Hyper) -> tuple[TrainState, jax.Array]:
  """One update (``optim.update``: a member that stops being finite is frozen)."""
  mask_W = mlp.mask_of(state.params, member.width)
  loss, grads = jax.value_and_grad(loss_fn)(state.params, batch, mask_W, hp.activation,
                                            hp.compute_dtype, hp.loss)
  return TrainState(*optim.update(state.params, state.opt_state, state.diverged_at, grads, loss,
                                  step, member.lr, hp.opt)), loss


def _task(spec):
  """The task module of a spec: ``sparse_parity`` or ``block_regression``."""
  return sp if isinstance(spec, sp.ParitySpec) else br


def batch_at(data_key: jax.Array, step: jax.Array, spec, hp: Hyper,
             mix: mixture.Mixture | None = None):
  """The batch of step t, from fold_in(data_key, t): a resumed run sees the same data, and under
  a vmap whose data key, spec and mixture are shared, the batch is drawn once for all members.

  ``mix`` (a ``tasks.mixture`` schedule) chooses the task ids; None draws i.i.d. from the
  spec's π. ``mixture.iid(π)`` draws exactly the same batches as None.
  """
  key, task = jax.random.fold_in(data_key, step), _task(spec)
  if mix is None:
    return task.sample(key, spec, hp.batch_size)
  k_task, k_z = jax.random.split(key)
  return task.batch_of_tasks(k_z, spec, mixture.task_ids(k_task, step, mix, hp.batch_size))


def run_steps(body, carry, num_steps: int, into=None):
  """``body(carry, j) → (carry, y)`` for the steps j of a chunk: all ``num_steps`` of them in one
  ``lax.scan`` (→ (carry, the ys stacked)), or with ``into`` = (ys, offset, count) — ``ys`` the
  chunk's stacked outputs so far — only j = offset … offset + count − 1, each y written to
  ys[j] (→ (carry, ys)). ``offset`` and ``count`` are traced, so one compiled program runs a
  chunk in pieces of any length (``loop.py``); each step computes what the scan's step does."""
  if into is None:
    return jax.lax.scan(body, carry, jnp.arange(num_steps, dtype=jnp.int32))
  ys, offset, count = into

  def one(i, c):
    carry, ys = c
    carry, y = body(carry, offset + i)
    return carry, jax.tree.map(lambda a, v: a.at[offset + i].set(v), ys, y)
  return jax.lax.fori_loop(0, count, one, (carry, ys))


def train_steps(state: TrainState, data_key: jax.Array, start_step: jax.Array,
                member: MemberHparams, spec, hp: Hyper, num_steps: int | None = None,
                mix: mixture.Mixture | None = None, into=None) -> tuple[TrainState, jax.Array]:
  """The steps of a chunk of ``num_steps`` (default ``hp.steps_per_chunk``) from ``start_step``
  on batches from ``batch_at`` (``mix``: the task schedule): (state, each step's training loss
  [num_steps]); ``into``: only some of them (``run_steps``)."""
  def body(state, j):
    step = start_step + j
    return train_step(state, batch_at(data_key, step, spec, hp, mix), step, member, hp)
  return run_steps(body, state, num_steps or hp.steps_per_chunk, into)


def train_chunk(state: TrainState, data_key: jax.Array, start_step: jax.Array,
                member: MemberHparams, spec: br.BlockRegressionSpec, hp: Hyper,
                num_steps: int | None = None,
                mix: mixture.Mixture | None = None) -> tuple[TrainState, jax.Array]:
  """``num_steps`` (default ``hp.steps_per_chunk``) steps from ``start_step`` on batches from
  ``batch_at`` (``mix``: the task schedule); returns the mean training loss."""
  state, losses = train_steps(state, data_key, start_step, member, spec, hp, num_steps, mix)
  return state, jnp.mean(losses)


def task_losses(params: mlp.Params, member: MemberHparams, spec, eval_batch, hp: Hyper
                ) -> jax.Array:
  """Per-task loss L_k [K]: block regression exact for linear models, Monte Carlo on
  ``eval_batch`` otherwise; sparse parity the cross-entropy in bits on ``eval_batch``."""
  mask_W = mlp.mask_of(params, member.width)
  if hp.activation == 'linear' and _task(spec) is br:
    w, bias = mlp.affine_map(params, mask_W, hp.dim)
    return br.closed_form_task_losses(w, bias, spec)
  pred = mlp.apply(params, eval_batch.x, mask_W, hp.activation)
  return _task(spec).monte_carlo_task_losses(pred, eval_batch, spec.num_tasks)
