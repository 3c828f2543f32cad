"""The registry of families: a config's ``family`` names a module of this package.

A family is a module ``rarelearn/families/<name>.py`` (not ``base``, nor a name starting with
``_``); its file name is the ``family`` a config gives. It defines either ``Family`` (a
subclass of ``base.Family``, written for ONE member: the population layer adds the member axis)
or, for the families still written as their own population, ``population(config)`` and
``validate(config)``:

- ``block_regression`` (configs/sweep.py and its kin) and ``sparse_parity`` (configs/msp.py):
  MLP members over widths × seeds × swept scalars (``mlp_sweep.Sweep``);
- ``token_ladder`` (configs/olmo_tiny.py, configs/olmo_ladder.py): transformer rungs ×
  injection frequencies × seeds (``ladder.Ladder``).

A new family is one new module here and a config: ``names()`` finds it, ``rarelearn.main``,
``rarelearn.inspect``, the bench and the tests build its population through ``population``.
Modules are imported when a config asks for them, so that reading this registry imports no
family.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
import types

from rarelearn.core import configlib

_NOT_FAMILIES = ('base',)


@functools.lru_cache(maxsize=None)
def names() -> tuple[str, ...]:
  """Every family's name (its module's), sorted."""
  return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                      if m.name not in _NOT_FAMILIES and not m.name.startswith('_')))


def get(name: str) -> types.ModuleType:
  """The module of the family ``name`` (KeyError naming the known ones if there is none)."""
  if name not in names():
    raise KeyError(f'unknown family {name!r}; expected one of {", ".join(names())}')
  return importlib.import_module(f'{__name__}.{name}')


def name_of(config) -> str:
  """``config.family``, checked (ConfigError names the field)."""
  value = config.get('family')
  if value not in names():
    configlib.fail('family', value, ', '.join(names()))
  return value


def validate(config) -> None:
  """Raises ``configlib.ConfigError`` on the first unusable value: the fields every family has,
  the interventions' (``population.interventions``), then the family's own (its module's
  ``validate``, or its ``Family.SCHEMA`` and ``check``). Runs before anything compiles or
  touches the disk."""
  configlib.check_shared(config)
  if config.get('intervention') is not None:
    from rarelearn.population import interventions  # pylint: disable=g-import-not-at-top
    configlib.check_fields(config, interventions.SCHEMA)
  module = get(name_of(config))
  if hasattr(module, 'validate'):  # a family with its own population validates its config
    module.validate(config)
  else:  # a family written for one member: its schema and rules
    configlib.check_fields(config, module.Family.SCHEMA)
    module.Family.check(config)


def check_devices(config) -> None:
  """The settings that depend on this machine (run time, not part of ``validate``: a finished
  run can be inspected elsewhere): a family's ``SHARDS_FIELD`` divides the device count."""
  import jax  # pylint: disable=g-import-not-at-top
  field = getattr(get(name_of(config)), 'SHARDS_FIELD', None)
  if field is None:  # a family that is not split over devices
    return
  shards = configlib.get(config, field)
  if any(jax.device_count() % k for k in (shards if isinstance(shards, (tuple, list))
                                          else [shards])):
    configlib.fail(field, shards, f'a divisor of the {jax.device_count()} devices of this machine')


def population(config):
  """The population ``loop.run`` drives for a (validated) config: the family's own (its
  module's ``population``), or its ``Family`` with the member axis added
  (``family_population.FamilyPopulation``) — always where members intervene on their
  updates."""
  from rarelearn.population import family_population  # pylint: disable=g-import-not-at-top
  module = get(config.family)
  if hasattr(module, 'population') and not family_population.intervening(config):
    return module.population(config)
  return family_population.FamilyPopulation(module.Family(config))
