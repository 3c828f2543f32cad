"""The transformer ladder (configs/olmo_tiny.py, configs/olmo_ladder.py): rungs × injection
frequencies × seeds of an OLMo-style transformer on a token stream with an injected task — the
population of ``ladder.Ladder``, whose placement ``rarelearn.plan`` plans (``PLANNED``)."""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.core import configlib
from rarelearn.core.rules import FLAG, integer, number, one_of, tuple_of
from rarelearn.families import base
from rarelearn.measure import decomposition
from rarelearn.models import transformer
from rarelearn.population import ladder, lm_training, mlp_training
from rarelearn.runtime import workdir as wd
from rarelearn.runtime.history import History
from rarelearn.tasks import tokens as tk

SHARDS_FIELD = 'model.model_shards'  # devices each member is split over (FSDP)
PLANNED = True  # rarelearn.plan places its members from its compiled programs

_RUNGS = tuple_of(integer(), 'a non-empty tuple of positive integers, one per rung')
TABLE = {
    'model.names': tuple_of((lambda v: True, ''), 'a non-empty tuple with one entry per rung'),
    'model.d_model': _RUNGS, 'model.num_heads': _RUNGS, 'model.mlp': _RUNGS,
    'model.depth': _RUNGS, 'model.vocab': integer(tk.NUM_TASK_TOKENS + 1),
    'model.seeds': integer(), 'data.seq_len': integer(4, note='an instance is 4 tokens'),
    'data.background': one_of(('markov', 'file')), 'data.token_dtype': one_of(tk.TOKEN_DTYPES),
    'task.kind': one_of(tk.KINDS), 'task.mode': one_of(tk.MODES),
    'task.frequencies': tuple_of(number(gt=0, le=1), 'a non-empty tuple of instances per '
                                 'sequence in (0, 1]'),
    'task.gap': integer(), 'optimizer.clip': number(gt=0),
    'train.compute_dtype': one_of(mlp_training.COMPUTE_DTYPES),
    'train.remat': one_of(tuple(transformer.REMAT)), 'train.loss_chunk': integer(0),
    'model.model_shards': (lambda v: integer()[0](v) or _RUNGS[0](v),
                           'a positive integer, or one per rung: devices each member is split '
                           'over (FSDP)')}
_PER_RUNG = lambda rule, what: (lambda v: rule[0](v) or tuple_of(rule, '')[0](v),
                                f'{what}, one value or one per rung')
PLACEMENT = {  # fields a ladder config written before them may lack
    'train.microbatch': _PER_RUNG(integer(0), 'sequences per pass dividing train.batch_size '
                                  '(0: all)'),
    'model.group_size': _PER_RUNG(integer(0), "members per program (0: all of a rung's)"),
    'train.offload': FLAG, 'train.plan': FLAG, 'train.device_memory_gib': number(ge=0),
    # how a rung's peak lr follows from optimizer.lr (rarelearn/population/ladder.py peak_lrs)
    'optimizer.lr_scaling': one_of(('n_third', 'none')),
    # one gap per frequency (member groups (frequency, gap): ladder.settings); () for task.gap
    'task.gaps': (lambda v: isinstance(v, (tuple, list)) and all(integer()[0](g) for g in v),
                  'a tuple of positive integers, one per task.frequencies, or ()')}


def validate(config) -> None:
  """The ladder's fields; its token file is checked where it is opened (``ladder.Ladder``,
  before a workdir is touched)."""
  configlib.check_fields(config, TABLE)
  configlib.check_fields(config, {k: rule for k, rule in PLACEMENT.items()
                                  if k.split('.')[1] in config[k.split('.')[0]]})
  gaps = config.task.get('gaps', ())
  if gaps and len(gaps) != len(config.task.frequencies):
    configlib.fail('task.gaps', gaps, f'one gap per task.frequencies '
                   f'({len(config.task.frequencies)}), or ()')
  micro = config.train.get('microbatch', 0)
  if any(b and config.train.batch_size % b for b in (micro if isinstance(micro, (tuple, list))
                                                     else [micro])):
    configlib.fail('train.microbatch', micro, f'0 or a divisor of train.batch_size='
                   f'{config.train.batch_size}, one value or one per rung')
  m = config.model
  lengths = [len(configlib.get(config, k))
             for k in ('model.names', 'model.d_model', 'model.num_heads', 'model.mlp',
                       'model.depth', 'model.model_shards', 'model.group_size',
                       'train.microbatch')
             if isinstance(config[k.split('.')[0]].get(k.split('.')[1]), (tuple, list))]
  if len(set(lengths)) != 1:
    configlib.fail('model.names', m.names, 'as many rungs as model.d_model, num_heads, mlp, '
                   f'depth and the per-rung placement fields (lengths {lengths})')
  for name, d, h in zip(m.names, m.d_model, m.num_heads):
    if d % h or (d // h) % 2:
      configlib.fail('model.num_heads', m.num_heads, 'heads that divide d_model into an even '
                     f'head_dim (rung {name}: d_model {d}, {h} heads)')


class Member(NamedTuple):
  """A ladder member's traced values: ``lm_training.Member`` and the index of its rung."""
  lm: lm_training.Member
  rung: jax.Array  # int32


class Family(base.Family):
  """One ladder member written for ``base.Family``: every rung's members in one program,
  padded to the largest rung's dims (masking is exact: ``models/transformer.py``), as
  ``family_population.FamilyPopulation`` trains them — the view on which measurements and
  interventions work. ``ladder.Ladder`` (what ``rarelearn.main`` runs) trains each rung in its
  own program instead. The same members (rung-major, then frequency, then seed), keys, batches
  and initialization as Ladder's, so a member trains as there to float32 rounding. Its tasks
  are the injected task (0) and the background text (1): ``split_loss`` is the next-token loss
  on the targets an instance wrote and on the rest, over every target (their sum is the LM
  loss). Synthetic (Markov) background only."""

  def __init__(self, config):
    super().__init__(config)
    if config.data.background != 'markov':
      configlib.fail('data.background', config.data.background, "'markov' for the one-member "
                     'view (ladder.Ladder reads token files)')
    self.rungs = ladder.rungs(config)
    counts = [r.counts(config.model.vocab) for r in self.rungs]
    self.lrs = ladder.peak_lrs(config, [c['non_embedding'] for c in counts])
    parts = [ladder.members_of(r, lr, ladder.settings(config), config.model.seeds)
             for r, lr in zip(self.rungs, self.lrs)]
    self.rows = [dict(rung=r.name, non_embedding=c['non_embedding'], frequency=float(f),
                      gap=int(g), seed=z)
                 for r, c, (grid, _) in zip(self.rungs, counts, parts) for f, g, z in grid]
    self.values = Member(
        jax.tree.map(lambda *a: jnp.concatenate(a), *[m for _, m in parts]),
        jnp.concatenate([jnp.full(len(grid), i, jnp.int32) for i, (grid, _) in enumerate(parts)]))
    self.rung_dims = [ladder.hyper(config, r).dims for r in self.rungs]
    widest = lambda key: max(getattr(d, key) for d in self.rung_dims)
    dims = transformer.Dims(config.model.vocab, *map(widest, ('d_model', 'num_heads', 'head_dim',
                                                               'mlp', 'depth')))
    self.hp = dataclasses.replace(ladder.hyper(config, self.rungs[0]), dims=dims)
    self.data = ladder.data_of(config)
    self.eval_background = ladder.eval_background(config, self.data)

  def members(self) -> list[dict]:
    return [dict(member=m, **row) for m, row in enumerate(self.rows)]

  def member_values(self, rows: list[dict]) -> 'Member':
    return jax.tree.map(lambda a: a[np.asarray([r['member'] for r in rows])], self.values)

  def init(self, key, member: 'Member'):
    """Drawn at the member's own rung's dims (as ``ladder.Ladder`` draws it), then padded with
    zeros to the widest dims."""
    padded = jax.eval_shape(lambda: transformer.init_params(key, member.lm.shape, self.hp.dims))

    def of_rung(rung, dims):
      shape = transformer.shape_of(rung.d_model, rung.num_heads, rung.mlp, rung.depth)
      return lambda key: jax.tree.map(
          lambda a, like: jnp.pad(a, [(0, n - m) for m, n in zip(a.shape, like.shape)]),
          transformer.init_params(key, shape, dims), padded)
    return jax.lax.switch(member.rung, [of_rung(r, d) for r, d in zip(self.rungs,
                                                                     self.rung_dims)], key)

  def batch_at(self, key, step, member: 'Member'):
    return lm_training.batch_at(key, step, self.data, member.lm, self.hp)

  def split_loss(self, params, batch, member: 'Member') -> jax.Array:
    """[2]: the mean next-token loss's share on the instance targets and on the rest."""
    tokens, carriers = batch
    losses = lm_training.token_losses(params, tokens, member.lm.shape, self.hp.dims,
                                      self.hp.compute_dtype)
    task = decomposition.task_token_weights(carriers, tokens.shape[1] - 1)
    return jnp.stack([jnp.sum(losses * task), jnp.sum(losses * (1.0 - task))]) / losses.size

  def evaluate(self, params, member: 'Member', key) -> dict:
    """``lm_training.evaluate``'s numbers and ``task_loss`` [2] (the task's test loss, the
    background
    loss)."""
    out = lm_training.evaluate(params, member.lm, self.data, self.eval_background, self.hp)
    return dict(out, task_loss=jnp.stack([out['task_test_loss'], out['background_loss']]))

  def optimizer(self):
    return self.hp.opt

  def lr(self, member: 'Member'):
    return member.lm.lr

  def learned(self, final: dict) -> np.ndarray:
    """[M, 2]: the task learned at test accuracy ≥ ``train.learned_threshold``; the background
    has no threshold (False)."""
    acc = np.asarray(final['test_accuracy'], np.float64)
    return np.stack([acc >= self.config.train.learned_threshold, np.zeros_like(acc, bool)], 1)

  def tasks(self) -> list[dict]:
    return [{'index': 0, 'name': f'T_{self.config.task.kind.upper()}'},
            {'index': 1, 'name': 'background'}]


def lever_records(workdir: str, config) -> tuple[list[dict], dict]:
  """``rarelearn.lever``'s records of a finished ladder run (``lever.grid.read``): rungs ×
  injection frequencies × seeds; test accuracy of the task."""
  summary = wd.read_summary(workdir)
  members = summary['members']
  if len({m['gap'] for m in members}) > 1:
    raise ValueError(f'{workdir}: members differ in injection gap; the lever reads one gap')
  history = History.load(workdir, members)
  score, background = history.array('test_accuracy'), history.array('background_loss')
  rungs = {g.name: g for g in ladder.rungs(config)}
  records = [dict(size=float(m['non_embedding']), label=m['rung'], seed=m['seed'],
                  frequency=float(m['frequency']), score=score[m['member']],
                  other_loss=float(background[m['member'], -1]),
                  flops=ladder.flops_per_member_step(rungs[m['rung']], config),
                  instances=config.train.batch_size * float(m['frequency']))
             for m in members]
  meta = dict(family=config.family, steps=history.steps('test_accuracy'),
              task=f'T_{summary["task"].upper()}', threshold=float(summary['learned_threshold']),
              size_unit='non-embedding parameters',
              train_instances=tk.NUM_TASK_TOKENS ** 2 // 2,  # the train half of all pairs
              base_frequency=min(r['frequency'] for r in records), theory_config=None,
              wall_time_s=summary.get('wall_time_s'))
  return records, meta


def population(config):
  return ladder.Ladder(config)
