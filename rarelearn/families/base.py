"""The Family interface: what differs between model families, written for ONE member.

A family module (``rarelearn/families/<name>.py``, registered by its file name) defines
``Family(base.Family)``. The population layer (``family_population.FamilyPopulation``) adds the
member axis once — ``jax.vmap`` over the traced per-member values ``member`` — jits a chunk of
steps (one compiled program for every member: sizes are padded and masked, as ``DESIGN.md``
says) and runs the optimizer (``optim``: per-member lr, divergence freezing); the host loop
(``loop.run``) drives it. A family never sees a member axis, a layout or a mesh.

Shape letters (rarelearn/__init__.py): B batch, K tasks (a family's units of evaluation: block
regression's tasks, parity's subtasks, superposition's features).

What a family provides, and what the population calls:

- ``SCHEMA``: config field → rule (``rules.integer``, ``number``, ``one_of``, …), checked in
  order before anything compiles; ``check(config)``: the rules that relate fields (raise
  ``configlib.ConfigError`` through ``configlib.fail``).
- ``__init__(config)``: the static settings (part of the compiled program) in ``self``.
- ``members()``: one dict per member describing it (size, seed, swept values); ``seed`` is the
  one that keys its initialization, so members of one seed start nested.
- ``member_values(rows)``: the traced per-member values, a pytree with leading axis M.
- ``init(key, member)`` → params of one member (padded to the population's largest size).
- ``batch_at(key, step, member)`` → the batch of ``step``, drawn from ``fold_in(key, step)``
  (a resumed run sees the same data).
- ``split_loss(params, batch, member)`` → [K]: the training loss split by task — the loss is
  their sum, so ``jax.grad`` of entry k is task k's share of the gradient (measurements and
  interventions work on this split, for every family).
- ``evaluate(params, member, key)`` → {metric: [K] or scalar}; ``task_loss`` [K] among them.
- ``optimizer()`` → ``optim.Hyper``; ``lr(member)`` → the member's peak learning rate.
- ``learned(final)`` → [M, K] bools from the final metrics [M, K] (``summary``'s ``learned``).
- hooks with defaults: ``tasks()`` (per-task descriptions), ``summarize(summary)`` (family
  numbers added to the summary), ``result(summary)`` (the one line ``rarelearn.main`` prints),
  ``table(results, members, tasks)`` (``rarelearn.inspect``), ``figure_files`` (name →
  plot(summary, rows, path)), ``flops_per_step(row)`` and ``num_params(row)``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


class Family:
  """One member's everything (see the module docstring); subclasses fill in the methods."""
  SCHEMA: dict = {}
  figure_files: dict[str, Callable] = {}

  def __init__(self, config):
    self.config = config

  # -- the config ---------------------------------------------------------------------------
  @classmethod
  def check(cls, config) -> None:
    """The rules that relate fields (ConfigError); the field rules are ``SCHEMA``."""

  def members(self) -> list[dict]:
    raise NotImplementedError

  def member_values(self, rows: list[dict]) -> Any:
    raise NotImplementedError

  # -- one member ---------------------------------------------------------------------------
  def init(self, key, member) -> Any:
    raise NotImplementedError

  def batch_at(self, key, step, member) -> Any:
    raise NotImplementedError

  def split_loss(self, params, batch, member):
    raise NotImplementedError

  def evaluate(self, params, member, key) -> dict:
    raise NotImplementedError

  def optimizer(self):
    raise NotImplementedError

  def lr(self, member):
    raise NotImplementedError

  # -- the host's side ----------------------------------------------------------------------
  def learned(self, final: dict) -> np.ndarray:
    """[M, K] which tasks each member learned: score 1 − task_loss ≥ ``train.learned_threshold``."""
    return 1.0 - np.asarray(final['task_loss']) >= self.config.train.learned_threshold

  def tasks(self) -> list[dict]:
    """One dict per task describing it (its index, frequency, …)."""
    return []

  def summarize(self, summary: dict) -> dict:
    """The family's numbers of a run, added to its summary (``summary.json``)."""
    return {}

  def result(self, summary: dict) -> str:
    """The one line ``rarelearn.main`` prints of a finished run."""
    learned = np.asarray(summary['final']['learned'])
    return f'tasks learned per member: {", ".join(str(int(n)) for n in learned.sum(axis=1))}'

  def table(self, results: list[dict], members: list[int], tasks: list[int]) -> str:
    """The members × tasks table ``rarelearn.inspect`` prints: task_loss ('*' learned)."""
    described = [k for k, v in results[0].items() if k != 'member' and not isinstance(v, list)]
    head = '  '.join(f'{h:>8}' for h in described) + '  ' + ' '.join(f'{f"t{k}":>7}'
                                                                       for k in tasks)
    lines = [head]
    for m in members:
      r = results[m]
      cells = ' '.join(f'{r["task_loss"][k]:6.3f}{"*" if r["learned"][k] else " "}'
                       for k in tasks)
      lines.append('  '.join(f'{r[h]!s:>8}' for h in described) + '  ' + cells)
    return '\n'.join(lines)

  def flops_per_step(self, row: dict) -> float:
    raise NotImplementedError

  def num_params(self, row: dict) -> int:
    raise NotImplementedError
