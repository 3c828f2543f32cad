"""From a ConfigDict to the objects a run needs, and the validation that comes first.

Every check here runs before anything compiles or touches the disk. A bad value raises
``ConfigError`` whose message is one line naming the field and what is accepted; ``main.py``
prints it and exits with status 2.
"""
from __future__ import annotations

import difflib
import importlib.util
import itertools
import math
import numbers
import os

import ml_collections
import numpy as np

from rarelearn import layout, optim, population, train, workdir
from rarelearn.measure import step as measure_step
from rarelearn.models import mlp
from rarelearn.tasks import block_regression as br
from rarelearn.tasks import mixture
from rarelearn.tasks import tokens

MIXTURE_SCHEDULES = ('iid', 'upweight', 'injection')
# config.family: the block-regression toy and the sparse-parity peer (MLP populations,
# rarelearn/run.py) and the token-task transformer ladder (rarelearn/ladder.py)
FAMILIES = ('block_regression', 'sparse_parity', 'token_ladder')
# Scalars a member may carry besides width and seed (population.sweep.<key> = (values…)).
SWEEP_KEYS = ('rare_frequency', 'factor', 'gap', 'lr')


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


def _fail(field: str, value, accepted: str):
  raise ConfigError(f'config.{field}={value!r} is not valid: expected {accepted}')


def _positive_int(config, field: str):
  value = _get(config, field)
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
    _fail(field, value, 'a positive integer')
  return int(value)


def _finite(config, field: str, minimum: float | None = None, strict: bool = False):
  value = _get(config, field)
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
    _fail(field, value, 'a finite number')
  if minimum is not None and (value < minimum or (strict and value == minimum)):
    _fail(field, value, f'a number {">" if strict else ">="} {minimum}')
  return float(value)


def _choice(config, field: str, choices):
  value = _get(config, field)
  if value not in choices:
    _fail(field, value, f'one of {", ".join(map(str, choices))}')
  return value


def _get(config, field: str):
  node = config
  for part in field.split('.'):
    node = node[part]
  return node


def _per_task(config, field: str, num_tasks: int, minimum: float, strict: bool) -> list[float]:
  """A tuple with one value (for every task) or one value per task."""
  value = _get(config, field)
  values = list(value) if isinstance(value, (tuple, list)) else [value]
  bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Real)
         or not math.isfinite(v) or v < minimum or (strict and v == minimum)]
  if not values or bad or len(values) not in (1, num_tasks):
    _fail(field, value, f'one number or {num_tasks} numbers (one per task), each '
          f'{">" if strict else ">="} {minimum}')
  return [float(v) for v in values] * (num_tasks if len(values) == 1 else 1)


def family(config) -> str:
  """``config.family``, checked (ConfigError names the field)."""
  value = config.get('family')
  if value not in FAMILIES:
    _fail('family', value, ', '.join(FAMILIES))
  return value


def is_ladder(config) -> bool:
  """A transformer-ladder config (configs/olmo_tiny.py, configs/olmo_ladder.py)."""
  return family(config) == 'token_ladder'


def validate_ladder(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError on the first unusable value of a ladder config. The token file is
  checked where it is opened (``ladder.build``, before a workdir is touched)."""
  m = config.model
  lengths = {k: m[k] for k in ('names', 'd_model', 'num_heads', 'mlp', 'depth')}
  for key, value in lengths.items():
    if not isinstance(value, (tuple, list)) or not value:
      _fail(f'model.{key}', value, 'a non-empty tuple with one entry per rung')
    if key != 'names' and any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                              or v <= 0 for v in value):
      _fail(f'model.{key}', value, 'a tuple of positive integers, one per rung')
  if len({len(v) for v in lengths.values()}) != 1:
    _fail('model.names', m.names, 'as many rungs as model.d_model, num_heads, mlp and depth '
          f'(lengths {[len(v) for v in lengths.values()]})')
  for name, d, h in zip(m.names, m.d_model, m.num_heads):
    if d % h or (d // h) % 2:
      _fail('model.num_heads', m.num_heads, f'heads that divide d_model into an even head_dim '
            f'(rung {name}: d_model {d}, {h} heads)')
  if _positive_int(config, 'model.vocab') <= tokens.NUM_TASK_TOKENS:
    _fail('model.vocab', m.vocab, f'more than {tokens.NUM_TASK_TOKENS} (the task tokens + EOD)')
  _positive_int(config, 'model.seeds')
  if _positive_int(config, 'data.seq_len') < 4:
    _fail('data.seq_len', config.data.seq_len, 'at least 4 (an instance is 4 tokens)')
  _choice(config, 'data.background', ('markov', 'file'))
  _choice(config, 'data.token_dtype', tokens.TOKEN_DTYPES)
  _choice(config, 'task.kind', tokens.KINDS)
  _choice(config, 'task.mode', tokens.MODES)
  freqs = config.task.frequencies
  if (not isinstance(freqs, (tuple, list)) or not freqs
      or any(isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < f <= 1
             for f in freqs)):
    _fail('task.frequencies', freqs, 'a non-empty tuple of instances per sequence in (0, 1]')
  _positive_int(config, 'task.gap')
  _finite(config, 'optimizer.clip', 0.0, strict=True)
  _validate_train(config)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError on the first unusable value."""
  if is_ladder(config):
    validate_ladder(config)
    return
  num_tasks = _validate_tasks(config)
  _choice(config, 'model.activation', tuple(mlp.ACTIVATIONS))
  _choice(config, 'model.init', mlp.INITS)
  _positive_int(config, 'model.depth')
  _finite(config, 'model.init_scale', 0.0, strict=True)
  _choice(config, 'optimizer.name', optim.OPTIMIZERS)
  _choice(config, 'optimizer.schedule', optim.SCHEDULES)
  for field in ('optimizer.b1', 'optimizer.b2'):
    if not 0.0 <= _finite(config, field) < 1.0:
      _fail(field, _get(config, field), 'a number in [0, 1)')
  _finite(config, 'optimizer.eps', 0.0, strict=True)
  _validate_train(config)
  _choice(config, 'train.compute_dtype', train.COMPUTE_DTYPES)
  _positive_int(config, 'eval.examples_per_task')
  every = _nonnegative_int(config, 'measure.every', '0 = no measurement')
  if every and config.train.steps_per_chunk % every:
    _fail('measure.every', every,
          f'0 or a divisor of train.steps_per_chunk={config.train.steps_per_chunk}')
  _task_index(config, 'measure.rare_task', num_tasks)
  _positive_int(config, 'measure.probe_per_task')
  _positive_int(config, 'measure.reference_examples')
  _validate_mixture(config, num_tasks)
  _validate_sweep(config)
  _validate_layout(config)
  if isinstance(config.seed, bool) or not isinstance(config.seed, numbers.Integral):
    _fail('seed', config.seed, 'an integer')


def _nonnegative_int(config, field: str, note: str = '') -> int:
  value = _get(config, field)
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
    _fail(field, value, 'an integer >= 0' + (f' ({note})' if note else ''))
  return value


def _task_index(config, field: str, num_tasks: int) -> int:
  value = _get(config, field)
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or not -num_tasks <= value < num_tasks):
    _fail(field, value, f'a task index in [-{num_tasks}, {num_tasks - 1}]')
  return value


def _validate_train(config) -> None:
  """The fields every family shares: learning rate, weight decay, warmup, steps and chunks,
  batch, learned threshold, checkpoints."""
  _finite(config, 'optimizer.lr', 0.0, strict=True)
  _finite(config, 'optimizer.weight_decay', 0.0)
  _nonnegative_int(config, 'optimizer.warmup_steps')
  steps = _positive_int(config, 'train.num_steps')
  chunk = _positive_int(config, 'train.steps_per_chunk')
  if steps % chunk:
    _fail('train.num_steps', steps,
          f'a multiple of train.steps_per_chunk={chunk} (every chunk has the same length)')
  _positive_int(config, 'train.batch_size')
  if not 0.0 < _finite(config, 'train.learned_threshold') <= 1.0:
    _fail('train.learned_threshold', config.train.learned_threshold, 'a number in (0, 1]')
  _positive_int(config, 'train.checkpoint_every_chunks')
  _positive_int(config, 'train.keep_checkpoints')


def _validate_tasks(config) -> int:
  """The population's widths and seeds and the family's task fields; returns K."""
  widths = config.population.widths
  if (not isinstance(widths, (tuple, list)) or not widths
      or any(isinstance(w, bool) or not isinstance(w, numbers.Integral) or w <= 0
             for w in widths)):
    _fail('population.widths', widths, 'a non-empty tuple of positive integers, e.g. (8,32,128)')
  _positive_int(config, 'population.seeds')
  num_tasks = _positive_int(config, 'tasks.num_tasks')
  if family(config) == 'sparse_parity':
    _validate_parity(config, num_tasks)
  else:
    _positive_int(config, 'tasks.dims_per_task')
    if not isinstance(config.tasks.rotate, bool):
      _fail('tasks.rotate', config.tasks.rotate, 'True or False')
    _per_task(config, 'tasks.decay', num_tasks, 0.0, strict=False)
  _finite(config, 'tasks.zipf', 0.0)
  _finite(config, 'tasks.offset', 0.0)
  freqs = config.tasks.frequencies
  if freqs:
    values = _per_task(config, 'tasks.frequencies', num_tasks, 0.0, strict=True)
    if len(freqs) != num_tasks or abs(sum(values) - 1.0) > 1e-6:
      _fail('tasks.frequencies', freqs, f'{num_tasks} positive numbers summing to 1 '
            '(or () for Zipf frequencies)')
  return num_tasks


def _validate_mixture(config, num_tasks: int) -> None:
  _choice(config, 'mixture.schedule', MIXTURE_SCHEDULES)
  rare = _task_index(config, 'mixture.rare_task', num_tasks)
  _finite(config, 'mixture.factor', 0.0, strict=True)
  gap = _positive_int(config, 'mixture.gap')
  burst = config.mixture.burst_steps
  if (isinstance(burst, bool) or not isinstance(burst, numbers.Integral)
      or not 0 <= burst <= gap):
    _fail('mixture.burst_steps', burst, f'an integer in [0, mixture.gap={gap}] (0: as few '
          'batches as hold a burst)')
  _nonnegative_int(config, 'mixture.offset')
  if config.mixture.schedule != 'injection':
    return
  batch = config.train.batch_size
  for setting in sweep_settings(config):
    gap = setting.get('gap', config.mixture.gap)
    freq = frequencies(config, setting)[rare % num_tasks]
    total = mixture.burst_total(freq, gap, batch)
    shortest = mixture.shortest_burst(freq, gap, batch)
    if burst and total > burst * batch:
      _fail('mixture.burst_steps', burst, f'enough batches for the {total} rare examples of a '
            f'burst every {gap} steps (at least {shortest}; 0 chooses that)')
    if not burst and shortest > gap:
      _fail('mixture.gap', gap, f'a gap whose {total} rare examples fit in {gap} batches')


def _validate_parity(config, num_tasks: int) -> None:
  bits = _positive_int(config, 'tasks.num_data_bits')
  orders = config.tasks.orders
  if (not isinstance(orders, (tuple, list)) or len(orders) not in (1, num_tasks)
      or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= bits
             for k in orders)):
    _fail('tasks.orders', orders, f'one order or {num_tasks} (one per subtask), each in '
          f'1…tasks.num_data_bits={bits}')
  if config.measure.every:
    _fail('measure.every', config.measure.every, '0: per-task gradient measurements exist for '
          'the block_regression family only')
  if config.model.init == 'uniform' and config.model.depth != 1:
    _fail('model.depth', config.model.depth, "1 with model.init='uniform'")


def parity_orders(config) -> list[int]:
  t = config.tasks
  return list(t.orders) * (t.num_tasks if len(t.orders) == 1 else 1)


def shared_data(config) -> bool:
  """Whether all members see the same batches (nothing swept that changes the data)."""
  return not any(config.population.sweep[key] for key in ('rare_frequency', 'factor', 'gap'))


def _validate_layout(config) -> None:
  _choice(config, 'population.layout', layout.LAYOUTS)
  _finite(config, 'population.bucket_factor', 1.0)
  _positive_int(config, 'population.model_shards')
  if config.population.layout == 'packed' and not layout.packable(config.model.depth,
                                                                   shared_data(config)):
    _fail('population.layout', 'packed', "'auto', 'bucketed' or 'padded' here: packing needs "
          'model.depth=1 and members that share their batches (no swept rare_frequency, factor '
          'or gap)')


def check_devices(config) -> None:
  """The settings that depend on this machine (run time, not part of ``validate``: a finished
  run can be inspected elsewhere)."""
  import jax  # pylint: disable=g-import-not-at-top
  shards = config.population.model_shards
  if jax.device_count() % shards:
    _fail('population.model_shards', shards, f'a divisor of the {jax.device_count()} devices '
          'of this machine')


def _validate_sweep(config) -> None:
  sweep = config.population.sweep
  for key in SWEEP_KEYS:
    values = sweep[key]
    field = f'population.sweep.{key}'
    if not isinstance(values, (tuple, list)):
      _fail(field, values, 'a tuple of values, one member group per value (() = not swept)')
    for v in values:
      bad = isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)
      if key == 'rare_frequency':
        bad = bad or not 0.0 < v < 1.0
      elif key == 'gap':
        bad = bad or not isinstance(v, numbers.Integral) or v <= 0
      else:
        bad = bad or v <= 0
      if bad:
        _fail(field, values, {'rare_frequency': 'frequencies in (0, 1)',
                              'gap': 'positive integers'}.get(key, 'positive numbers'))
  if sweep.rare_frequency and sweep.factor:
    _fail('population.sweep.factor', sweep.factor,
          '() when population.sweep.rare_frequency is swept (both set π_r)')
  if sweep.gap and config.mixture.schedule != 'injection':
    _fail('population.sweep.gap', sweep.gap, "() unless mixture.schedule='injection'")


def sweep_settings(config) -> list[dict]:
  """The swept scalar combinations: the product of the non-empty ``population.sweep`` axes in
  ``SWEEP_KEYS`` order ([{}] when nothing is swept). Each is one member group per width × seed."""
  axes = [(key, tuple(config.population.sweep[key])) for key in SWEEP_KEYS
          if config.population.sweep[key]]
  keys = [key for key, _ in axes]
  return [dict(zip(keys, combo)) for combo in itertools.product(*[v for _, v in axes])]


def frequencies(config, setting: dict | None = None) -> np.ndarray:
  """π [K]: explicit or Zipf; π_r then set by a swept ``rare_frequency`` or ``factor`` or, with
  ``mixture.schedule='upweight'``, by ``mixture.factor`` (the others renormalized). These are
  the long-run training frequencies (injection keeps π_r), used by the theory."""
  t, setting = config.tasks, setting or {}
  if t.frequencies:
    freqs = np.asarray(t.frequencies, np.float64)
    freqs = freqs / freqs.sum()
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
  t = config.tasks
  freqs = frequencies(config)
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


def hyper(config) -> train.Hyper:
  t, parity = config.tasks, family(config) == 'sparse_parity'
  return train.Hyper(
      dim=t.num_tasks + t.num_data_bits if parity else t.num_tasks * t.dims_per_task,
      family=family(config), out_dim=2 if parity else 0, init=config.model.init,
      max_width=max(config.population.widths), depth=config.model.depth,
      activation=config.model.activation, init_scale=float(config.model.init_scale),
      optimizer=config.optimizer.name, b1=float(config.optimizer.b1),
      b2=float(config.optimizer.b2), eps=float(config.optimizer.eps),
      weight_decay=float(config.optimizer.weight_decay), schedule=config.optimizer.schedule,
      warmup_steps=int(config.optimizer.warmup_steps), num_steps=int(config.train.num_steps),
      batch_size=int(config.train.batch_size),
      steps_per_chunk=int(config.train.steps_per_chunk),
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
