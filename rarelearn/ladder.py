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

Shape letters: R rungs, F frequencies, P evaluations (one per chunk, plus step 0).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from rarelearn import checkpoint, configlib, lm, population, run
from rarelearn.models import transformer as tf
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
  burst = tk.burst_steps(frequency, gap, config.train.batch_size)
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
  members: list[lm.Member]  # per rung, [F·S]-stacked
  rows: list[dict]  # member_rows
  data: lm.Data
  eval_background: jax.Array
  token_file: Any
  init_key: jax.Array

  def init_states(self) -> list[lm.State]:
    return [population.init_lm(self.init_key, [s for _, _, s in grid], member, hp)
            for grid, member, hp in zip(self.grids, self.members, self.hps)]

  def evaluate(self, r: int, params) -> dict:
    """``lm.evaluate`` of rung ``r``'s members (host arrays [F·S])."""
    return jax.device_get(population.make_lm_evaluate(self.hps[r])(
        params, self.members[r], self.data, self.eval_background))


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


def restore(workdir: str, config, su: Setup, step: int | None = None
            ) -> tuple[int, list[int], list, dict]:
  """(step, every saved step, the rungs' states, meta) of a ladder run's checkpoint ``step``
  (default: the newest); ``su`` is ``build(config)``. FileNotFoundError if there is none."""
  mngr = checkpoint.manager(workdir, int(config.train.get('keep_checkpoints', 2)), create=False)
  try:
    steps = sorted(int(s) for s in mngr.all_steps())
    if not steps:
      raise FileNotFoundError(f'{workdir} has no checkpoint yet')
    step = steps[-1] if step is None else step
    if step not in steps:
      raise FileNotFoundError(f'{workdir} has no checkpoint at step {step} (saved: '
                              f'{", ".join(map(str, steps))})')
    like = {r.name: s for r, s in zip(su.ladder, su.init_states())}
    state, meta = checkpoint.restore(mngr, step, like)
  finally:
    mngr.close()
  return step, steps, [state[r.name] for r in su.ladder], meta


def evaluate_states(su: Setup, states) -> dict[str, np.ndarray]:
  """``lm.evaluate`` of every member of restored rung states: each key → [M], in
  ``member_rows`` order."""
  evs = [su.evaluate(r, s.params) for r, s in enumerate(states)]
  return {k: np.concatenate([np.asarray(e[k]) for e in evs]) for k in evs[0]}


def member_rows(ladder: list[Rung], settings, seeds: int, vocab: int) -> list[dict]:
  """One dict per member, in [R, F, S] order: index, rung, size, frequency, gap, seed."""
  grid = [(r, f, g, s) for r in ladder for f, g in settings for s in range(seeds)]
  return [dict(member=m, rung=r.name, non_embedding=r.counts(vocab)['non_embedding'],
               frequency=float(f), gap=int(g), seed=s) for m, (r, f, g, s) in enumerate(grid)]


def summary(config, rows: list[dict], final: dict, diverged_M, **extra) -> dict:
  """``summary.json`` of a ladder run: the members, their final evaluation (``final``: each of
  ``lm.evaluate``'s keys → [M]), whether each learned the task (test accuracy ≥
  ``train.learned_threshold``) and, per rung, the lowest frequency learned (mean over seeds;
  None if none)."""
  threshold = float(config.train.learned_threshold)
  acc = np.asarray(final['test_accuracy'], np.float64)
  by_cell = {}
  for row, a in zip(rows, acc):
    by_cell.setdefault((row['rung'], row['frequency']), []).append(a)
  lowest = {}
  for (rung, f), accs in by_cell.items():
    lowest.setdefault(rung, None)
    if np.mean(accs) >= threshold and (lowest[rung] is None or f < lowest[rung]):
      lowest[rung] = f
  diverged = np.asarray(diverged_M)
  return {'kind': 'ladder', 'task': config.task.kind, 'members': rows,
          'final': {k: np.asarray(v).tolist() for k, v in final.items()},
          'learned': (acc >= threshold).tolist(), 'learned_threshold': threshold,
          'min_learned_frequency_by_rung': lowest,
          'diverged': [{'member': int(m), 'step': int(diverged[m])}
                       for m in np.flatnonzero(diverged >= 0)],
          'steps': int(config.train.num_steps), **extra,
          'versions': run.provenance(), 'devices': [str(d) for d in jax.devices()]}


class _Workdir:
  """A ladder run's workdir: config.json, metrics.jsonl, checkpoints, summary.json."""

  def __init__(self, config, workdir: str, overwrite: bool, ladder, states, rows):
    self.config, self.workdir, self.ladder, self.rows = config, workdir, ladder, rows
    self.every = int(config.train.get('checkpoint_every_chunks', 1))
    keep = int(config.train.get('keep_checkpoints', 2))
    state_bytes = sum(x.size * x.dtype.itemsize for s in states for x in jax.tree.leaves(s))
    metric_bytes = 600 * len(rows) * (config.train.num_steps // config.train.steps_per_chunk + 1)
    run.check_workdir(workdir, int(1.2 * ((keep + 1) * state_bytes + metric_bytes)))
    run.prepare_workdir(config, workdir, overwrite)
    self.mngr, self.start, restored, meta = run.resume(
        workdir, keep, {r.name: s for r, s in zip(ladder, states)})
    self.states = [restored[r.name] for r in ladder]
    self.history = _history_from_meta(meta['history']) if self.start else None
    self.metrics = os.path.join(workdir, run.METRICS_FILE)
    run.truncate_metrics(self.metrics, self.start)

  def write_rows(self, step: int, evs, losses) -> None:
    """Rows of one evaluation: one per member, its evaluation and the chunk's mean train loss."""
    lines, m = [], 0
    for r, ev in enumerate(evs):
      for i in range(len(ev['test_accuracy'])):
        row = dict(self.rows[m], step=step, **{k: np.asarray(v[i]).item() for k, v in ev.items()})
        if losses is not None:
          row['loss'] = float(losses[r][i])
        lines.append(json.dumps(row) + '\n')
        m += 1
    with open(self.metrics, 'a') as f:
      f.writelines(lines)

  def save(self, step: int, states, history, t0: float) -> None:
    chunk = step // self.config.train.steps_per_chunk
    if step == self.config.train.num_steps or chunk % self.every == 0:
      elapsed = history['elapsed_s'] + time.time() - t0
      checkpoint.save(self.mngr, step, {r.name: s for r, s in zip(self.ladder, states)},
                      {'step': step, 'elapsed_s': elapsed, 'members': self.rows,
                       'history': _history_to_meta(history, elapsed)})

  def close(self) -> None:
    self.mngr.wait_until_finished()
    self.mngr.close()

  def write_summary(self, out: dict, keys, diverged) -> None:
    final = {k: out[k][..., -1].reshape(-1) for k in keys}
    s = summary(self.config, self.rows, final, np.concatenate(diverged),
                wall_time_s=round(float(out['wall_time_s']), 2),
                steps_per_s=dict(zip([r.name for r in self.ladder],
                                     np.round(out['steps_per_s'], 3).tolist())))
    run.write_atomic(os.path.join(self.workdir, run.SUMMARY_FILE), json.dumps(s, indent=1))


def _history_to_meta(history: dict, elapsed: float) -> dict:
  first = history['rows'][0][0]
  return {'rows': [[{k: np.asarray(v).tolist() for k, v in ev.items()} for ev in rows_r]
                   for rows_r in history['rows']],
          'losses': [[np.asarray(l).tolist() for l in ls] for ls in history['losses']],
          'dtypes': {k: str(np.asarray(v).dtype) for k, v in first.items()},
          'seconds': list(history['seconds']), 'elapsed_s': elapsed}


def _history_from_meta(meta: dict) -> dict:
  dtypes = meta['dtypes']
  return {'rows': [[{k: np.asarray(v, dtypes[k]) for k, v in ev.items()} for ev in rows_r]
                   for rows_r in meta['rows']],
          'losses': [[np.asarray(l, np.float32) for l in ls] for ls in meta['losses']],
          'seconds': list(meta['seconds']), 'elapsed_s': float(meta['elapsed_s'])}


def train(config, progress: bool = True, settings=None, keep_params: bool = False,
          workdir: str | None = None, overwrite: bool = False,
          max_chunks: int | None = None) -> dict | None:
  """Trains every rung × setting × seed, a setting being (frequency, gap) — by default every
  ``task.frequencies`` at ``task.gap``; returns numpy arrays indexed [R, F, S, …] (F settings):
  ``steps`` [P], ``train_loss`` [R, F, S, P−1] and, for each of ``lm.evaluate``'s keys,
  [R, F, S, P]; with gradient probes (``config.probe``) ``probes`` [R, F, S, num_steps,
  len(lm.PROBES)] (NaN at steps without one); plus ``rungs`` (name and parameter counts),
  ``frequencies`` and ``gaps`` [F], ``lrs``, ``wall_time_s`` and ``steps_per_s`` per rung, and
  with ``keep_params`` the final ``params`` of every rung (a list of [F·S]-stacked trees).

  The rungs advance together, one chunk each in turn. With ``workdir`` the run can be resumed
  and inspected (``python -m rarelearn.inspect``; ``python -m rarelearn.main`` passes it):
  ``config.json`` (a workdir holding another config is refused unless ``overwrite``),
  ``metrics.jsonl`` (a row per evaluation and member), an orbax checkpoint of every rung every
  ``train.checkpoint_every_chunks`` chunks (default 1) and at the end, the newest
  ``train.keep_checkpoints`` (default 2) kept — ``state`` {rung name: lm.State}, ``meta`` the
  evaluation history — and ``summary.json``; a workdir with the same config resumes from its
  newest readable checkpoint. ``max_chunks`` stops after that many chunks of this call, as an
  interruption would, and returns None."""
  t0 = time.time()
  su = build(config, settings)
  ladder, settings, seeds, lrs, hps = su.ladder, su.settings, su.seeds, su.lrs, su.hps
  data, eval_background, token_file = su.data, su.eval_background, su.token_file
  data_key = jax.random.fold_in(jax.random.key(config.seed), 1)
  spc, num_steps = config.train.steps_per_chunk, config.train.num_steps
  if workdir is not None and hps[0].probe_neurons:
    raise ValueError('config.probe.neurons > 0: gradient probes are not checkpointed; run '
                     'them without a workdir (experiments/fig9_gradient_decomposition.py)')
  if progress:
    for rung, lr in zip(ladder, lrs):
      c = rung.counts(config.model.vocab)
      print(f'rarelearn: {rung.name}: d_model {rung.d_model}, {rung.num_heads} heads, '
            f'{rung.depth} layers, MLP {rung.mlp}; {c["non_embedding"]:,} non-embedding + '
            f'{c["embedding"]:,} embedding parameters; peak lr {lr:.3g}', file=sys.stderr)
  members, states = su.members, su.init_states()
  chunks = [population.make_lm_chunk(hp) for hp in hps]
  rows = su.rows
  ck = _Workdir(config, workdir, overwrite, ladder, states, rows) if workdir else None
  start, history = (ck.start, ck.history) if ck else (0, None)
  if start:
    states = ck.states
  else:
    history = {'rows': [[su.evaluate(r, s.params)] for r, s in enumerate(states)],
               'losses': [[] for _ in ladder], 'seconds': [0.0] * len(ladder),
               'elapsed_s': 0.0}
    if ck:
      ck.write_rows(0, [row[0] for row in history['rows']], None)
  probed = [[] for _ in ladder]
  bar = tqdm.tqdm(total=num_steps, initial=start, unit='step', disable=not progress,
                  file=sys.stderr, desc=f'{len(ladder)} rungs × {len(settings) * seeds} members')
  chunks_run, stopped = 0, False
  for step in range(start, num_steps, spc):
    if max_chunks is not None and chunks_run >= max_chunks:
      stopped = True
      break
    background = None if token_file is None else jnp.asarray(np.stack(
        [token_file.batch(config.seed, t, config.train.batch_size)
         for t in range(step, step + spc)]))
    evs, losses = [], []
    for r in range(len(ladder)):
      t = time.time()
      states[r], loss, probe, ev = chunks[r](states[r], data_key, jnp.int32(step), members[r],
                                             data, eval_background, background)
      loss, ev = jax.device_get((loss, ev))
      history['seconds'][r] += time.time() - t
      history['rows'][r].append(ev)
      history['losses'][r].append(loss)
      if hps[0].probe_neurons:
        probed[r].append(probe)
      evs.append(ev)
      losses.append(loss)
    chunks_run += 1
    bar.update(spc)
    bar.set_postfix(loss=f'{np.mean(np.concatenate(losses)):.3f}',
                    acc=f'{max(float(np.max(e["test_accuracy"])) for e in evs):.2f}')
    if ck:
      ck.write_rows(step + spc, evs, losses)
      ck.save(step + spc, states, history, t0)
  bar.close()
  if ck:
    ck.close()
  if stopped:
    return None
  out = {key: np.stack([np.stack([row[key] for row in rows_r], axis=-1).reshape(
      len(settings), seeds, -1) for rows_r in history['rows']])
         for key in history['rows'][0][0]}
  out.update(steps=np.arange(0, num_steps + 1, spc),
             train_loss=np.stack([np.stack(l, axis=-1).reshape(len(settings), seeds, -1)
                                  for l in history['losses']]),
             frequencies=np.asarray([f for f, _ in settings]),
             gaps=np.asarray([g for _, g in settings]),
             lrs=np.asarray(lrs), steps_per_s=num_steps / np.asarray(history['seconds']),
             rungs=[dict(name=r.name, d_model=r.d_model, num_heads=r.num_heads, mlp=r.mlp,
                         depth=r.depth, **r.counts(config.model.vocab)) for r in ladder],
             wall_time_s=history['elapsed_s'] + time.time() - t0)
  if hps[0].probe_neurons:
    out['probes'] = np.stack([np.concatenate(jax.device_get(p), axis=1).reshape(
        len(settings), seeds, num_steps, len(lm.PROBES)) for p in probed])
  if keep_params:
    out['params'] = [jax.device_get(s.params) for s in states]
  if ck:
    ck.write_summary(out, list(history['rows'][0][0]),
                     [np.asarray(jax.device_get(s.diverged_at)) for s in states])
  return out
