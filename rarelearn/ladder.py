"""The transformer track's host program: a model ladder × injection frequencies (× seeds).

``train(config)`` builds the members (configs/olmo_tiny.py, configs/olmo_ladder.py), trains
them and returns the evaluation history. Members of one rung share a shape, so each rung is one
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
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from rarelearn import configlib, lm, population
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
  return tk.TokenFile(config.data.token_file, config.data.token_dtype, config.model.vocab,
                      config.data.seq_len + 1)


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


def train(config, progress: bool = True, settings=None, keep_params: bool = False) -> dict:
  """Trains every rung × setting × seed, a setting being (frequency, gap) — by default every
  ``task.frequencies`` at ``task.gap``; returns numpy arrays indexed [R, F, S, …] (F settings):
  ``steps`` [P], ``train_loss`` [R, F, S, P−1] and, for each of ``lm.evaluate``'s keys,
  [R, F, S, P]; with gradient probes (``config.probe``) ``probes`` [R, F, S, num_steps,
  len(lm.PROBES)] (NaN at steps without one); plus ``rungs`` (name and parameter counts),
  ``frequencies`` and ``gaps`` [F], ``lrs``, ``wall_time_s`` and ``steps_per_s`` per rung, and
  with ``keep_params`` the final ``params`` of every rung (a list of [F·S]-stacked trees)."""
  t0 = time.time()
  ladder, seeds = rungs(config), config.model.seeds
  settings = settings or [(float(f), int(config.task.gap)) for f in config.task.frequencies]
  lrs = peak_lrs(config, ladder)
  data = data_of(config)
  root = jax.random.key(config.seed)
  data_key = jax.random.fold_in(root, 1)
  token_file = background_file(config)
  if token_file is None:
    eval_background = tk.markov_sequences(jax.random.fold_in(root, 2), data.chain,
                                          EVAL_BACKGROUND, config.data.seq_len + 1)
  else:  # windows of the evaluation stream
    eval_background = jnp.asarray(token_file.batch(config.seed, 0, EVAL_BACKGROUND, stream=1))
  if progress:
    for rung, lr in zip(ladder, lrs):
      c = rung.counts(config.model.vocab)
      print(f'rarelearn: {rung.name}: d_model {rung.d_model}, {rung.num_heads} heads, '
            f'{rung.depth} layers, MLP {rung.mlp}; {c["non_embedding"]:,} non-embedding + '
            f'{c["embedding"]:,} embedding parameters; peak lr {lr:.3g}', file=sys.stderr)
  spc, num_steps = config.train.steps_per_chunk, config.train.num_steps
  steps = np.arange(0, num_steps + 1, spc)
  hps = [hyper(config, rung) for rung in ladder]  # config errors before anything compiles
  history, train_loss, speeds, probes, finals = {}, [], [], [], []
  for r, (rung, lr, hp) in enumerate(zip(ladder, lrs, hps)):
    grid, member = members_of(rung, lr, settings, seeds)
    state = population.init_lm(jax.random.fold_in(root, 0), [s for _, _, s in grid], member, hp)
    chunk = population.make_lm_chunk(hp)
    evaluate = jax.jit(jax.vmap(lambda p, m: lm.evaluate(p, m, data, eval_background, hp)))
    rows = [jax.device_get(evaluate(state.params, member))]
    losses, probed = [], []
    bar = tqdm.tqdm(total=num_steps, unit='step', disable=not progress, file=sys.stderr,
                    desc=f'{rung.name} ({len(grid)} members)')
    t_rung = time.time()
    for start in range(0, num_steps, spc):
      background = None if token_file is None else jnp.asarray(np.stack(
          [token_file.batch(config.seed, t, config.train.batch_size)
           for t in range(start, start + spc)]))
      state, loss, probe, ev = chunk(state, data_key, jnp.int32(start), member, data,
                                     eval_background, background)
      if losses:  # the previous chunk's figures: reading them does not wait on this chunk
        bar.set_postfix(loss=f'{float(jnp.mean(losses[-1])):.3f}',
                        acc=f'{float(jnp.max(rows[-1]["test_accuracy"])):.2f}')
      rows.append(ev)
      losses.append(loss)
      probed.append(probe)
      bar.update(spc)
    rows, losses = jax.device_get((rows, losses))
    bar.close()
    if hp.probe_neurons:
      probes.append(np.concatenate(jax.device_get(probed), axis=1).reshape(
          len(settings), seeds, num_steps, len(lm.PROBES)))
    if keep_params:
      finals.append(jax.device_get(state.params))
    speeds.append(num_steps / (time.time() - t_rung))
    for key in rows[0]:
      history.setdefault(key, []).append(
          np.stack([row[key] for row in rows], axis=-1).reshape(len(settings), seeds, -1))
    train_loss.append(np.stack(losses, axis=-1).reshape(len(settings), seeds, -1))
  out = {key: np.stack(v) for key, v in history.items()}
  out.update(steps=steps, train_loss=np.stack(train_loss),
             frequencies=np.asarray([f for f, _ in settings]),
             gaps=np.asarray([g for _, g in settings]),
             lrs=np.asarray(lrs), steps_per_s=np.asarray(speeds),
             rungs=[dict(name=r.name, d_model=r.d_model, num_heads=r.num_heads, mlp=r.mlp,
                         depth=r.depth, **r.counts(config.model.vocab)) for r in ladder],
             wall_time_s=time.time() - t0)
  if probes:
    out['probes'] = np.stack(probes)
  if keep_params:
    out['params'] = finals
  return out
