"""Single-member language-model training for the transformer track (no member axis).

A member is a transformer of some true shape (``models.transformer.Shape``) with its own peak
learning rate and its own injection of the token task (``tasks.tokens.Injection``: frequency,
gap). The background batch of a step is shared by all members (a controlled comparison: sizes
and frequencies differ, the text does not); each member's task instances overwrite the first
four tokens of its own carrier sequences.

Optimizer (``ladder.optimizer``): AdamW (β = 0.9, 0.95; weight decay on weight matrices
only), gradient clipping at global norm ``optimizer.clip`` (per member: padded coordinates add 0
to the norm, so clipping is exact under masking), linear warmup then cosine decay to 0.1 of the
peak. The update is ``optim``'s, as for every family: −η_member · direction, and a member
whose loss or parameters stop being finite is frozen at its last finite state.

Measurements: ``evaluate`` adds the feature scores of ``measure.features`` to the losses and
accuracies; with ``Hyper.probe_neurons`` > 0 the steps ``probe_phases`` (mod ``probe_period``)
take their gradient from ``measure.decomposition.probe`` (g_t + g_nt from one backward pass,
the same update to float rounding) and record its cosines — a ``lax.cond`` on the step, which
is shared by all members, so the other steps pay nothing.

Shape letters (rarelearn/__init__.py): B batch, S sequence length, V vocabulary.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rarelearn.core import optim
from rarelearn.measure import decomposition, features
from rarelearn.models import transformer as tf
from rarelearn.population import mlp_training as train_lib
from rarelearn.tasks import tokens as tk

PAIR_BLOCK = 1000  # task pairs per evaluation pass in the memory-saving mode (microbatch > 0)
# what a probe records (NaN elsewhere; measure/decomposition.py)
PROBES = ('cos_g', 'cos_gt', 'cos_gnt', 'instances', 'cos_gnt_random', 'cos_gnt_shuffled')


@dataclasses.dataclass(frozen=True)
class Hyper:
  dims: tf.Dims
  seq_len: int  # S: tokens the model reads per sequence (S + 1 are drawn for the targets)
  batch_size: int
  steps_per_chunk: int
  opt: optim.Hyper  # the optimizer, its schedule and the run's steps
  mode: str = 'count'  # tokens.MODES
  # gradient probes (measure/decomposition.py) at steps t with t % probe_period in probe_phases,
  # on the top probe_neurons first-layer MLP units (0: no probes)
  probe_neurons: int = 0
  probe_period: int = 1
  probe_phases: tuple[int, ...] = ()
  # memory (transformer.next_token_losses); micro-batches: sequences per pass (0: the batch)
  compute_dtype: str = 'float32'
  remat: str = 'none'  # none | full | dots
  loss_chunk: int = 0  # tokens per cross-entropy block (0: all at once)
  microbatch: int = 0
  # a member's batch split over the mesh's model axis (sharding.member_placement)
  batch_sharding: Any = None


class Member(NamedTuple):
  shape: tf.Shape
  lr: jax.Array  # float32 peak learning rate
  injection: tk.Injection


class Data(NamedTuple):
  """What every member's batches are made of (shared, unbatched)."""
  chain: tk.Markov
  task: tk.TokenTask


class State(NamedTuple):
  params: tf.Params
  opt_state: Any
  diverged_at: jax.Array  # int32, −1 while healthy


def init_state(key: jax.Array, member: Member, hp: Hyper) -> State:
  params = tf.init_params(key, member.shape, hp.dims)
  return State(params, optim.init(params, hp.opt), jnp.int32(-1))


token_losses = tf.next_token_losses  # [B, S] next-token cross-entropies (nats)


def loss_fn(params, tokens_BxS1, weights_BxS, shape, dims, hp: Hyper | None = None
            ) -> jax.Array:
  """Weighted mean next-token loss (weights 1 everywhere: the plain LM loss), computed with
  ``hp``'s memory settings (none without ``hp``)."""
  memory = {} if hp is None else dict(compute_dtype=hp.compute_dtype, remat=hp.remat,
                                      loss_chunk=hp.loss_chunk, split=lambda x: _split(x, hp))
  return jnp.sum(token_losses(params, tokens_BxS1, shape, dims, **memory) * weights_BxS
                 ) / jnp.maximum(jnp.sum(weights_BxS), 1.0)


def batch_at(data_key: jax.Array, step: jax.Array, data: Data, member: Member, hp: Hyper,
             background: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """(tokens [B, S + 1], carriers [B]) a member trains on at ``step``; ``background`` (e.g.
  windows of a token file) replaces the synthetic background (shared by all members)."""
  key = jax.random.fold_in(data_key, step)
  if background is None:
    background = tk.markov_sequences(key, data.chain, hp.batch_size, hp.seq_len + 1)
  tokens, carriers = tk.inject(jax.random.fold_in(key, 1), step, background, data.task,
                               member.injection, hp.mode)
  return _split(tokens, hp), carriers


def _split(tokens, hp: Hyper):
  """``tokens`` split over the devices of ``hp.batch_sharding`` (unchanged without one)."""
  return tokens if hp.batch_sharding is None else jax.lax.with_sharding_constraint(
      tokens, hp.batch_sharding)


def _gradient(params, tokens_BxS1, carriers_B, step, member: Member, hp: Hyper,
              task: tk.TokenTask | None):
  """(loss, gradient, probe values [len(PROBES)]) — at a probe step the gradient is g_t + g_nt
  of ``decomposition.probe`` (one backward pass), elsewhere the plain one and NaNs."""
  def plain(_):  # the mean over k equal micro-batches of their mean losses and gradients
    value_and_grad = jax.value_and_grad(lambda p, t: loss_fn(
        p, t, jnp.ones(t[:, 1:].shape, jnp.float32), member.shape, hp.dims, hp))
    k = hp.batch_size // (hp.microbatch or hp.batch_size)
    if k == 1:
      loss, grads = value_and_grad(params, tokens_BxS1)
    else:
      total = (jnp.float32(0), jax.tree.map(jnp.zeros_like, params))
      # micro-batch j: sequences j, j + k, … (split over the devices as the batch is)
      micro = jnp.swapaxes(tokens_BxS1.reshape(-1, k, tokens_BxS1.shape[-1]), 0, 1)
      (loss, grads), _ = jax.lax.scan(lambda total, t: (jax.tree.map(
          jnp.add, total, value_and_grad(params, _split(t, hp))), None), total, micro)
      loss, grads = jax.tree.map(lambda a: a / k, (loss, grads))
    return loss, grads, jnp.full((len(PROBES),), jnp.nan, jnp.float32)

  if not hp.probe_neurons:
    return plain(None)

  def probed(_):
    p = decomposition.probe(params, tokens_BxS1, carriers_B, task, member.shape, hp.dims,
                            hp.probe_neurons, step)
    return p['loss'], p['grads'], jnp.stack([p[k] for k in PROBES]).astype(jnp.float32)
  now = jnp.any(step % hp.probe_period == jnp.asarray(hp.probe_phases, jnp.int32))
  return jax.lax.cond(now, probed, plain, None)


def train_step(state: State, tokens_BxS1: jax.Array, step: jax.Array, member: Member,
               hp: Hyper, carriers_B: jax.Array | None = None,
               task: tk.TokenTask | None = None) -> tuple[State, jax.Array, jax.Array]:
  """One AdamW step; returns (state, loss, probe values) — ``carriers_B`` and ``task`` are
  needed only when ``hp.probe_neurons`` > 0."""
  loss, grads, probes = _gradient(state.params, tokens_BxS1, carriers_B, step, member, hp, task)
  params, opt_state, diverged = optim.update(state.params, state.opt_state, state.diverged_at,
                                             grads, loss, step, member.lr, hp.opt)
  return State(params, opt_state, diverged), loss, probes


def train_steps(state: State, data_key: jax.Array, start: jax.Array, member: Member,
                data: Data, hp: Hyper, background: jax.Array | None = None, into=None
                ) -> tuple[State, tuple[jax.Array, jax.Array]]:
  """The ``hp.steps_per_chunk`` steps of a chunk from ``start`` (``background``: [steps, B,
  S + 1] given background batches, e.g. from a token file): (state, (each step's training loss
  [steps], its probe values [steps, len(PROBES)], NaN where none was taken)); ``into``: only
  some of the steps (``mlp_training.run_steps``)."""
  def body(state, j):
    step, bg = start + j, None if background is None else background[j]
    tokens, carriers = batch_at(data_key, step, data, member, hp, bg)
    state, loss, probes = train_step(state, tokens, step, member, hp, carriers, data.task)
    return state, (loss, probes)
  return train_lib.run_steps(body, state, hp.steps_per_chunk, into)


def train_chunk(state: State, data_key: jax.Array, start: jax.Array, member: Member,
                data: Data, hp: Hyper, background: jax.Array | None = None
                ) -> tuple[State, jax.Array, jax.Array]:
  """``train_steps``' chunk: the state, the mean training loss and the probe values of every
  step [steps, len(PROBES)]."""
  state, (losses, probes) = train_steps(state, data_key, start, member, data, hp, background)
  return state, jnp.mean(losses), probes


def evaluate(params, member: Member, data: Data, eval_background: jax.Array, hp: Hyper) -> dict:
  """Background LM loss on held-out sequences; the task's loss and accuracy at the LABEL
  position over every train pair and every test pair; the feature scores of
  ``measure.features`` (``order_score``, ``fourier_count``, ``fourier_share``,
  ``fourier_share_chance``). With ``hp.microbatch`` the sequences go ``hp.microbatch`` at a
  time (in ``hp.compute_dtype``) and the pairs ``PAIR_BLOCK`` at a time."""
  out = {'background_loss': jnp.mean(_in_blocks(lambda t: token_losses(
      params, t, member.shape, hp.dims, hp.compute_dtype, loss_chunk=hp.loss_chunk,
      split=lambda x: _split(x, hp)),
      eval_background, hp.microbatch))}
  out.update(features.feature_scores(params, data.task, member.shape, hp.dims))
  for split in ('train', 'test'):
    def losses_and_hits(pairs):
      logits, label = decomposition.label_logits(params, data.task, pairs, member.shape,
                                                 hp.dims)
      return (optax.softmax_cross_entropy_with_integer_labels(logits, label),
              jnp.argmax(logits, axis=-1) == label)
    losses, hits = _in_blocks(losses_and_hits, getattr(data.task, f'{split}_pairs'),
                              hp.microbatch and PAIR_BLOCK)
    out[f'task_{split}_loss'], out[f'{split}_accuracy'] = jnp.mean(losses), jnp.mean(hits)
  return out


def _in_blocks(fn, xs: jax.Array, size: int):
  """``fn(xs)`` computed ``size`` rows at a time (the largest divisor of len(xs) not above it;
  0: all at once), the rows' results concatenated."""
  n = len(xs) // max(d for d in range(1, min(size or len(xs), len(xs)) + 1) if len(xs) % d == 0)
  if n == 1:
    return fn(xs)
  out = jax.lax.map(fn, xs.reshape(n, -1, *xs.shape[1:]))
  return jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), out)
