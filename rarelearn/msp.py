"""Multitask sparse parity over a population of widths: one-hidden-layer ReLU classifiers, packed.

The peer experiment of Michaud et al. (2023): members of widths w_1 … w_M (× seeds) learn the
subtasks of ``tasks.sparse_parity`` with a cross-entropy loss. The members are laid **side by
side** ("packed"): member m owns hidden units [o_m, o_m + w_m) of one hidden layer of
U = Σ w_m units, and its own block of the output layer. The training loss is the sum of the
members' mean cross-entropies; as no parameter feeds two members, each member's gradient is
exactly its standalone gradient and (Adam being element-wise) its trajectory is exactly a
standalone model's, while the compute is Σ w_m rather than M · max w (padded vmap).

Initialization is PyTorch's ``nn.Linear`` default (uniform in ±1/sqrt(fan-in), weights and
biases), drawn per unit so a member's parameters depend only on its width and seed.

Shape letters: B batch, D input (K + n), U packed units, M members, C = 2 classes, K subtasks.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from rarelearn import layout as layout_lib
from rarelearn.tasks import block_regression as br
from rarelearn.tasks import sparse_parity as sp

NUM_CLASSES = 2
Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Layout(layout_lib.Packing):
  """Which packed units belong to which member (width-major, then seeds)."""
  seeds: tuple[int, ...]

  @property
  def num_units(self) -> int:
    return int(sum(self.widths))


def make_layout(widths, num_seeds: int) -> Layout:
  grid = [(int(w), s) for w in widths for s in range(num_seeds)]
  return Layout(tuple(w for w, _ in grid), tuple(s for _, s in grid))


def _uniform_rows(key, num_rows, row_len, bound):
  """Row i from fold_in(key, i): U(−bound, bound)."""
  return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i), (row_len,),
                                               minval=-bound, maxval=bound))(jnp.arange(num_rows))


def init_member(key: jax.Array, width: int, input_dim: int) -> Params:
  """A standalone width-``width`` model: hidden {w [N, D], b [N]}, out {w [N, C], b [C]}."""
  ks = [jax.random.fold_in(key, i) for i in range(4)]
  hb, ob = 1.0 / math.sqrt(input_dim), 1.0 / math.sqrt(width)
  return {'hidden': {'w': _uniform_rows(ks[0], width, input_dim, hb),
                     'b': _uniform_rows(ks[1], width, 1, hb)[:, 0]},
          'out': {'w': _uniform_rows(ks[2], width, NUM_CLASSES, ob),
                  'b': jax.random.uniform(ks[3], (NUM_CLASSES,), minval=-ob, maxval=ob)}}


def init(key: jax.Array, layout: Layout, input_dim: int) -> Params:
  """All members packed: member m is ``init_member(fold_in(key, seed_m), w_m)``."""
  members = [init_member(jax.random.fold_in(key, s), w, input_dim)
             for w, s in zip(layout.widths, layout.seeds)]
  return {'hidden': {k: jnp.concatenate([m['hidden'][k] for m in members]) for k in ('w', 'b')},
          'out': {'w': jnp.concatenate([m['out']['w'] for m in members]),
                  'b': jnp.stack([m['out']['b'] for m in members])}}


def member_params(params: Params, layout: Layout, m: int) -> Params:
  """Member m's parameters as a standalone model."""
  lo, hi = layout.offsets[m], layout.offsets[m] + layout.widths[m]
  return {'hidden': {k: v[lo:hi] for k, v in params['hidden'].items()},
          'out': {'w': params['out']['w'][lo:hi], 'b': params['out']['b'][m]}}


def apply_member(params: Params, x_BxD: jax.Array) -> jax.Array:
  """A standalone model's logits [B, C]."""
  h = jax.nn.relu(x_BxD @ params['hidden']['w'].T + params['hidden']['b'])
  return h @ params['out']['w'] + params['out']['b']


def apply(params: Params, x_BxD: jax.Array, onehot_UxM: jax.Array) -> jax.Array:
  """Every member's logits [B, M, C] from one [B, D] × [D, U] product."""
  h_BxU = jax.nn.relu(x_BxD @ params['hidden']['w'].T + params['hidden']['b'])
  block_UxMC = (onehot_UxM[:, :, None] * params['out']['w'][:, None, :]).reshape(
      onehot_UxM.shape[0], -1)
  return (h_BxU @ block_UxMC).reshape(x_BxD.shape[0], -1, NUM_CLASSES) + params['out']['b']


def cross_entropy(logits_BxMxC: jax.Array, y_B: jax.Array) -> jax.Array:
  """[B, M] cross-entropy in nats."""
  return -jnp.take_along_axis(jax.nn.log_softmax(logits_BxMxC), y_B[:, None, None], axis=-1)[..., 0]


def make_functions(layout: Layout, spec: sp.ParitySpec, lr: float, batch_size: int):
  """(chunk, evaluate), both jitted.

  chunk(params, opt_state, data_key, start, num_steps) → (params, opt_state, mean loss [M]):
  Adam steps on batches ``sp.sample(fold_in(data_key, t))`` (shared by all members).
  evaluate(params, eval_batch) → per-member, per-subtask loss in bits [M, K].
  """
  onehot = jnp.asarray(np.eye(layout.size)[layout.unit_member], jnp.float32)
  opt = optax.adam(lr)

  def loss_fn(params, batch):
    per_member = jnp.mean(cross_entropy(apply(params, batch.x, onehot), batch.y), axis=0)
    return jnp.sum(per_member), per_member

  def step(carry, t, data_key):
    params, opt_state = carry
    batch = sp.sample(jax.random.fold_in(data_key, t), spec, batch_size)
    grads, per_member = jax.grad(loss_fn, has_aux=True)(params, batch)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), per_member

  def chunk(params, opt_state, data_key, start, num_steps):
    steps = start + jnp.arange(num_steps, dtype=jnp.int32)
    (params, opt_state), losses = jax.lax.scan(lambda c, t: step(c, t, data_key),
                                               (params, opt_state), steps)
    return params, opt_state, jnp.mean(losses, axis=0)

  def evaluate(params, batch):
    ce_ExM = cross_entropy(apply(params, batch.x, onehot), batch.y) / jnp.log(2.0)
    total = jax.ops.segment_sum(ce_ExM, batch.task_id, num_segments=spec.num_tasks)
    count = jax.ops.segment_sum(jnp.ones_like(batch.task_id, jnp.float32), batch.task_id,
                                num_segments=spec.num_tasks)
    return (total / count[:, None]).T

  return (jax.jit(chunk, static_argnums=4, donate_argnums=(0, 1)), jax.jit(evaluate),
          opt)


def build(config) -> tuple[sp.ParitySpec, Layout, np.ndarray, list[int]]:
  """(task spec, packed layout, π, orders) of a config (configs/msp.py)."""
  t = config.tasks
  freqs = br.zipf_frequencies(t.num_tasks, float(t.zipf), 0.0)
  orders = list(t.orders) * (t.num_tasks if len(t.orders) == 1 else 1)
  if len(orders) != t.num_tasks:
    raise ValueError(f'config.tasks.orders: one order or {t.num_tasks}, got {len(t.orders)}')
  spec = sp.make_spec(freqs, orders, t.num_data_bits, seed=config.seed)
  return spec, make_layout(config.population.widths, config.population.seeds), freqs, orders


def train(config, progress: bool = True) -> dict:
  """Trains the population of ``config`` (see configs/msp.py); returns numpy arrays:
  ``steps`` [P], ``task_loss_bits`` [P, M, K] (evaluated every ``train.steps_per_chunk`` steps,
  from step 0), ``train_loss`` [P−1, M], ``frequencies`` [K], ``orders`` [K], ``widths`` [M],
  ``seeds`` [M], ``subsets``, the final ``params`` and their ``layout``, ``wall_time_s``."""
  t0 = time.time()
  spec, layout, freqs, orders = build(config)
  root = jax.random.key(config.seed)
  params = init(jax.random.fold_in(root, 0), layout, spec.input_dim)
  chunk, evaluate, opt = make_functions(layout, spec, config.optimizer.lr, config.train.batch_size)
  opt_state = opt.init(params)
  data_key = jax.random.fold_in(root, 1)
  eval_batch = sp.eval_set(jax.random.fold_in(root, 2), spec, config.eval.examples_per_task)
  spc, num_steps = config.train.steps_per_chunk, config.train.num_steps
  steps, losses, train_loss = [0], [evaluate(params, eval_batch)], []
  bar = tqdm.tqdm(total=num_steps, unit='step', disable=not progress, file=sys.stderr,
                  desc=f'{layout.size} members, {layout.num_units} units')
  for start in range(0, num_steps, spc):
    params, opt_state, loss = chunk(params, opt_state, data_key, jnp.int32(start), spc)
    steps.append(start + spc)
    losses.append(evaluate(params, eval_batch))
    train_loss.append(loss)
    bar.update(spc)
    bar.set_postfix(loss=f'{float(jnp.mean(loss)):.3f}')
  bar.close()
  return {'steps': np.asarray(steps), 'task_loss_bits': np.asarray(jax.device_get(losses)),
          'train_loss': np.asarray(jax.device_get(train_loss)), 'frequencies': freqs,
          'orders': np.asarray(orders), 'widths': np.asarray(layout.widths),
          'seeds': np.asarray(layout.seeds), 'subsets': sp.subsets(spec),
          'params': jax.device_get(params), 'layout': layout, 'wall_time_s': time.time() - t0}
