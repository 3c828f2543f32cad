"""The transformer track's host program: a model ladder × injection frequencies (× seeds).

``train(config)`` builds the members (configs/olmo_tiny.py, configs/olmo_ladder.py), trains
them and returns the evaluation history; with a workdir (``python -m rarelearn.main``) it also
checkpoints, resumes and writes what ``rarelearn.inspect`` opens. Members of one rung share a shape, so each rung is one
vmapped, jitted program with no padding at all (the rungs are the width buckets of the
transformer track); every rung sees the same background batches, and a member's task instances
depend only on its frequency (and the step), never on its rung — sizes are compared on
identical data.

Learning rate per rung: ``optimizer.lr`` · (N / N_0)^(-1/3), N the rung's non-embedding
parameter count and N_0 the smallest rung's (the N^-1/3 rule of OLMo's ladder).

Shape letters (rarelearn/__init__.py): R rungs, F frequencies (settings), Z seeds, P evaluations
(one per chunk, plus step 0).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn import checkpoint, configlib, lm, loop, population, results, sharding
from rarelearn.models import transformer as tf
from rarelearn.tasks import mixture
from rarelearn.tasks import tokens as tk

EVAL_BACKGROUND = 256  # held-out background sequences for the LM loss


@dataclasses.dataclass(frozen=True)
class Rung:
  name: str
  d_model: int
  num_heads: int
  mlp: int
  depth: int

  @property
  def head_dim(self) -> int:
    return self.d_model // self.num_heads

  def counts(self, vocab: int) -> dict[str, int]:
    c = tf.parameter_counts(self.d_model, self.num_heads, self.head_dim, self.mlp, self.depth,
                            vocab)
    # OLMo names its weight-tied models by non-embedding + one V × d embedding
    return dict(c, ladder_size=c['non_embedding'] + vocab * self.d_model)

  def dims(self, vocab: int) -> tf.Dims:
    return tf.Dims(vocab, self.d_model, self.num_heads, self.head_dim, self.mlp, self.depth)


def rungs(config) -> list[Rung]:
  m = config.model
  fields = (m.names, m.d_model, m.num_heads, m.mlp, m.depth)
  if len({len(f) for f in fields}) != 1:
    raise ValueError('config.model.names, d_model, num_heads, mlp and depth must have one '
                     f'entry per rung (got lengths {[len(f) for f in fields]})')
  out = [Rung(*row) for row in zip(*fields)]
  for r in out:
    if r.d_model % r.num_heads or r.head_dim % 2:
      raise ValueError(f'config.model rung {r.name}: d_model {r.d_model} must be num_heads × '
                       'an even head_dim')
  return out


def peak_lrs(config, ladder: list[Rung]) -> list[float]:
  n = np.array([r.counts(config.model.vocab)['non_embedding'] for r in ladder], np.float64)
  return list(config.optimizer.lr * (n / n.min()) ** (-1.0 / 3.0))


def hyper(config, rung: Rung) -> lm.Hyper:
  """The rung's static hyperparameters; gradient probes from ``config.probe`` (``neurons`` K,
  ``period``, ``phases``) where the config has that block."""
  probe = config.get('probe') or {}
  neurons = int(probe.get('neurons', 0))
  if neurons and not 0 < neurons <= rung.mlp:
    raise ValueError(f'config.probe.neurons={neurons} must be in 1…{rung.mlp}, the MLP width of '
                     f'rung {rung.name}')
  return lm.Hyper(dims=rung.dims(config.model.vocab), seq_len=config.data.seq_len,
                  batch_size=config.train.batch_size, num_steps=config.train.num_steps,
                  steps_per_chunk=config.train.steps_per_chunk,
                  warmup_steps=config.optimizer.warmup_steps,
                  weight_decay=config.optimizer.weight_decay, clip=config.optimizer.clip,
                  mode=config.task.mode, probe_neurons=neurons,
                  probe_period=int(probe.get('period', 1)),
                  probe_phases=tuple(int(p) for p in probe.get('phases', ())))


def data_of(config) -> lm.Data:
  root = jax.random.key(config.seed)
  return lm.Data(chain=tk.make_markov(jax.random.fold_in(root, 5), config.model.vocab),
                 task=tk.make_task(config.task.kind, config.model.vocab,
                                   jax.random.fold_in(root, 6)))


def background_file(config) -> tk.TokenFile | None:
  """The user's token file (``data.background = 'file'``), validated; None for the synthetic
  background. Raises ``tokens.TokenFileError`` (one line) on a bad file."""
  if config.data.background == 'markov':
    return None
  if config.data.background != 'file':
    raise tk.TokenFileError(f'config.data.background={config.data.background!r} is not valid: '
                            "expected 'markov' or 'file'")
  try:
    return tk.TokenFile(config.data.token_file, config.data.token_dtype, config.model.vocab,
                        config.data.seq_len + 1)
  except tk.TokenFileError as e:
    raise tk.TokenFileError(f'config.data.token_file: {e}') from None


def train_tasks(spec: str, tasks, progress: bool = True, **kw) -> tuple[dict, Any]:
  """``train`` on the config file ``spec`` once per token task (``task.kind``): ({task: its
  output plus ``task`` (the ``TokenTask``) and ``vocab``}, the last task's config)."""
  outs = {}
  for kind in tasks:
    config = configlib.load_config_file(spec)
    config.task.kind = kind
    if progress:
      print(f'rarelearn: T_{kind.upper()} on {spec}', file=sys.stderr)
    outs[kind] = train(config, progress, **kw)
    outs[kind].update(task=data_of(config).task, vocab=config.model.vocab)
  return outs, config


def periodic_burst(config, frequency: float, gap: int) -> int:
  """Batches one injection fills when G batches' worth of instances (frequency f) come every G
  batches; raises ValueError unless 1 ≤ burst < G."""
  if gap < 2 or not 0 < frequency <= 1:
    raise ValueError(f'gap {gap} must be ≥ 2 and frequency {frequency} in (0, 1]')
  burst = mixture.shortest_burst(frequency, gap, config.train.batch_size)
  if not 0 < burst < gap:
    raise ValueError(f'frequency {frequency} × batch {config.train.batch_size} gives injections '
                     f'of {burst} batches; need 1…{gap - 1} for a gap of {gap}')
  return burst


def members_of(rung: Rung, lr: float, settings, seeds: int):
  """Members of one rung: settings (frequency, gap) × seeds, seeds innermost."""
  grid = [(f, g, s) for f, g in settings for s in range(seeds)]
  shape = tf.shape_of(rung.d_model, rung.num_heads, rung.mlp, rung.depth)
  stack = lambda a: jnp.stack([a] * len(grid))
  member = lm.Member(shape=jax.tree.map(stack, shape), lr=jnp.full((len(grid),), lr, jnp.float32),
                     injection=tk.Injection(jnp.asarray([f for f, _, _ in grid], jnp.float32),
                                            jnp.asarray([g for _, g, _ in grid], jnp.int32),
                                            jnp.zeros((len(grid),), jnp.int32)))
  return grid, member


@dataclasses.dataclass
class Setup:
  """What a ladder run derives from its config before training (and ``inspect`` again)."""
  ladder: list[Rung]
  settings: list[tuple[float, int]]  # (frequency, gap) of each member group
  seeds: int
  lrs: list[float]
  hps: list[lm.Hyper]
  grids: list[list]  # per rung: (frequency, gap, seed) of each member
  members: list[lm.Member]  # per rung, [F·Z]-stacked
  rows: list[dict]  # member_rows
  data: lm.Data
  eval_background: jax.Array
  token_file: Any
  init_key: jax.Array

  def init_states(self) -> list[lm.State]:
    return [population.init_lm(self.init_key, [s for _, _, s in grid], member, hp)
            for grid, member, hp in zip(self.grids, self.members, self.hps)]


def build(config, settings=None) -> Setup:
  """Rungs, members, data and the held-out background of ``config`` (errors before compiling)."""
  ladder, seeds = rungs(config), config.model.seeds
  settings = settings or [(float(f), int(config.task.gap)) for f in config.task.frequencies]
  lrs = peak_lrs(config, ladder)
  hps = [hyper(config, rung) for rung in ladder]
  data = data_of(config)
  root = jax.random.key(config.seed)
  token_file = background_file(config)
  if token_file is None:
    eval_background = tk.markov_sequences(jax.random.fold_in(root, 2), data.chain,
                                          EVAL_BACKGROUND, config.data.seq_len + 1)
  else:  # windows of the evaluation stream
    eval_background = jnp.asarray(token_file.batch(config.seed, 0, EVAL_BACKGROUND, stream=1))
  grids, members = zip(*(members_of(r, lr, settings, seeds) for r, lr in zip(ladder, lrs)))
  return Setup(ladder, settings, seeds, lrs, hps, list(grids), list(members),
               member_rows(ladder, settings, seeds, config.model.vocab), data, eval_background,
               token_file, jax.random.fold_in(root, 0))


def member_rows(ladder: list[Rung], settings, seeds: int, vocab: int) -> list[dict]:
  """One dict per member, in [R, F, Z] order: index, rung, size, frequency, gap, seed."""
  grid = [(r, f, g, s) for r in ladder for f, g in settings for s in range(seeds)]
  return [dict(member=m, rung=r.name, non_embedding=r.counts(vocab)['non_embedding'],
               frequency=float(f), gap=int(g), seed=s) for m, (r, f, g, s) in enumerate(grid)]


def summary(config, rows: list[dict], final: dict, diverged_M) -> dict:
  """``summary.json`` of a ladder run: the members, their final evaluation (``final``: each of
  ``lm.evaluate``'s keys → [M]), whether each learned the task (test accuracy ≥
  ``train.learned_threshold``) and, per rung, the lowest frequency learned (mean over seeds;
  None if none)."""
  threshold = float(config.train.learned_threshold)
  acc = np.asarray(final['test_accuracy'], np.float64)
  rungs = list(dict.fromkeys(row['rung'] for row in rows))
  freqs = sorted({row['frequency'] for row in rows})
  mean_RxF = np.array([[np.mean([a for row, a in zip(rows, acc)
                                 if (row['rung'], row['frequency']) == (g, f)]) for f in freqs]
                       for g in rungs])
  lowest, _ = results.frontier(mean_RxF >= threshold, rungs, freqs)
  diverged = np.asarray(diverged_M)
  return {'kind': 'ladder', 'task': config.task.kind, 'members': rows,
          'final': {k: np.asarray(v).tolist() for k, v in final.items()},
          'learned': (acc >= threshold).tolist(), 'learned_threshold': threshold,
          'min_learned_frequency_by_rung': lowest,
          'diverged': [{'member': int(m), 'step': int(diverged[m])}
                       for m in np.flatnonzero(diverged >= 0)],
          'steps': int(config.train.num_steps)}


class Ladder(population.Population):
  """A ladder config's rungs × settings × seeds for ``loop.run``: each rung one group (one
  vmapped, jitted chunk of training and evaluation), all advancing one chunk per call; the
  state is {rung name: lm.State}; every step's evaluation becomes one metrics row per member."""
  evaluates_at_start = True

  def __init__(self, config, settings=None):
    self.su = su = build(config, settings)
    super().__init__(config, su.rows)
    self.data_key = jax.random.fold_in(jax.random.key(config.seed), 1)
    self.chunks = [population.make_lm_chunk(hp) for hp in su.hps]
    self.probing = bool(su.hps[0].probe_neurons)
    self.probes = []  # per chunk: [M, steps, len(lm.PROBES)] when probing
    # Several devices: each rung's members are split over them (padded to a multiple).
    self.places = [sharding.member_placement(len(grid)) for grid in su.grids]
    self.placed = [p.per_member(m) for p, m in zip(self.places, su.members)]
    self.description = f'{len(su.ladder)} rungs × {len(su.settings) * su.seeds} members'
    self.banner = []
    for rung, lr in zip(su.ladder, su.lrs):
      c = rung.counts(config.model.vocab)
      self.banner.append(
          f'{rung.name}: d_model {rung.d_model}, {rung.num_heads} heads, {rung.depth} layers, '
          f'MLP {rung.mlp}; {c["non_embedding"]:,} non-embedding + {c["embedding"]:,} '
          f'embedding parameters; peak lr {lr:.3g}')

  def init(self) -> dict:
    return {r.name: s for r, s in zip(self.su.ladder, self.su.init_states())}

  def place(self, state: dict) -> dict:
    return {r.name: p.state(state[r.name]) for r, p in zip(self.su.ladder, self.places)}

  def requested(self, state: dict) -> dict:
    return {r.name: p.requested(state[r.name]) for r, p in zip(self.su.ladder, self.places)}

  def _background(self, step: int):
    """The token file's batches of this chunk (None: the synthetic background)."""
    su, c = self.su, self.config
    if su.token_file is None:
      return None
    return jnp.asarray(np.stack([su.token_file.batch(c.seed, t, c.train.batch_size)
                                 for t in range(step, step + self.steps_per_chunk)]))

  def chunk(self, state: dict, step: int):
    su, background, outs = self.su, self._background(step), []
    for rung, fn, member, place in zip(su.ladder, self.chunks, self.placed, self.places):
      state[rung.name], loss, probes, ev = fn(state[rung.name], self.data_key, jnp.int32(step),
                                              member, su.data, su.eval_background, background)
      outs.append(place.requested(dict(ev, loss=loss,
                                       **({'probes': probes} if self.probing else {}))))
    return state, _joined(outs)

  def evaluate(self, state: dict):
    su = self.su
    return _joined([place.requested(population.make_lm_evaluate(hp)(
        state[r.name].params, m, su.data, su.eval_background))
                    for r, hp, m, place in zip(su.ladder, su.hps, self.placed, self.places)])

  def diverged(self, state: dict) -> jax.Array:
    # a copy even of one rung's array: the state is donated to the next chunk
    return jnp.array(jnp.concatenate([s.diverged_at for s in self.requested(state).values()]),
                     copy=True)

  def rows(self, step: int, out) -> list[dict]:
    keys = [k for k in out if k != 'probes']
    return [dict(row, step=step, **{k: np.asarray(out[k][m]).item() for k in keys})
            for m, row in enumerate(self.members)]

  def observe(self, workdir, step: int, out) -> None:
    if self.probing and 'probes' in out:
      self.probes.append(out['probes'])

  def postfix(self, out) -> dict:
    acc = {'acc': f'{float(np.max(out["test_accuracy"])):.2f}'}
    return {'loss': f'{float(np.mean(out["loss"])):.3f}', **acc} if 'loss' in out else acc

  def summary(self, out, state, history, wall_time_s: float) -> dict:
    final = {k: v for k, v in out.items() if k not in ('loss', 'probes')}
    return summary(self.config, self.members, final, self.diverged(state))


def _joined(outs: list[dict]) -> dict:
  """The rungs' outputs, members concatenated in rung order."""
  return {k: jnp.concatenate([o[k] for o in outs]) for k in outs[0]}


def train(config, progress: bool = True, settings=None, keep_params: bool = False,
          workdir: str | None = None, overwrite: bool = False,
          max_chunks: int | None = None) -> dict | None:
  """Trains every rung × setting × seed, a setting being (frequency, gap) — by default every
  ``task.frequencies`` at ``task.gap`` — through ``loop.run``; returns numpy arrays indexed
  [R, F, Z, …] (F settings): ``steps`` [P], ``train_loss`` [R, F, Z, P−1] and, for each of
  ``lm.evaluate``'s keys, [R, F, Z, P]; with gradient probes (``config.probe``) ``probes``
  [R, F, Z, num_steps, len(lm.PROBES)] (NaN at steps without one); plus ``rungs`` (name and
  parameter counts), ``frequencies`` and ``gaps`` [F], ``lrs``, ``wall_time_s``,
  ``steps_per_s`` (of the whole ladder) and with ``keep_params`` the final ``params`` of every
  rung (a list of [F·Z]-stacked trees).

  With ``workdir`` (``python -m rarelearn.main`` passes it) the loop's files are written and
  the run resumes from its newest readable checkpoint (``python -m rarelearn.inspect`` opens
  it); ``max_chunks`` stops after that many chunks of this call, as an interruption would,
  and returns None."""
  pop = Ladder(config, settings)
  if workdir is not None and pop.probing:
    raise ValueError('config.probe.neurons > 0: gradient probes are not checkpointed; run '
                     'them without a workdir (experiments/fig9_gradient_decomposition.py)')
  res = loop.run(pop, workdir, overwrite=overwrite, progress=progress, max_chunks=max_chunks)
  if res is None:
    return None
  su, h = pop.su, res.history
  grid = lambda a: a.reshape(len(su.ladder), len(su.settings), su.seeds, *a.shape[1:])
  out = {k: grid(h.array(k, np.asarray(v).dtype)) for k, v in res.final.items()
         if k not in ('loss', 'probes')}
  out.update(steps=h.steps('test_accuracy'), train_loss=grid(h.array('loss', np.float32)),
             frequencies=np.asarray([f for f, _ in su.settings]),
             gaps=np.asarray([g for _, g in su.settings]), lrs=np.asarray(su.lrs),
             steps_per_s=res.summary['steps_per_s'], wall_time_s=res.summary['wall_time_s'],
             rungs=[dict(name=r.name, d_model=r.d_model, num_heads=r.num_heads, mlp=r.mlp,
                         depth=r.depth, **r.counts(config.model.vocab)) for r in su.ladder])
  if pop.probing:
    out['probes'] = grid(np.concatenate(pop.probes, axis=1))
  if keep_params:
    out['params'] = [jax.device_get(res.state[r.name].params) for r in su.ladder]
  return out
