"""Multitask sparse parity (configs/msp.py; Michaud et al. 2023): MLP members over widths ×
seeds on K subtasks, each the parity of its own k_t of n data bits — a population of
``mlp_sweep.Sweep`` with a cross-entropy loss (what it provides: families/block_regression.py)."""
from __future__ import annotations

import sys

from rarelearn.core import configlib
from rarelearn.core.rules import integer, tuple_of
from rarelearn.families import _mlp
from rarelearn.population import mlp_setup
from rarelearn.tasks import sparse_parity as TASK  # pylint: disable=invalid-name

LOSS, OUTPUT_DIM = 'cross_entropy', 2  # a parity label
SHARDS_FIELD = _mlp.SHARDS_FIELD
HAS_THEORY = False  # the utility theory predicts its learned set (rarelearn/analysis/theory.py)
lever_records = _mlp.lever_records


def validate(config) -> None:
  _mlp.validate(config, {'tasks.num_data_bits': integer()}, _check_tasks)


def _check_tasks(config, num_tasks: int) -> None:
  bits, orders = config.tasks.num_data_bits, config.tasks.orders
  if not (tuple_of(integer(1, bits), '')[0](orders) and len(orders) in (1, num_tasks)):
    configlib.fail('tasks.orders', orders, f'one order or {num_tasks} (one per subtask), each '
                   f'in 1…tasks.num_data_bits={bits}')
  if config.measure.every:
    configlib.fail('measure.every', config.measure.every, '0: per-task gradient measurements '
                   'exist for the block_regression family only')
  if config.model.init == 'uniform' and config.model.depth != 1:
    configlib.fail('model.depth', config.model.depth, "1 with model.init='uniform'")


def orders(config) -> list[int]:
  """k_t of every subtask."""
  t = config.tasks
  return list(t.orders) * (t.num_tasks if len(t.orders) == 1 else 1)


def input_dim(config) -> int:
  return config.tasks.num_tasks + config.tasks.num_data_bits  # control bits, data bits


def task_setup(config):
  """(frequencies π [K], None, None): no spectra, no basis."""
  return mlp_setup.frequencies(config), None, None


def make_spec(config, freqs, spectra, basis):
  return TASK.make_spec(freqs, orders(config), config.tasks.num_data_bits, seed=config.seed)


def exact_eval(config) -> bool:
  return False


def describe_tasks(config, tasks: list[dict]) -> None:
  for task, order in zip(tasks, orders(config)):
    task['order'] = order


class Family(_mlp.Family):
  """One member of this family (``base.Family``; ``_mlp.Family``)."""
  TASK_MODULE = sys.modules[__name__]


def population(config):
  from rarelearn.population import mlp_sweep  # pylint: disable=g-import-not-at-top
  return mlp_sweep.Sweep(config, sys.modules[__name__])
