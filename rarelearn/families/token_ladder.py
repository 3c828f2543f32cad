"""The transformer ladder (configs/olmo_tiny.py, configs/olmo_ladder.py): rungs × injection
frequencies × seeds of an OLMo-style transformer on a token stream with an injected task — the
population of ``ladder.Ladder``, whose placement ``rarelearn.plan`` plans (``PLANNED``)."""
from __future__ import annotations

from rarelearn import configlib, train
from rarelearn.models import transformer
from rarelearn.rules import FLAG, integer, number, one_of, tuple_of
from rarelearn.tasks import tokens

SHARDS_FIELD = 'model.model_shards'  # devices each member is split over (FSDP)
PLANNED = True  # rarelearn.plan places its members from its compiled programs

_RUNGS = tuple_of(integer(), 'a non-empty tuple of positive integers, one per rung')
TABLE = {
    'model.names': tuple_of((lambda v: True, ''), 'a non-empty tuple with one entry per rung'),
    'model.d_model': _RUNGS, 'model.num_heads': _RUNGS, 'model.mlp': _RUNGS,
    'model.depth': _RUNGS, 'model.vocab': integer(tokens.NUM_TASK_TOKENS + 1),
    'model.seeds': integer(), 'data.seq_len': integer(4, note='an instance is 4 tokens'),
    'data.background': one_of(('markov', 'file')), 'data.token_dtype': one_of(tokens.TOKEN_DTYPES),
    'task.kind': one_of(tokens.KINDS), 'task.mode': one_of(tokens.MODES),
    'task.frequencies': tuple_of(number(gt=0, le=1), 'a non-empty tuple of instances per '
                                 'sequence in (0, 1]'),
    'task.gap': integer(), 'optimizer.clip': number(gt=0),
    'train.compute_dtype': one_of(train.COMPUTE_DTYPES),
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
    # how a rung's peak lr follows from optimizer.lr (rarelearn/ladder.py peak_lrs)
    'optimizer.lr_scaling': one_of(('n_third', 'none'))}


def validate(config) -> None:
  """The ladder's fields; its token file is checked where it is opened (``ladder.Ladder``,
  before a workdir is touched)."""
  configlib.check_fields(config, TABLE)
  configlib.check_fields(config, {k: rule for k, rule in PLACEMENT.items()
                                  if k.split('.')[1] in config[k.split('.')[0]]})
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


def population(config):
  from rarelearn import ladder  # pylint: disable=g-import-not-at-top
  return ladder.Ladder(config)
