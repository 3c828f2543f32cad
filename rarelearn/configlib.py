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

from rarelearn import families, interventions, optim, population, rules, train, workdir
from rarelearn.measure import step as measure_step
from rarelearn.rules import integer, number
from rarelearn.tasks import block_regression as br
from rarelearn.tasks import mixture


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



def get(config, field: str):
  """The value of a dotted field."""
  return functools.reduce(lambda node, part: node[part], field.split('.'), config)


# Field rules (``rules``): each field's rule is declared once in a table (here, and in each
# family's module); ``check_fields`` applies a table in order and stops at the first failure.

_SHARED = {  # every family
    'optimizer.lr': number(gt=0), 'optimizer.weight_decay': number(ge=0),
    'optimizer.warmup_steps': integer(0), 'train.num_steps': integer(),
    'train.steps_per_chunk': integer(), 'train.batch_size': integer(),
    'train.learned_threshold': number(gt=0, le=1), 'train.checkpoint_every_chunks': integer(),
    'train.keep_checkpoints': integer()}
# Scalars a member may carry besides width and seed (population.sweep.<key> = (values…)).
SWEEP = {'rare_frequency': number(gt=0, lt=1), 'factor': number(gt=0),
          'gap': integer(), 'lr': number(gt=0)}


def check_fields(config, table: dict) -> None:
  """Each field of ``table`` against its rule, in order (ConfigError at the first failure)."""
  for field, (test, accepted) in table.items():
    value = get(config, field)
    if not test(value):
      fail(field, value, accepted)


def per_task(config, field: str, num_tasks: int, minimum: float, strict: bool) -> list[float]:
  """A tuple with one value (for every task) or one value per task."""
  value = get(config, field)
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


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError on the first unusable value: the fields every family has, then the
  family's own (its module's ``validate``, or its ``Family.SCHEMA`` and ``check``)."""
  check_fields(config, _SHARED)
  steps, chunk = config.train.num_steps, config.train.steps_per_chunk
  if steps % chunk:
    fail('train.num_steps', steps,
          f'a multiple of train.steps_per_chunk={chunk} (every chunk has the same length)')
  if config.get('intervention') is not None:
    check_fields(config, interventions.SCHEMA)
  module = families.get(family(config))
  if hasattr(module, 'validate'):  # a family with its own population validates its config
    module.validate(config)
  else:  # a family written for one member: its schema and rules
    check_fields(config, module.Family.SCHEMA)
    module.Family.check(config)


def shared_data(config) -> bool:
  """Whether all members see the same batches (nothing swept that changes the data)."""
  return not any(config.population.sweep[key] for key in ('rare_frequency', 'factor', 'gap'))


def check_devices(config) -> None:
  """The settings that depend on this machine (run time, not part of ``validate``: a finished
  run can be inspected elsewhere)."""
  import jax  # pylint: disable=g-import-not-at-top
  field = getattr(families.get(family(config)), 'SHARDS_FIELD', None)
  if field is None:  # a family that is not split over devices
    return
  shards = get(config, field)
  if any(jax.device_count() % k for k in (shards if isinstance(shards, (tuple, list))
                                          else [shards])):
    fail(field, shards, f'a divisor of the {jax.device_count()} devices of this machine')


def sweep_settings(config) -> list[dict]:
  """The swept scalar combinations: the product of the non-empty ``population.sweep`` axes in
  ``SWEEP`` order ([{}] when nothing is swept). Each is one member group per width × seed."""
  sweep = config.population.sweep
  axes = {key: tuple(sweep[key]) for key in SWEEP if sweep[key]}
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
  """An MLP family's (frequencies π [K], spectra λ_k [K × d] or None where the family has no
  spectra, basis Q or None for the identity): its module's ``task_setup``."""
  return families.get(family(config)).task_setup(config)


def optimizer(config) -> optim.Hyper:
  """The MLP families' optimizer from ``config.optimizer`` and ``train.num_steps``."""
  o, steps = config.optimizer, int(config.train.num_steps)
  return optim.Hyper(name=o.name, b1=float(o.b1), b2=float(o.b2), eps=float(o.eps),
                     weight_decay=float(o.weight_decay), schedule=o.schedule,
                     warmup_steps=int(o.warmup_steps), num_steps=steps)


def hyper(config) -> train.Hyper:
  """An MLP family's static settings; its module gives the input and output sizes and the
  loss."""
  module = families.get(family(config))
  return train.Hyper(
      dim=module.input_dim(config), loss=module.LOSS, out_dim=module.OUTPUT_DIM,
      init=config.model.init,
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


def member_schedule(config, freqs, setting: dict) -> mixture.Mixture:
  """One member's own task schedule: its injection, or i.i.d. draws from its π
  (``mixture.iid``, which draws exactly the batches a run without a schedule would)."""
  return task_schedule(config, freqs, setting) or mixture.iid(freqs)


def member_schedules(config, members: population.Members
                     ) -> tuple[np.ndarray, mixture.Mixture | None, int | None]:
  """(π of every member [M × K], the task schedule, its member axis) for ``make_chunk``.

  Without a swept frequency or gap every member sees the same batches (axis None; schedule
  None for i.i.d.); otherwise each member carries its own schedule (axis 0; i.i.d. members get
  ``mixture.iid`` of their π, which draws exactly the batches a standalone run would)."""
  freqs_MxK = np.stack([frequencies(config, s) for s in members.settings])
  if shared_data(config):
    return freqs_MxK, task_schedule(config, freqs_MxK[0]), None
  schedules = [member_schedule(config, f, s) for f, s in zip(freqs_MxK, members.settings)]
  return freqs_MxK, mixture.stack(schedules), 0


def measure_hyper(config) -> measure_step.MeasureHyper:
  m = config.measure
  return measure_step.MeasureHyper(
      every=int(m.every), rare_task=int(m.rare_task) % config.tasks.num_tasks,
      probe_per_task=int(m.probe_per_task), reference_examples=int(m.reference_examples))


def members(config) -> population.Members:
  return population.make_members(config.population.widths, config.population.seeds,
                                 config.optimizer.lr, sweep_settings(config))
