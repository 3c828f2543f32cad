"""From a ConfigDict to the objects a run needs, and the validation that comes first.

Every check here runs before anything compiles or touches the disk. A bad value raises
``ConfigError`` whose message is one line naming the field and what is accepted; ``main.py``
prints it and exits with status 2.
"""
from __future__ import annotations

import difflib
import functools
import importlib.util
import itertools
import os
import re

import ml_collections
import numpy as np

from rarelearn import families, layout, optim, population, rules, train, workdir
from rarelearn.measure import step as measure_step
from rarelearn.models import mlp
from rarelearn.models import transformer
from rarelearn.rules import FLAG, integer, number, one_of, tuple_of
from rarelearn.tasks import block_regression as br
from rarelearn.tasks import mixture
from rarelearn.tasks import tokens


ConfigError = workdir.ConfigError  # str(e) is the one line shown to the user


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """Loads ``path.py`` or ``path.py:arg`` the way ``config_flags`` does."""
  path, _, arg = spec.partition(':')
  if not os.path.isfile(path):
    raise ConfigError(f'--config: no such file {path!r}')
  module_spec = importlib.util.spec_from_file_location('_rarelearn_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def unknown_key_message(config: ml_collections.ConfigDict, path: str) -> str | None:
  """A one-line explanation if ``path`` (dotted) is not a key of ``config``, else None."""
  node, walked = config, []
  for part in path.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      keys = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      where = '.'.join(walked) or 'config'
      close = difflib.get_close_matches(part, keys, n=1)
      hint = f'; did you mean {".".join(walked + close)!r}?' if close else ''
      return (f'unknown config key {path!r}: {where} has no {part!r} '
              f'(accepted: {", ".join(keys)}){hint}')
    node, walked = node[part], walked + [part]
  return None


def from_command_line(args) -> ml_collections.ConfigDict:
  """The config that ``--config=path.py[:arg]`` and its ``--config.a.b=value`` overrides in
  ``args`` give, parsed as ``rarelearn.main`` parses them (``config_flags``, locked: a key not
  in the config is refused, a value is read as its field's type); a bad one raises
  ``ConfigError`` with one line (``flag_error``)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  argv = ['config', *args]
  values = flags.FlagValues()
  holder = config_flags.DEFINE_config_file('config', None, '', flag_values=values,
                                           lock_config=True, sys_argv=argv)
  try:
    values(argv)
    config = holder.value
    if config is not None:
      config.keys()  # a file that failed to load raises here
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(flag_error(args, e)) from None
  if config is None:
    raise ConfigError('--config is required, e.g. --config=configs/sweep.py')
  return config


def _config_arg(argv) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      return arg.split('=', 1)[1]
    if arg == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return None


def flag_error(argv, error: Exception) -> str:
  """A flag-parsing failure as one line that names the config field (or the file)."""
  spec = _config_arg(argv)
  if spec:
    try:
      base = load_config_file(spec)
    except ConfigError as e:
      return str(e)
    except Exception as e:  # pylint: disable=broad-except
      return f'--config={spec}: cannot load ({type(e).__name__}: {e})'.splitlines()[0]
    for arg in argv:
      match = re.match(r'--config\.([\w.]+)', arg)
      if match and (message := unknown_key_message(base, match.group(1))):
        return message
  return ' '.join(str(error).split()).replace('flag --config.', 'config.')


def fail(field: str, value, accepted: str):
  """Raises the ConfigError of an unusable value: one line naming the field."""
  raise ConfigError(f'config.{field}={value!r} is not valid: expected {accepted}')



def _get(config, field: str):
  return functools.reduce(lambda node, part: node[part], field.split('.'), config)


# Field rules (``rules``): each field's rule is declared once in the tables below; ``_check``
# applies a table in order and stops at the first failure.

_SHARED = {  # every family
    'optimizer.lr': number(gt=0), 'optimizer.weight_decay': number(ge=0),
    'optimizer.warmup_steps': integer(0), 'train.num_steps': integer(),
    'train.steps_per_chunk': integer(), 'train.batch_size': integer(),
    'train.learned_threshold': number(gt=0, le=1), 'train.checkpoint_every_chunks': integer(),
    'train.keep_checkpoints': integer()}
_RUNGS = tuple_of(integer(), 'a non-empty tuple of positive integers, one per rung')
_LADDER = {
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
_LADDER_PLACEMENT = {  # fields a ladder config written before them may lack
    'train.microbatch': _PER_RUNG(integer(0), 'sequences per pass dividing train.batch_size '
                                  '(0: all)'),
    'model.group_size': _PER_RUNG(integer(0), "members per program (0: all of a rung's)"),
    'train.offload': FLAG, 'train.plan': FLAG, 'train.device_memory_gib': number(ge=0),
    # how a rung's peak lr follows from optimizer.lr (rarelearn/ladder.py peak_lrs)
    'optimizer.lr_scaling': one_of(('n_third', 'none'))}
_MLP = {  # block regression and sparse parity
    'population.widths': tuple_of(integer(), 'a non-empty tuple of positive integers, e.g. '
                                  '(8,32,128)'),
    'population.seeds': integer(), 'tasks.num_tasks': integer(), 'tasks.zipf': number(ge=0),
    'tasks.offset': number(ge=0), 'model.activation': one_of(tuple(mlp.ACTIVATIONS)),
    'model.init': one_of(mlp.INITS), 'model.depth': integer(), 'model.init_scale': number(gt=0),
    'optimizer.name': one_of(optim.OPTIMIZERS), 'optimizer.schedule': one_of(optim.SCHEDULES),
    'optimizer.b1': number(ge=0, lt=1), 'optimizer.b2': number(ge=0, lt=1),
    'optimizer.eps': number(gt=0), 'train.compute_dtype': one_of(train.COMPUTE_DTYPES),
    'eval.examples_per_task': integer(), 'measure.every': integer(0, note='0 = no measurement'),
    'measure.probe_per_task': integer(), 'measure.reference_examples': integer(),
    'mixture.schedule': one_of(('iid', 'upweight', 'injection')), 'mixture.factor': number(gt=0),
    'mixture.gap': integer(), 'mixture.offset': integer(0),
    'population.layout': one_of(layout.LAYOUTS), 'population.bucket_factor': number(ge=1),
    'population.model_shards': integer(), 'seed': (rules.is_int, 'an integer')}
_BLOCK_REGRESSION = {'tasks.dims_per_task': integer(), 'tasks.rotate': FLAG}
_SPARSE_PARITY = {'tasks.num_data_bits': integer()}
# Scalars a member may carry besides width and seed (population.sweep.<key> = (values…)).
_SWEEP = {'rare_frequency': number(gt=0, lt=1), 'factor': number(gt=0),
          'gap': integer(), 'lr': number(gt=0)}


def _check(config, table: dict) -> None:
  for field, (test, accepted) in table.items():
    value = _get(config, field)
    if not test(value):
      fail(field, value, accepted)


def _per_task(config, field: str, num_tasks: int, minimum: float, strict: bool) -> list[float]:
  """A tuple with one value (for every task) or one value per task."""
  value = _get(config, field)
  values = list(value) if isinstance(value, (tuple, list)) else [value]
  bad = [v for v in values if not rules.is_num(v) or v < minimum or (strict and v == minimum)]
  if not values or bad or len(values) not in (1, num_tasks):
    fail(field, value, f'one number or {num_tasks} numbers (one per task), each '
          f'{">" if strict else ">="} {minimum}')
  return [float(v) for v in values] * (num_tasks if len(values) == 1 else 1)


def family(config) -> str:
  """``config.family``, checked (ConfigError names the field)."""
  value = config.get('family')
  if value not in families.names():
    fail('family', value, ', '.join(families.names()))
  return value


def is_ladder(config) -> bool:
  """A transformer-ladder config (configs/olmo_tiny.py, configs/olmo_ladder.py)."""
  return family(config) == 'token_ladder'


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError on the first unusable value: the field tables, then the rules that
  relate fields."""
  _check(config, _SHARED)
  steps, chunk = config.train.num_steps, config.train.steps_per_chunk
  if steps % chunk:
    fail('train.num_steps', steps,
          f'a multiple of train.steps_per_chunk={chunk} (every chunk has the same length)')
  module = families.get(family(config))
  if hasattr(module, 'Family'):  # a family written for one member: its schema and rules
    _check(config, module.Family.SCHEMA)
    module.Family.check(config)
    return
  if is_ladder(config):
    _validate_ladder(config)
    return
  _check(config, _MLP)
  parity = family(config) == 'sparse_parity'
  _check(config, _SPARSE_PARITY if parity else _BLOCK_REGRESSION)
  num_tasks = config.tasks.num_tasks
  if parity:
    _validate_parity(config, num_tasks)
  else:
    _per_task(config, 'tasks.decay', num_tasks, 0.0, strict=False)
  freqs = config.tasks.frequencies
  if freqs:
    values = _per_task(config, 'tasks.frequencies', num_tasks, 0.0, strict=True)
    if len(freqs) != num_tasks or abs(sum(values) - 1.0) > 1e-6:
      fail('tasks.frequencies', freqs, f'{num_tasks} positive numbers summing to 1 '
            '(or () for Zipf frequencies)')
  every = config.measure.every
  if every and chunk % every:
    fail('measure.every', every, f'0 or a divisor of train.steps_per_chunk={chunk}')
  for field in ('measure.rare_task', 'mixture.rare_task'):
    value = _get(config, field)
    if not (rules.is_int(value) and -num_tasks <= value < num_tasks):
      fail(field, value, f'a task index in [-{num_tasks}, {num_tasks - 1}]')
  _validate_sweep(config)
  _validate_mixture(config, num_tasks)
  if config.population.layout == 'packed' and not layout.packable(config.model.depth,
                                                                   shared_data(config)):
    fail('population.layout', 'packed', "'auto', 'bucketed' or 'padded' here: packing needs "
          'model.depth=1 and members that share their batches (no swept rare_frequency, factor '
          'or gap)')


def _validate_ladder(config) -> None:
  """The ladder's fields; its token file is checked where it is opened (``ladder.Ladder``,
  before a workdir is touched)."""
  _check(config, _LADDER)
  _check(config, {k: rule for k, rule in _LADDER_PLACEMENT.items()
                  if k.split('.')[1] in config[k.split('.')[0]]})
  micro = config.train.get('microbatch', 0)
  if any(b and config.train.batch_size % b for b in (micro if isinstance(micro, (tuple, list))
                                                     else [micro])):
    fail('train.microbatch', micro, f'0 or a divisor of train.batch_size='
          f'{config.train.batch_size}, one value or one per rung')
  m = config.model
  lengths = [len(_get(config, k)) for k in ('model.names', 'model.d_model', 'model.num_heads',
                                            'model.mlp', 'model.depth', 'model.model_shards',
                                            'model.group_size', 'train.microbatch')
             if isinstance(config[k.split('.')[0]].get(k.split('.')[1]), (tuple, list))]
  if len(set(lengths)) != 1:
    fail('model.names', m.names, 'as many rungs as model.d_model, num_heads, mlp, depth '
          f'and the per-rung placement fields (lengths {lengths})')
  for name, d, h in zip(m.names, m.d_model, m.num_heads):
    if d % h or (d // h) % 2:
      fail('model.num_heads', m.num_heads, f'heads that divide d_model into an even head_dim '
            f'(rung {name}: d_model {d}, {h} heads)')


def _validate_mixture(config, num_tasks: int) -> None:
  gap, burst = config.mixture.gap, config.mixture.burst_steps
  if not (rules.is_int(burst) and 0 <= burst <= gap):
    fail('mixture.burst_steps', burst, f'an integer in [0, mixture.gap={gap}] (0: as few '
          'batches as hold a burst)')
  if config.mixture.schedule != 'injection':
    return
  batch, rare = config.train.batch_size, config.mixture.rare_task % num_tasks
  for setting in sweep_settings(config):
    gap = setting.get('gap', config.mixture.gap)
    freq = frequencies(config, setting)[rare]
    total = mixture.burst_total(freq, gap, batch)
    shortest = mixture.shortest_burst(freq, gap, batch)
    if burst and total > burst * batch:
      fail('mixture.burst_steps', burst, f'enough batches for the {total} rare examples of a '
            f'burst every {gap} steps (at least {shortest}; 0 chooses that)')
    if not burst and shortest > gap:
      fail('mixture.gap', gap, f'a gap whose {total} rare examples fit in {gap} batches')


def _validate_parity(config, num_tasks: int) -> None:
  bits, orders = config.tasks.num_data_bits, config.tasks.orders
  if not (tuple_of(integer(1, bits), '')[0](orders) and len(orders) in (1, num_tasks)):
    fail('tasks.orders', orders, f'one order or {num_tasks} (one per subtask), each in '
          f'1…tasks.num_data_bits={bits}')
  if config.measure.every:
    fail('measure.every', config.measure.every, '0: per-task gradient measurements exist for '
          'the block_regression family only')
  if config.model.init == 'uniform' and config.model.depth != 1:
    fail('model.depth', config.model.depth, "1 with model.init='uniform'")


def parity_orders(config) -> list[int]:
  t = config.tasks
  return list(t.orders) * (t.num_tasks if len(t.orders) == 1 else 1)


def shared_data(config) -> bool:
  """Whether all members see the same batches (nothing swept that changes the data)."""
  return not any(config.population.sweep[key] for key in ('rare_frequency', 'factor', 'gap'))


def check_devices(config) -> None:
  """The settings that depend on this machine (run time, not part of ``validate``: a finished
  run can be inspected elsewhere)."""
  import jax  # pylint: disable=g-import-not-at-top
  field = 'model.model_shards' if is_ladder(config) else 'population.model_shards'
  if hasattr(families.get(family(config)), 'Family'):  # one device (not sharded yet)
    return
  shards = _get(config, field)
  if any(jax.device_count() % k for k in (shards if isinstance(shards, (tuple, list))
                                          else [shards])):
    fail(field, shards, f'a divisor of the {jax.device_count()} devices of this machine')


def _validate_sweep(config) -> None:
  sweep = config.population.sweep
  for key, (test, accepted) in _SWEEP.items():
    values = sweep[key]
    if not isinstance(values, (tuple, list)):
      fail(f'population.sweep.{key}', values, 'a tuple of values, one member group per value '
            '(() = not swept)')
    if not all(map(test, values)):
      fail(f'population.sweep.{key}', values, f'values each {accepted}')
  if sweep.rare_frequency and sweep.factor:
    fail('population.sweep.factor', sweep.factor,
          '() when population.sweep.rare_frequency is swept (both set π_r)')
  if sweep.gap and config.mixture.schedule != 'injection':
    fail('population.sweep.gap', sweep.gap, "() unless mixture.schedule='injection'")


def sweep_settings(config) -> list[dict]:
  """The swept scalar combinations: the product of the non-empty ``population.sweep`` axes in
  ``_SWEEP`` order ([{}] when nothing is swept). Each is one member group per width × seed."""
  sweep = config.population.sweep
  axes = {key: tuple(sweep[key]) for key in _SWEEP if sweep[key]}
  return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def frequencies(config, setting: dict | None = None) -> np.ndarray:
  """π [K]: explicit or Zipf; π_r then set by a swept ``rare_frequency`` or ``factor`` or, with
  ``mixture.schedule='upweight'``, by ``mixture.factor`` (the others renormalized). These are
  the long-run training frequencies (injection keeps π_r), used by the theory."""
  t, setting = config.tasks, setting or {}
  if t.frequencies:
    freqs = np.asarray(t.frequencies, np.float64) / np.sum(t.frequencies)
  else:
    freqs = br.zipf_frequencies(t.num_tasks, t.zipf, t.offset)
  rare = config.mixture.rare_task % t.num_tasks
  if 'rare_frequency' in setting:
    return mixture.with_frequency(freqs, rare, float(setting['rare_frequency']))
  if 'factor' in setting:
    return mixture.upweight(freqs, rare, float(setting['factor']))
  if config.mixture.schedule == 'upweight':
    return mixture.upweight(freqs, rare, float(config.mixture.factor))
  return freqs


def task_setup(config) -> tuple[np.ndarray, list[np.ndarray] | None, np.ndarray | None]:
  """(frequencies π [K], spectra λ_k [K × d], basis Q or None for the identity); spectra and
  basis None for sparse parity."""
  t, freqs = config.tasks, frequencies(config)
  if family(config) == 'sparse_parity':
    return freqs, None, None
  decay = _per_task(config, 'tasks.decay', t.num_tasks, 0.0, strict=False)
  spectra = br.power_spectra([t.dims_per_task] * t.num_tasks, decay)
  basis = None
  if t.rotate:
    import jax  # pylint: disable=g-import-not-at-top
    key = jax.random.fold_in(jax.random.key(config.seed), 3)
    basis = br.random_orthogonal(key, t.num_tasks * t.dims_per_task)
  return freqs, spectra, basis


def optimizer(config) -> optim.Hyper:
  """The optimizer of every family from ``config.optimizer`` and ``train.num_steps``; the
  ladder's is AdamW (β = 0.9, 0.95, decay on matrices only, clipping) with a cosine to 0.1."""
  o, steps = config.optimizer, int(config.train.num_steps)
  if is_ladder(config):
    return optim.Hyper(name='adamw', b1=0.9, b2=0.95, weight_decay=float(o.weight_decay),
                       decay='matrices', clip=float(o.clip), schedule='cosine',
                       warmup_steps=int(o.warmup_steps), num_steps=steps, final_lr_ratio=0.1)
  return optim.Hyper(name=o.name, b1=float(o.b1), b2=float(o.b2), eps=float(o.eps),
                     weight_decay=float(o.weight_decay), schedule=o.schedule,
                     warmup_steps=int(o.warmup_steps), num_steps=steps)


def hyper(config) -> train.Hyper:
  t, parity = config.tasks, family(config) == 'sparse_parity'
  return train.Hyper(
      dim=t.num_tasks + t.num_data_bits if parity else t.num_tasks * t.dims_per_task,
      family=family(config), out_dim=2 if parity else 0, init=config.model.init,
      depth=config.model.depth, activation=config.model.activation,
      init_scale=float(config.model.init_scale), opt=optimizer(config),
      batch_size=int(config.train.batch_size), steps_per_chunk=int(config.train.steps_per_chunk),
      compute_dtype=config.train.compute_dtype)


def task_schedule(config, freqs, setting: dict | None = None) -> mixture.Mixture | None:
  """The injection schedule, or None for i.i.d. draws from π (up-weighting is already in π)."""
  m = config.mixture
  if m.schedule != 'injection':
    return None
  gap = int((setting or {}).get('gap', m.gap))
  return mixture.injection(freqs, int(m.rare_task) % len(freqs), gap, int(m.burst_steps),
                           int(config.train.batch_size), int(m.offset))


def member_schedules(config, members: population.Members
                     ) -> tuple[np.ndarray, mixture.Mixture | None, int | None]:
  """(π of every member [M × K], the task schedule, its member axis) for ``make_chunk``.

  Without a swept frequency or gap every member sees the same batches (axis None; schedule
  None for i.i.d.); otherwise each member carries its own schedule (axis 0; i.i.d. members get
  ``mixture.iid`` of their π, which draws exactly the batches a standalone run would)."""
  freqs_MxK = np.stack([frequencies(config, s) for s in members.settings])
  if shared_data(config):
    return freqs_MxK, task_schedule(config, freqs_MxK[0]), None
  schedules = [task_schedule(config, f, s) or mixture.iid(f)
               for f, s in zip(freqs_MxK, members.settings)]
  return freqs_MxK, mixture.stack(schedules), 0


def measure_hyper(config) -> measure_step.MeasureHyper:
  m = config.measure
  return measure_step.MeasureHyper(
      every=int(m.every), rare_task=int(m.rare_task) % config.tasks.num_tasks,
      probe_per_task=int(m.probe_per_task), reference_examples=int(m.reference_examples))


def members(config) -> population.Members:
  return population.make_members(config.population.widths, config.population.seeds,
                                 config.optimizer.lr, sweep_settings(config))
