"""The transformer track's host program: a model ladder × injection frequencies (× seeds).

``Ladder`` is the population of a ladder config (configs/olmo_tiny.py, configs/olmo_ladder.py)
that ``rarelearn.train`` runs through the loop (checkpoints, resume and what ``rarelearn.inspect``
opens, with a workdir); ``grid(outcome)`` gives a finished run's arrays by rung, setting and
seed. Members of one rung share a shape, so each rung is one vmapped, jitted program with no padding
at all (the rungs are the width buckets of the transformer track); every rung sees the same
background batches, and a member's task instances depend only on its frequency (and the step), never
on its rung — sizes are compared on identical data.

Learning rate per rung: ``optimizer.lr`` · (N / N_0)^(-1/3), N the rung's non-embedding
parameter count and N_0 the smallest rung's (the N^-1/3 rule of OLMo's ladder); with
``optimizer.lr_scaling = 'none'`` every rung takes ``optimizer.lr``.

Shape letters (rarelearn/__init__.py): R rungs, F frequencies (settings), Z seeds, P evaluations
(one per chunk, plus step 0).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.analysis import plots, results
from rarelearn.core import configlib, optim
from rarelearn.models import transformer as tf
from rarelearn.population import lm_training, sharding, vmapped
from rarelearn.runtime import hosts
from rarelearn.tasks import mixture, tokens as tk

EVAL_BACKGROUND = 256  # held-out background sequences for the LM loss
# the numbers of ``lm_training.evaluate`` the inspection table shows, test accuracy first
COLUMNS = ('test_accuracy', 'train_accuracy', 'task_train_loss', 'task_test_loss',
           'background_loss')


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


def peak_lrs(config, non_embedding) -> list[float]:
  """Each rung's peak learning rate: ``optimizer.lr`` · (N / N_0)^(-1/3) (N its non-embedding
  parameters, N_0 the smallest rung's) by default, or ``optimizer.lr`` on every rung with
  ``optimizer.lr_scaling = 'none'`` (experiments/ladder_controls.py: one learning rate)."""
  n = np.asarray(non_embedding, np.float64)
  if config.optimizer.get('lr_scaling', 'n_third') == 'none':
    return [float(config.optimizer.lr)] * len(n)
  return list(config.optimizer.lr * (n / n.min()) ** (-1.0 / 3.0))  # the N^-1/3 rule


def rungs(config) -> list[Rung]:
  """The rungs of a (validated: ``families.validate``) ladder config."""
  m = config.model
  return [Rung(*row) for row in zip(m.names, m.d_model, m.num_heads, m.mlp, m.depth)]


def settings(config) -> list[tuple[float, int]]:
  """The (frequency, gap) of each member group: ``task.frequencies`` paired with
  ``task.gaps`` where it is given, else every frequency at ``task.gap``."""
  t = config.task
  gaps = tuple(t.get('gaps', ())) or (t.gap,) * len(t.frequencies)
  return [(float(f), int(g)) for f, g in zip(t.frequencies, gaps)]


def optimizer(config) -> optim.Hyper:
  """AdamW (β = 0.9, 0.95; weight decay on matrices only; clipping) with a cosine to 0.1 of
  the peak over ``train.num_steps``."""
  o = config.optimizer
  return optim.Hyper(name='adamw', b1=0.9, b2=0.95, weight_decay=float(o.weight_decay),
                     decay='matrices', clip=float(o.clip), schedule='cosine',
                     warmup_steps=int(o.warmup_steps), num_steps=int(config.train.num_steps),
                     final_lr_ratio=0.1)


def hyper(config, rung: Rung) -> lm_training.Hyper:
  """The rung's static hyperparameters; gradient probes from ``config.probe`` (``neurons`` K,
  ``period``, ``phases``) where the config has that block."""
  probe = config.get('probe') or {}
  neurons = int(probe.get('neurons', 0))
  if neurons and not 0 < neurons <= rung.mlp:
    raise configlib.ConfigError(f'config.probe.neurons={neurons} must be in 1…{rung.mlp}, the '
                                f'MLP width of rung {rung.name}')
  dims = tf.Dims(config.model.vocab, rung.d_model, rung.num_heads, rung.head_dim, rung.mlp,
                 rung.depth)
  return lm_training.Hyper(dims=dims, seq_len=config.data.seq_len,
                           batch_size=config.train.batch_size,
                           steps_per_chunk=config.train.steps_per_chunk, opt=optimizer(config),
                           mode=config.task.mode, probe_neurons=neurons,
                           probe_period=int(probe.get('period', 1)),
                           probe_phases=tuple(int(p) for p in probe.get('phases', ())),
                           compute_dtype=config.train.compute_dtype, remat=config.train.remat,
                           loss_chunk=config.train.loss_chunk,
                           microbatch=int(per_rung(config, 'train.microbatch')[
                               list(config.model.names).index(rung.name)]))


# Where a rung's members run, one value or one per rung (``rarelearn.plan`` chooses them when
# ``train.plan``), with the defaults of configs made before the planner: devices per member
# (FSDP), members per program (0: all of the rung's), sequences per pass (0: the batch).
PLACEMENT = {'model.model_shards': 1, 'model.group_size': 0, 'train.microbatch': 0}


def per_rung(config, field: str) -> list[int]:
  """One of ``PLACEMENT``'s fields per rung."""
  section, key = field.split('.')
  value = config[section].get(key, PLACEMENT[field])
  n = len(config.model.names)
  return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * n


@dataclasses.dataclass(frozen=True)
class Group:
  """Members ``members`` (a slice of its rung's) of rung ``rung``, trained by one program."""
  key: str  # in the state dict: the rung's name, or name.i when the rung is split
  rung: int
  members: slice
  place: sharding.Placement
  hp: lm_training.Hyper


def rung_groups(i: int, rung: Rung, hp: lm_training.Hyper, members: lm_training.Member,
                model_shards: int,
                size: int) -> list[Group]:
  """Rung ``i``'s members in programs of ``size`` (0: all in one), each over all devices, FSDP
  over ``model_shards`` of them (a count that does not divide this machine's devices, e.g. on
  inspection, keeps members whole)."""
  num = len(members.lr)
  size = size or num
  k = model_shards if jax.device_count() % model_shards == 0 else 1
  one = jax.eval_shape(lambda: lm_training.init_state(
      jax.random.key(0), jax.tree.map(lambda a: a[0], members), hp)) if k > 1 else None
  out = []
  for j, lo in enumerate(range(0, num, size)):
    place = sharding.member_placement(min(size, num - lo), k, one)
    out.append(Group(rung.name if size >= num else f'{rung.name}.{j}', i,
                     slice(lo, min(lo + size, num)), place,
                     dataclasses.replace(hp, batch_sharding=place.batch_sharding)))
  return out


def program_args(config, group: Group, members: lm_training.Member,
                 data: lm_training.Data) -> tuple:
  """The arguments of ``group``'s chunk program (``vmapped.make_lm_chunk``) without
  allocating them: the state, background and evaluation sequences as abstract arrays with
  their shardings; ``members``: the rung's."""
  placed = group.place.per_member(jax.tree.map(lambda a: a[group.members], members))
  place, count = group.place, len(placed.lr)
  state = jax.eval_shape(lambda: vmapped.init_lm(
      jax.random.key(0), list(range(count)), placed, group.hp))
  if place.mesh is not None:
    shards = (place.shardings if not isinstance(place.shardings, jax.sharding.Sharding)
              else jax.tree.map(lambda _: place.shardings, state))
    state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                         state, shards)
  window = config.data.seq_len + 1
  background = None if config.data.background == 'markov' else jax.ShapeDtypeStruct(
      (config.train.steps_per_chunk, config.train.batch_size, window), jnp.int32)
  return (state, jax.random.key(1), jnp.int32(0), placed, data,
          jax.ShapeDtypeStruct((EVAL_BACKGROUND, window), jnp.int32), background)


def data_of(config) -> lm_training.Data:
  root = jax.random.key(config.seed)
  return lm_training.Data(chain=tk.make_markov(jax.random.fold_in(root, 5), config.model.vocab),
                          task=tk.make_task(config.task.kind, config.model.vocab,
                                   jax.random.fold_in(root, 6)))


def background_file(config) -> tk.TokenFile | None:
  """The user's token file (``data.background = 'file'``), validated; None for the synthetic
  background. Raises ``tokens.TokenFileError`` (one line) on a bad file."""
  if config.data.background == 'markov':
    return None
  try:
    return tk.TokenFile(config.data.token_file, config.data.token_dtype, config.model.vocab,
                        config.data.seq_len + 1)
  except tk.TokenFileError as e:
    raise tk.TokenFileError(f'config.data.token_file: {e}') from None


def eval_background(config, data: lm_training.Data) -> jax.Array:
  """The held-out background sequences every evaluation reads (``Ladder``'s)."""
  return tk.markov_sequences(jax.random.fold_in(jax.random.key(config.seed), 2), data.chain,
                             EVAL_BACKGROUND, config.data.seq_len + 1)


def flops_per_member_step(rung, config) -> float:
  """Training FLOPs of one member of ``rung`` per step: 6 per weight and token of the matmuls
  (the input embedding is a lookup) plus attention's 12 · depth · S · d_model per token."""
  c = rung.counts(config.model.vocab)
  tokens, S = config.train.batch_size * config.data.seq_len, config.data.seq_len
  matmul = c['non_embedding'] + c['embedding'] // 2  # the input embedding is a lookup
  return tokens * (6 * matmul + 12 * rung.depth * S * rung.d_model)


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
  member = lm_training.Member(shape=jax.tree.map(stack, shape),
                              lr=jnp.full((len(grid),), lr, jnp.float32),
                     injection=tk.Injection(jnp.asarray([f for f, _, _ in grid], jnp.float32),
                                            jnp.asarray([g for _, g, _ in grid], jnp.int32),
                                            jnp.zeros((len(grid),), jnp.int32)))
  return grid, member


def summary(config, rows: list[dict], final: dict, diverged_M) -> dict:
  """``summary.json`` of a ladder run: the members, their final evaluation (``final``: each of
  ``lm_training.evaluate``'s keys → [M]), whether each learned the task (test accuracy ≥
  ``train.learned_threshold``) and, per rung, the test accuracy at each of ``frequencies``
  and the lowest frequency learned (means over seeds; None if none)."""
  threshold = float(config.train.learned_threshold)
  acc = np.asarray(final['test_accuracy'], np.float64)
  rungs = list(dict.fromkeys(row['rung'] for row in rows))
  freqs = sorted({row['frequency'] for row in rows})
  mean_RxF = np.array([[np.mean([a for row, a in zip(rows, acc)
                                 if (row['rung'], row['frequency']) == (g, f)]) for f in freqs]
                       for g in rungs])
  lowest, _ = results.frontier(mean_RxF >= threshold, rungs, freqs)
  diverged = np.asarray(diverged_M)
  return {'family': config.family, 'task': config.task.kind, 'members': rows,
          'final': {k: np.asarray(v).tolist() for k, v in final.items()},
          'learned': (acc >= threshold).tolist(), 'learned_threshold': threshold,
          'min_learned_frequency_by_rung': lowest, 'frequencies': freqs,
          'test_accuracy_by_rung': dict(zip(rungs, mean_RxF.tolist())),
          'diverged': [{'member': int(m), 'step': int(diverged[m])}
                       for m in np.flatnonzero(diverged >= 0)],
          'steps': int(config.train.num_steps)}


class Ladder(vmapped.Population):
  """A ladder config's rungs × settings × seeds for ``loop.run``: each rung one group (one
  vmapped, jitted program of training, one of evaluation), all advancing one piece per call; the
  state is {rung name: lm_training.State}; every step's evaluation becomes one metrics row per
  member."""
  evaluates_at_start = True
  figure_files = {'heatmap.png': plots.ladder_heatmap,
                  'test_accuracy_curves.png': plots.ladder_curves}

  def __init__(self, config, skeleton: bool = False):
    """Rungs, members, data and the held-out background of a validated ``config``
    (``families.validate``), each member group a (frequency, gap) of ``settings``. A
    ``skeleton`` (for the planner) stops after the rungs, members and data."""
    self.ladder, self.seeds = rungs(config), config.model.seeds
    self.settings = settings(config)
    counts = [r.counts(config.model.vocab) for r in self.ladder]
    n = np.array([c['non_embedding'] for c in counts], np.float64)
    self.lrs = peak_lrs(config, n)
    self.hps = [hyper(config, rung) for rung in self.ladder]
    self.grids, self.rung_members = zip(*(members_of(r, lr, self.settings, self.seeds)
                                          for r, lr in zip(self.ladder, self.lrs)))
    rows = [dict(rung=r.name, non_embedding=c['non_embedding'], frequency=float(f), gap=int(g),
                 seed=s) for r, c, grid in zip(self.ladder, counts, self.grids) for f, g, s in grid]
    super().__init__(config, [dict(member=m, **row) for m, row in enumerate(rows)])
    self.data, root = data_of(config), jax.random.key(config.seed)
    if skeleton:
      return
    self.token_file = background_file(config)
    if self.token_file is None:
      self.eval_background = eval_background(config, self.data)
    else:  # windows of the evaluation stream
      self.eval_background = jnp.asarray(self.token_file.batch(config.seed, 0, EVAL_BACKGROUND,
                                                               stream=1))
    self.init_key, self.data_key = jax.random.fold_in(root, 0), jax.random.fold_in(root, 1)
    self.probing = bool(self.hps[0].probe_neurons)
    if self.probing:
      self.cannot_checkpoint = ('config.probe.neurons > 0: gradient probes are not '
                                'checkpointed; run them without a workdir '
                                '(experiments/fig9_gradient_decomposition.py)')
    self.probes = []  # per chunk: [M, steps, len(lm_training.PROBES)] when probing
    # Several devices: a group's members are split over them (padded to a multiple), with
    # model shards > 1 FSDP-style over a second mesh axis too; with ``train.offload`` the
    # states of groups not running wait in host memory (all of them in every process of a
    # multi-process run)
    self.groups = [g for i, args in enumerate(zip(
        self.ladder, self.hps, self.rung_members, per_rung(config, 'model.model_shards'),
        per_rung(config, 'model.group_size'))) for g in rung_groups(i, *args)]
    self.offload = bool(config.train.get('offload', False))
    self.pieces = [vmapped.make_lm_pieces(g.hp) for g in self.groups]
    self.chunk_background = (None, None)  # (step, the token file's batches of its chunk)
    self.placed = [g.place.per_member(jax.tree.map(lambda a, g=g: a[g.members],
                                                   self.rung_members[g.rung]))
                   for g in self.groups]
    self.description = (f'{len(self.ladder)} rungs × {len(self.settings)} frequencies × '
                        f'{self.seeds} seed(s)')
    self.banner = [
        f'{rung.name}: d_model {rung.d_model}, {rung.num_heads} heads, {rung.depth} layers, '
        f'MLP {rung.mlp}; {c["non_embedding"]:,} non-embedding + {c["embedding"]:,} '
        f'embedding parameters; peak lr {lr:.3g}'
        for rung, lr, c in zip(self.ladder, self.lrs, counts)]

  def init(self) -> dict:
    """Each group's members, created where they train (on the mesh when there is one and no
    padding is needed; in host memory with ``train.offload``)."""
    out = {}
    for g, members in zip(self.groups, self.placed):
      seeds = [s for _, _, s in self.grids[g.rung][g.members]]
      direct = g.place.mesh is not None and g.place.count == g.place.num_members
      state = vmapped.init_lm(self.init_key, seeds, members if direct else jax.tree.map(
          lambda a, g=g: a[g.members], self.rung_members[g.rung]), g.hp,
          g.place.shardings if direct else None)
      out[g.key] = hosts.fetch(state) if self.offload else state
    return out

  def place(self, state: dict) -> dict:
    return state if self.offload else {g.key: g.place.state(state[g.key]) for g in self.groups}

  def requested(self, state: dict) -> dict:
    return {g.key: g.place.requested(state[g.key]) for g in self.groups}

  def begin(self, state: dict, step: int) -> dict:
    """Each group's chunk outputs so far (``vmapped.make_lm_pieces``), by group key."""
    return {g.key: p.blank(self._placed(g, state)) for g, p in zip(self.groups, self.pieces)}

  def piece(self, state: dict, done: dict, step: int, offset: int, count: int):
    background = self._background(step)
    for g, p, member in zip(self.groups, self.pieces, self.placed):
      new, done[g.key] = p.piece(self._placed(g, state), done[g.key], self.data_key,
                                 jnp.int32(step), jnp.int32(offset), jnp.int32(count), member,
                                 self.data, background)
      state[g.key] = hosts.fetch(g.place.requested(new)) if self.offload else new
    return state, done

  def finish(self, state: dict, done: dict, step: int):
    outs = []
    for g, p, member in zip(self.groups, self.pieces, self.placed):
      loss, probes, ev = p.finish(self._placed(g, state), done[g.key], member, self.data,
                                  self.eval_background)
      outs.append(g.place.requested(dict(ev, loss=loss,
                                         **({'probes': probes} if self.probing else {}))))
    return _joined(outs)

  def _placed(self, g: Group, state: dict):
    return g.place.state(state[g.key]) if self.offload else state[g.key]

  def _background(self, step: int):
    """The token file's batches of the chunk from ``step`` (None: the synthetic background),
    read once per chunk."""
    if self.token_file is None:
      return None
    if self.chunk_background[0] != step:
      c = self.config
      self.chunk_background = (step, jnp.asarray(np.stack([
          self.token_file.batch(c.seed, t, c.train.batch_size)
          for t in range(step, step + self.steps_per_chunk)])))
    return self.chunk_background[1]

  def evaluate(self, state: dict):
    """``finish``'s evaluation (the same program: one compile) without a chunk's losses."""
    out = self.finish(state, self.begin(state, 0), 0)
    return {k: v for k, v in out.items() if k not in ('loss', 'probes')}

  def rung_params(self, state: dict, i: int):
    """Rung ``i``'s parameters (its groups' members joined) on the host."""
    parts = [hosts.fetch(state[g.key].params) for g in self.groups if g.rung == i]
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)

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

  def summary(self, out, diverged_M, history, wall_time_s: float) -> dict:
    final = {k: v for k, v in out.items() if k not in ('loss', 'probes')}
    return summary(self.config, self.members, final, diverged_M)

  def results(self, summary: dict) -> list[dict]:
    """Per member: its row (member, rung, non_embedding, frequency, gap, seed),
    ``lm_training.evaluate``'s numbers and learned."""
    return [dict(row, learned=summary['learned'][m])
            for m, row in enumerate(super().results(summary))]

  def table(self, results: list[dict], members: list[int], tasks: list[int]) -> str:
    """One row per member: rung, size, frequency, seed, then COLUMNS ('*' learned)."""
    head = ['member', 'rung', 'params', 'freq', 'seed', 'test acc', 'train acc', 'train loss',
            'test loss', 'bg loss']
    lines = ['  '.join(f'{h:>10}' for h in head)]
    for m in members:
      r = results[m]
      lines.append('  '.join(f'{c:>10}' for c in (
          str(m), r['rung'], f"{r['non_embedding']:,}", f"{r['frequency']:g}", str(r['seed']),
          f"{r['test_accuracy']:.4f}{'*' if r['learned'] else ' '}",
          *[f'{r[k]:.4f}' for k in COLUMNS[1:]])))
    return '\n'.join(lines)

  def result(self, summary: dict) -> str:
    lowest = summary['min_learned_frequency_by_rung']
    return (f'T_{summary["task"].upper()}: lowest frequency learned (test accuracy ≥ '
            f'{summary["learned_threshold"]:g}): ' + ', '.join(
                f'{name} {"never" if f is None else f"{f:g}"}' for name, f in lowest.items()))


def _joined(outs: list[dict]) -> dict:
  """The rungs' outputs, members concatenated in rung order."""
  return {k: jnp.concatenate([o[k] for o in outs]) for k in outs[0]}


def grid(outcome, keep_params: bool = False) -> dict | None:
  """A finished ladder run (``rarelearn.train``'s outcome; None passes through) as numpy
  arrays indexed [R, F, Z, …] (F settings): ``steps`` [P], ``train_loss`` [R, F, Z, P−1] and,
  for each of ``lm_training.evaluate``'s keys, [R, F, Z, P]; with gradient probes
  (``config.probe``) ``probes`` [R, F, Z, num_steps, len(lm_training.PROBES)] (NaN at steps
  without one); plus ``rungs`` (name and parameter counts), ``frequencies`` and ``gaps`` [F],
  ``lrs``, ``wall_time_s``, ``steps_per_s`` (of the whole ladder) and with ``keep_params`` the
  final ``params`` of every rung (a list of [F·Z]-stacked trees)."""
  if outcome is None:
    return None
  pop, h = outcome.population, outcome.history
  grid_ = lambda a: a.reshape(len(pop.ladder), len(pop.settings), pop.seeds, *a.shape[1:])
  out = {k: grid_(h.array(k, np.asarray(v).dtype)) for k, v in outcome.final.items()
         if k not in ('loss', 'probes')}
  out.update(steps=h.steps('test_accuracy'), train_loss=grid_(h.array('loss', np.float32)),
             frequencies=np.asarray([f for f, _ in pop.settings]),
             gaps=np.asarray([g for _, g in pop.settings]), lrs=np.asarray(pop.lrs),
             steps_per_s=outcome.summary['steps_per_s'],
             wall_time_s=outcome.summary['wall_time_s'],
             rungs=[dict(dataclasses.asdict(r), **r.counts(pop.config.model.vocab))
                    for r in pop.ladder])
  if pop.probing:
    out['probes'] = grid_(np.concatenate(pop.probes, axis=1))
  if keep_params:
    out['params'] = [pop.rung_params(outcome.state, i) for i in range(len(pop.ladder))]
  return out
