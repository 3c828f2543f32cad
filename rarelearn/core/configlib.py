"""Configs: loading a file with its ``--config.key=value`` overrides, the fields every family
shares and their rules, and ``ConfigError``. Each family's own fields are checked by its module
(``families.validate`` runs both).

Every check runs before anything compiles or touches the disk. A bad value raises
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

from rarelearn.core import optim, rules
from rarelearn.core.rules import integer, number


class ConfigError(ValueError):
  """A config value (or a workdir) that cannot be used; str(e) is the one line shown to the
  user, naming the field."""


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


def check_shared(config) -> None:
  """The fields every family has (ConfigError at the first unusable one)."""
  check_fields(config, _SHARED)
  steps, chunk = config.train.num_steps, config.train.steps_per_chunk
  if steps % chunk:
    fail('train.num_steps', steps,
         f'a multiple of train.steps_per_chunk={chunk} (every chunk has the same length)')


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


def shared_data(config) -> bool:
  """Whether all members see the same batches (nothing swept that changes the data)."""
  return not any(config.population.sweep[key] for key in ('rare_frequency', 'factor', 'gap'))


def sweep_settings(config) -> list[dict]:
  """The swept scalar combinations: the product of the non-empty ``population.sweep`` axes in
  ``SWEEP`` order ([{}] when nothing is swept). Each is one member group per width × seed."""
  sweep = config.population.sweep
  axes = {key: tuple(sweep[key]) for key in SWEEP if sweep[key]}
  return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def optimizer(config) -> optim.Hyper:
  """The MLP families' optimizer from ``config.optimizer`` and ``train.num_steps``."""
  o, steps = config.optimizer, int(config.train.num_steps)
  return optim.Hyper(name=o.name, b1=float(o.b1), b2=float(o.b2), eps=float(o.eps),
                     weight_decay=float(o.weight_decay), schedule=o.schedule,
                     warmup_steps=int(o.warmup_steps), num_steps=steps)
