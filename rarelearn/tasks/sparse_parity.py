"""Multitask sparse parity (Michaud et al. 2023, "The Quantization Model of Neural Scaling").

An input is K control bits (a one-hot naming the subtask t) followed by n data bits drawn
uniformly from {0, 1}; the label is the parity of the data bits in subtask t's subset S_t of
size k_t. Subtask t is drawn with frequency π_t (Zipf in the paper). A subtask's complexity is
its order k_t: a k-sparse parity of n bits needs on the order of n^k examples to be found by
SGD, so a high-k task behaves like a rare one.

Subsets are drawn without duplicates (two subtasks with the same subset would be one feature
learned twice). Like ``block_regression``: pure, jit-able, static shapes; a spec is a pytree.

Shape letters (the package legend, rarelearn/__init__.py): B batch, K subtasks, n data bits,
J the largest order (subsets padded to it).
"""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


class Batch(NamedTuple):
  x: jax.Array  # [B, K + n] float32 in {0, 1}
  y: jax.Array  # [B] int32 label in {0, 1}
  task_id: jax.Array  # [B] int32


@flax.struct.dataclass
class ParitySpec:
  log_freqs_K: jax.Array  # log π_t
  subsets_KxJ: jax.Array  # int32 data-bit indices of S_t, padded with 0 …
  used_KxJ: jax.Array  # … where this is False (column j < k_t)
  num_data_bits: int = flax.struct.field(pytree_node=False)

  @property
  def num_tasks(self) -> int:
    return self.log_freqs_K.shape[0]

  @property
  def input_dim(self) -> int:
    return self.num_tasks + self.num_data_bits


def distinct_subsets(seed: int, orders: Sequence[int], num_data_bits: int) -> list[tuple[int, ...]]:
  """One sorted subset of size k_t per subtask, all different (numpy, host-side)."""
  rng = np.random.default_rng(seed)
  for k in set(orders):
    need, have = sum(o == k for o in orders), math.comb(num_data_bits, k)
    if not 1 <= k <= num_data_bits or need > have:
      raise ValueError(f'sparse_parity: {need} distinct subsets of size {k} from '
                       f'{num_data_bits} bits do not exist ({have} do)')
  chosen, seen = [], set()
  for k in orders:
    if math.comb(num_data_bits, k) <= 4 * sum(o == k for o in orders):  # nearly all needed
      pool = [s for s in itertools.combinations(range(num_data_bits), k) if s not in seen]
      subset = pool[rng.integers(len(pool))]
    else:
      subset = tuple(sorted(rng.choice(num_data_bits, k, replace=False).tolist()))
      while subset in seen:
        subset = tuple(sorted(rng.choice(num_data_bits, k, replace=False).tolist()))
    seen.add(subset)
    chosen.append(subset)
  return chosen


def make_spec(frequencies: Sequence[float], orders: Sequence[int], num_data_bits: int,
              seed: int = 0) -> ParitySpec:
  """π_t and k_t per subtask; subsets drawn (distinct) from ``seed``."""
  if len(frequencies) != len(orders):
    raise ValueError(f'sparse_parity: {len(frequencies)} frequencies but {len(orders)} orders')
  subsets = distinct_subsets(seed, orders, num_data_bits)
  width = max(orders)
  padded = np.zeros((len(orders), width), np.int32)
  used = np.zeros((len(orders), width), bool)
  for t, s in enumerate(subsets):
    padded[t, :len(s)], used[t, :len(s)] = s, True
  freqs = np.asarray(frequencies, np.float64) / np.sum(frequencies)
  return ParitySpec(log_freqs_K=jnp.log(jnp.asarray(freqs, jnp.float32)),
                    subsets_KxJ=jnp.asarray(padded), used_KxJ=jnp.asarray(used),
                    num_data_bits=num_data_bits)


def subsets(spec: ParitySpec) -> list[tuple[int, ...]]:
  """The subsets S_t as Python tuples."""
  padded, used = np.asarray(spec.subsets_KxJ), np.asarray(spec.used_KxJ)
  return [tuple(int(i) for i in row[mask]) for row, mask in zip(padded, used)]


def examples_of_tasks(key: jax.Array, spec: ParitySpec, task_B: jax.Array) -> Batch:
  """Inputs and parity labels for given subtask ids."""
  bits_Bxn = jax.random.bernoulli(key, 0.5, (task_B.shape[0], spec.num_data_bits))
  picked_BxJ = jnp.take_along_axis(bits_Bxn, spec.subsets_KxJ[task_B], axis=1)
  y_B = jnp.sum(picked_BxJ & spec.used_KxJ[task_B], axis=1) % 2
  control_BxK = jax.nn.one_hot(task_B, spec.num_tasks, dtype=jnp.float32)
  x = jnp.concatenate([control_BxK, bits_Bxn.astype(jnp.float32)], axis=1)
  return Batch(x, y_B.astype(jnp.int32), task_B.astype(jnp.int32))


batch_of_tasks = examples_of_tasks


def monte_carlo_task_losses(logits_BxC: jax.Array, batch: Batch, num_tasks: int) -> jax.Array:
  """[K] each subtask's mean cross-entropy in bits over its examples of ``batch``."""
  ce_B = -jnp.take_along_axis(jax.nn.log_softmax(logits_BxC), batch.y[:, None], axis=-1)[:, 0]
  total_K = jax.ops.segment_sum(ce_B / jnp.log(2.0), batch.task_id, num_segments=num_tasks)
  count_K = jax.ops.segment_sum(jnp.ones_like(ce_B), batch.task_id, num_segments=num_tasks)
  return total_K / count_K


def sample(key: jax.Array, spec: ParitySpec, batch_size: int) -> Batch:
  """``batch_size`` i.i.d. examples: subtask ~ Cat(π), data bits uniform."""
  k_task, k_bits = jax.random.split(key)
  task_B = jax.random.categorical(k_task, spec.log_freqs_K, shape=(batch_size,))
  return examples_of_tasks(k_bits, spec, task_B)


def eval_set(key: jax.Array, spec: ParitySpec, per_task: int) -> Batch:
  """``per_task`` fresh examples of every subtask, task-major."""
  return examples_of_tasks(key, spec,
                           jnp.repeat(jnp.arange(spec.num_tasks, dtype=jnp.int32), per_task))
