"""Mixture schedules: which task each example of step t's batch belongs to (BRIEF, Fig. 4).

A schedule only chooses task ids; a task family (``block_regression.examples_of_tasks``, …)
turns them into examples, so every schedule composes with every family. Three schedules:

- **i.i.d.**: every example's task ~ Cat(π).
- **up-weighting**: i.i.d. with the rare task's frequency multiplied by a factor and the other
  tasks renormalized (``upweight``; a transformation of π, then i.i.d.).
- **matched-frequency injection**: the rare task r is absent except for a burst of
  ``burst_steps`` consecutive batches every ``gap`` steps; a burst carries n = round(G·B·π_r)
  rare examples in total (split as evenly as integers allow, the first n mod burst_steps batches
  taking one more), so r's long-run frequency stays π_r; all other examples are drawn from the
  other tasks with probabilities π_k / (1 − π_r), which keeps their long-run frequencies too.
  Bursts start at the steps t ≥ ``offset`` with (t − offset) mod G = 0.

``Mixture`` is a pytree of arrays: a population can carry one per member (vmap over a leading
axis) to sweep the rare frequency, the gap or the factor inside one jitted program.
``task_ids(key, step, mixture, batch_size)`` is pure, jit-able and has static shapes; the rare
examples sit at the start of the batch (positions carry no meaning in a mean loss).
"""
from __future__ import annotations

from typing import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Mixture:
  """A schedule's parameters (all arrays, so members may differ)."""
  log_freqs_K: jax.Array  # log-probabilities of the i.i.d. draw (−inf for an injected task)
  rare_task: jax.Array  # int32; −1 when nothing is injected
  gap: jax.Array  # int32 G ≥ 1
  burst_steps: jax.Array  # int32, 1 ≤ burst_steps ≤ G
  burst_total: jax.Array  # int32: rare examples per burst
  offset: jax.Array  # int32: the first burst's step


def with_frequency(freqs: Sequence[float], rare_task: int, frequency: float) -> np.ndarray:
  """π with π_r → ``frequency`` and the other tasks scaled to sum to 1 − ``frequency``."""
  freqs = np.asarray(freqs, np.float64) / np.sum(freqs)
  if not 0.0 < frequency <= 1.0:
    raise ValueError(f'with_frequency: frequency must be in (0, 1], got {frequency}')
  rest = np.delete(np.arange(len(freqs)), rare_task)
  out = np.empty_like(freqs)
  out[rest] = freqs[rest] * (1.0 - frequency) / (1.0 - freqs[rare_task])
  out[rare_task] = frequency
  return out


def upweight(freqs: Sequence[float], rare_task: int, factor: float) -> np.ndarray:
  """π with π_r → factor·π_r (at most 1) and the other tasks scaled to sum to 1 − factor·π_r."""
  freqs = np.asarray(freqs, np.float64) / np.sum(freqs)
  if factor <= 0:
    raise ValueError(f'upweight: factor must be > 0, got {factor}')
  return with_frequency(freqs, rare_task, min(factor * freqs[rare_task], 1.0))


def stack(mixtures: Sequence[Mixture]) -> Mixture:
  """One schedule per member on a new leading axis
  (``population.vmapped.make_chunk(mixture_axis=0)``)."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *mixtures)


def iid(freqs: Sequence[float]) -> Mixture:
  """Every example's task ~ Cat(π)."""
  return Mixture(log_freqs_K=jnp.log(jnp.asarray(np.asarray(freqs) / np.sum(freqs), jnp.float32)),
                 rare_task=jnp.int32(-1), gap=jnp.int32(1), burst_steps=jnp.int32(1),
                 burst_total=jnp.int32(0), offset=jnp.int32(0))


def burst_total(freq: float, gap: int, batch_size: int) -> int:
  """n = round(G·B·π_r): the rare examples one burst carries at matched frequency (the token
  tasks' injections use the same rule, ``tokens.carriers``)."""
  return int(np.round(gap * batch_size * freq))


def shortest_burst(freq: float, gap: int, batch_size: int) -> int:
  """The fewest batches that hold a burst's round(G·B·π_r) rare examples (at least 1)."""
  return max(1, -(-burst_total(freq, gap, batch_size) // batch_size))


def injection(freqs: Sequence[float], rare_task: int, gap: int, burst_steps: int,
              batch_size: int, offset: int = 0) -> Mixture:
  """Matched-frequency injection of ``rare_task`` (see the module docstring);
  ``burst_steps`` 0 takes ``shortest_burst``."""
  freqs = np.asarray(freqs, np.float64) / np.sum(freqs)
  burst_steps = burst_steps or shortest_burst(freqs[rare_task], gap, batch_size)
  if not 1 <= burst_steps <= gap:
    raise ValueError(f'injection: need 1 <= burst_steps <= gap, got {burst_steps}, {gap}')
  total = burst_total(freqs[rare_task], gap, batch_size)
  if total > burst_steps * batch_size:
    raise ValueError(f'injection: {total} rare examples do not fit in {burst_steps} batches of '
                     f'{batch_size}; use more burst_steps')
  log_freqs = np.log(freqs)
  log_freqs[rare_task] = -np.inf  # the background never draws the injected task
  return Mixture(log_freqs_K=jnp.asarray(log_freqs, jnp.float32), rare_task=jnp.int32(rare_task),
                 gap=jnp.int32(gap), burst_steps=jnp.int32(burst_steps),
                 burst_total=jnp.int32(total), offset=jnp.int32(offset))


def burst_count(since: jax.Array, gap: jax.Array, burst_steps: jax.Array,
                total: jax.Array) -> jax.Array:
  """The one burst rule of every task family: ``total`` examples every ``gap`` steps, spread
  as evenly as integers allow over ``burst_steps`` consecutive batches (the first
  total mod burst_steps taking one more), ``since`` steps after the first burst (none before)."""
  phase = jnp.mod(since, gap)
  extra = (phase < total % burst_steps).astype(jnp.int32)
  return jnp.where((since >= 0) & (phase < burst_steps), total // burst_steps + extra, 0)


def rare_count(step: jax.Array, mixture: Mixture) -> jax.Array:
  """How many examples of step ``step``'s batch belong to the injected task (0 without one)."""
  count = burst_count(step - mixture.offset, mixture.gap, mixture.burst_steps,
                      mixture.burst_total)
  return jnp.where(mixture.rare_task >= 0, count, 0)


def task_ids(key: jax.Array, step: jax.Array, mixture: Mixture, batch_size: int) -> jax.Array:
  """[B] int32 task ids of step ``step``'s batch under ``mixture``. Pure and jit-able."""
  background = jax.random.categorical(key, mixture.log_freqs_K, shape=(batch_size,))
  rare = jnp.arange(batch_size) < rare_count(step, mixture)
  return jnp.where(rare, mixture.rare_task, background).astype(jnp.int32)
