"""Token tasks injected into a background token stream (the transformer track, paper Figs 5–9).

Task set: S = 100 task tokens drawn from the vocabulary (never the end-of-document token 0),
each with a hidden rank (a global order) and a hidden value in 0…99.

- T_CMP (``'cmp'``): the label of (a, b) is whichever of the two tokens is larger under the
  hidden order (a itself when a = b). The answer is one of the two prompt tokens.
- T_ADD (``'add'``): the label of (a, b) is the task token whose value is
  (value(a) + value(b)) mod 100.

All 100 × 100 ordered pairs of a task are split 50/50 into train and test pairs by a fixed key;
training only ever injects train pairs. An instance ``TOK1 TOK2 LABEL EOD`` overwrites the first
four tokens of a training sequence; the task's loss and accuracy are read at the position that
predicts LABEL (target index 1 of the shifted sequence).

Injection frequency f = instances per sequence (the share of a batch's sequences that carry
one; per token it is f / sequence length). ``count`` mode puts exactly round(f·B) instances in
every batch, ``bernoulli`` mode gives each sequence one with probability f, and a gap G > 1
concentrates G batches' worth — round(G·B·f) instances — into every G-th batch, spread evenly
over as few consecutive batches as hold them (``mixture.burst_count``: the one burst rule of
every task family; the paper's "N instances every N batches" ablation at equal global
frequency); ``bernoulli`` mode raises the probability to G·f, capped at 1, in every G-th
batch.

Background: a pure-function synthetic language (``markov``): a first-order Markov chain whose
tokens have 4–16 successors each, with Zipfian token popularity, so that a small model has
plenty to spend capacity on; or a user's memory-mapped token file (``TokenFile``).

Shape letters (rarelearn/__init__.py): B batch, S sequence length (+1 for the shifted targets), T
task tokens, V vocab.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.tasks import mixture

EOD = 0
NUM_TASK_TOKENS = 100
KINDS = ('cmp', 'add')
MODES = ('count', 'bernoulli')


class TokenTask(NamedTuple):
  tokens_T: jax.Array  # int32 task token ids
  rank_T: jax.Array  # int32 hidden order (cmp)
  value_T: jax.Array  # int32 hidden values (add)
  label_TxT: jax.Array  # int32 label token id of every ordered pair (by task-token index)
  train_pairs: jax.Array  # int32 [P, 2] task-token indices
  test_pairs: jax.Array  # int32 [P, 2]


def make_task(kind: str, vocab: int, key: jax.Array) -> TokenTask:
  """The task set, hidden order/values, labels and the train/test split, all from ``key``."""
  if kind not in KINDS:
    raise ValueError(f'unknown token task {kind!r}; expected one of {KINDS}')
  if vocab < NUM_TASK_TOKENS + 1:
    raise ValueError(f'vocabulary {vocab} too small for {NUM_TASK_TOKENS} task tokens + EOD')
  k_tok, k_rank, k_val, k_split = jax.random.split(key, 4)
  tokens = 1 + jax.random.choice(k_tok, vocab - 1, (NUM_TASK_TOKENS,), replace=False)
  rank = jax.random.permutation(k_rank, NUM_TASK_TOKENS)
  value = jax.random.permutation(k_val, NUM_TASK_TOKENS)
  tokens, rank, value = (np.asarray(a, np.int32) for a in (tokens, rank, value))
  i, j = np.meshgrid(np.arange(NUM_TASK_TOKENS), np.arange(NUM_TASK_TOKENS), indexing='ij')
  if kind == 'cmp':
    label_index = np.where(rank[i] >= rank[j], i, j)
  else:
    by_value = np.argsort(value)  # task-token index holding each value
    label_index = by_value[(value[i] + value[j]) % NUM_TASK_TOKENS]
  pairs = np.stack([i.ravel(), j.ravel()], axis=1).astype(np.int32)
  order = np.asarray(jax.random.permutation(k_split, len(pairs)))
  half = len(pairs) // 2
  return TokenTask(*(jnp.asarray(a) for a in (
      tokens, rank, value, tokens[label_index], pairs[np.sort(order[:half])],
      pairs[np.sort(order[half:])])))


def instances(task: TokenTask, pairs_Nx2: jax.Array) -> jax.Array:
  """[N, 4] token ids: TOK1 TOK2 LABEL EOD."""
  a, b = pairs_Nx2[:, 0], pairs_Nx2[:, 1]
  return jnp.stack([task.tokens_T[a], task.tokens_T[b], task.label_TxT[a, b],
                    jnp.full_like(a, EOD)], axis=1)


class Injection(NamedTuple):
  """How often a member sees the task (arrays: members may differ)."""
  frequency: jax.Array  # float32 f, instances per sequence in the long run
  gap: jax.Array  # int32 G ≥ 1: instances concentrated into every G-th batch
  offset: jax.Array  # int32 the first injection step (gap > 1)


def injection(frequency: float, gap: int = 1, offset: int = 0) -> Injection:
  return Injection(jnp.float32(frequency), jnp.int32(gap), jnp.int32(offset))


def carriers(key: jax.Array, step: jax.Array, inj: Injection, batch: int, mode: str
             ) -> jax.Array:
  """[B] bool: which sequences of the batch at ``step`` carry an instance."""
  if mode not in MODES:
    raise ValueError(f'unknown injection mode {mode!r}; expected one of {MODES}')
  phase = step - inj.offset
  if mode == 'bernoulli':
    on = (phase >= 0) & (phase % inj.gap == 0)
    prob = jnp.minimum(inj.frequency * inj.gap.astype(jnp.float32), 1.0)
    return on & jax.random.bernoulli(key, prob, (batch,))
  total = jnp.round(inj.frequency * inj.gap.astype(jnp.float32) * batch).astype(jnp.int32)
  here = mixture.burst_count(phase, inj.gap, jnp.maximum(1, -(-total // batch)), total)
  return jnp.arange(batch) < here


def inject(key: jax.Array, step: jax.Array, tokens_BxS: jax.Array, task: TokenTask,
           inj: Injection, mode: str) -> tuple[jax.Array, jax.Array]:
  """(tokens with instances on the first four positions of the carrier sequences, [B] carrier
  flags). Instances are uniform draws of train pairs."""
  k_carry, k_pair = jax.random.split(key)
  carry_B = carriers(k_carry, step, inj, tokens_BxS.shape[0], mode)
  pick = jax.random.randint(k_pair, (tokens_BxS.shape[0],), 0, task.train_pairs.shape[0])
  inst = instances(task, task.train_pairs[pick])  # [B, 4]
  head = jnp.where(carry_B[:, None], inst, tokens_BxS[:, :4])
  return tokens_BxS.at[:, :4].set(head), carry_B


# ---------------------------------------------------------------------------------------------
# Background: a sparse first-order Markov chain (pure functions of a key).

GUMBEL_MAX_VOCAB = 2048  # make_markov's successor draws: Gumbel-max up to here, inverse CDF above


class Markov(NamedTuple):
  successors_VxK: jax.Array  # int32 next-token candidates of every token
  log_probs_VxK: jax.Array  # float32 their log-probabilities (−inf for unused slots)
  start_log_probs_V: jax.Array  # float32 first-token distribution (Zipfian popularity)


def make_markov(key: jax.Array, vocab: int, min_successors: int = 4, max_successors: int = 16,
                zipf: float = 1.0) -> Markov:
  """Each token (not EOD) gets k ∈ [min, max] successors drawn by Zipfian popularity
  (π_v ∝ rank^-zipf over a random ranking) with Dirichlet(1) weights.

  The successors are drawn by Gumbel-max while its K·V² noise values are few (V ≤ 2,048), by
  inverse CDF above (an OLMo vocabulary of 50,304 would need 162 GB of noise): the same
  distribution, different draws."""
  k_rank, k_num, k_succ, k_w = jax.random.split(key, 4)
  popularity = np.zeros(vocab)
  popularity[1:] = np.asarray(jax.random.permutation(k_rank, vocab - 1) + 1.0) ** -zipf
  popularity /= popularity.sum()
  log_pop = jnp.log(jnp.asarray(popularity, jnp.float32))
  num = jax.random.randint(k_num, (vocab,), min_successors, max_successors + 1)
  if vocab <= GUMBEL_MAX_VOCAB:
    succ = jax.random.categorical(k_succ, log_pop, shape=(max_successors, vocab)).T  # [V, K]
  else:
    succ = jax.random.choice(k_succ, vocab, (vocab, max_successors), p=jnp.asarray(popularity))
  used = jnp.arange(max_successors)[None, :] < num[:, None]
  weights = jnp.where(used, jax.random.exponential(k_w, (vocab, max_successors)), 0.0)
  log_probs = jnp.log(weights / weights.sum(axis=1, keepdims=True))
  return Markov(succ.astype(jnp.int32), log_probs.astype(jnp.float32), log_pop)


def markov_sequences(key: jax.Array, chain: Markov, batch: int, length: int) -> jax.Array:
  """[B, length] token ids."""
  k0, k_rest = jax.random.split(key)
  first = jax.random.categorical(k0, chain.start_log_probs_V, shape=(batch,))

  def step(tok_B, k):
    slot = jax.random.categorical(k, chain.log_probs_VxK[tok_B])
    nxt = jnp.take_along_axis(chain.successors_VxK[tok_B], slot[:, None], axis=1)[:, 0]
    return nxt, nxt
  _, rest = jax.lax.scan(step, first, jax.random.split(k_rest, length - 1))
  return jnp.concatenate([first[:, None], rest.T], axis=1).astype(jnp.int32)


def markov_entropy(chain: Markov) -> float:
  """Entropy rate in nats/token under the chain's stationary distribution (power iteration)."""
  succ, p = np.asarray(chain.successors_VxK), np.exp(np.asarray(chain.log_probs_VxK, np.float64))
  dist = np.exp(np.asarray(chain.start_log_probs_V, np.float64))
  for _ in range(500):
    nxt = np.zeros(succ.shape[0])
    np.add.at(nxt, succ, dist[:, None] * p)
    dist = nxt
  h_v = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
  return float(np.dot(dist, h_v))


# ---------------------------------------------------------------------------------------------
# A user's token file: uint16 / uint32 ids, memory-mapped (the layout OLMo's and nanoGPT's
# tokenizer scripts write: a flat array of ids, no header).

TOKEN_DTYPES = ('uint16', 'uint32')


class TokenFileError(ValueError):
  """A token file that cannot be used; the message names the file and what is expected."""


class TokenFile:
  """Random windows of a memory-mapped token file, validated when opened."""

  def __init__(self, path: str, dtype: str, vocab: int, window: int):
    if dtype not in TOKEN_DTYPES:
      raise TokenFileError(f'token file dtype {dtype!r}: expected uint16 or uint32')
    if not os.path.isfile(path):
      raise TokenFileError(f'token file {path}: no such file')
    size, itemsize = os.path.getsize(path), np.dtype(dtype).itemsize
    if size % itemsize:
      raise TokenFileError(f'token file {path}: {size} bytes is not a whole number of {dtype} '
                           'ids (wrong dtype?)')
    if size // itemsize < window:
      raise TokenFileError(f'token file {path}: {size // itemsize} tokens, fewer than one '
                           f'sequence of {window}')
    self.tokens = np.memmap(path, dtype=dtype, mode='r')
    top = max(int(self.tokens[i:i + 1 << 24].max()) for i in range(0, len(self.tokens), 1 << 24))
    if top >= vocab:
      raise TokenFileError(f'token file {path}: holds id {top}, outside the vocabulary of '
                           f'{vocab} (wrong dtype or vocab size?)')
    self.window = window

  def __len__(self) -> int:
    return len(self.tokens)

  def batch(self, seed: int, step: int, batch: int, stream: int = 0) -> np.ndarray:
    """[B, window] int32: windows at offsets drawn from (stream, seed, step) — a resumed run
    reads the same windows; stream 1 holds the evaluation windows."""
    rng = np.random.default_rng([stream, seed, step])
    starts = rng.integers(0, len(self.tokens) - self.window + 1, size=batch)
    return np.stack([self.tokens[s:s + self.window] for s in starts]).astype(np.int32)
