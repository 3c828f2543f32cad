"""A run's results, the same for every family: the history of its evaluations and the analyses
the experiments, ``inspect`` and the bench read off it (``frontier``, ``is_monotone``,
``steps_to_reach``).

``History``: the metric rows of a run (``loop.run`` returns it; ``History.load(workdir)`` reads
any workdir's ``metrics.jsonl``) as arrays ``[M, P, …]`` over the P evaluated steps of a key,
plus the member table.

Shape letters (the package legend, rarelearn/__init__.py): M members, P evaluations, N sizes,
F frequencies.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from rarelearn import workdir as wd


@dataclasses.dataclass
class History:
  rows: list[dict]  # one per (evaluated step, member), as in metrics.jsonl
  members: list[dict]  # one per member

  @classmethod
  def load(cls, workdir: str, members: list[dict] | None = None) -> 'History':
    """The history of a workdir's run (members from its ``summary.json`` unless given)."""
    if members is None:
      members = wd.read_summary(workdir)['members']
    return cls(wd.read_metrics(workdir), members)

  def steps(self, key: str) -> np.ndarray:
    """[P] the steps at which ``key`` was recorded."""
    return np.asarray(sorted({r['step'] for r in self.rows if key in r}), np.int64)

  def array(self, key: str, dtype=np.float64) -> np.ndarray:
    """[M, P, …] ``key`` of every member at each of ``steps(key)`` (NaN where a member has no
    row)."""
    steps = self.steps(key)
    where = {int(s): p for p, s in enumerate(steps)}
    rows = [r for r in self.rows if key in r]
    shape = np.shape(rows[0][key]) if rows else ()
    out = np.full((len(self.members), len(steps), *shape), np.nan)
    for r in rows:
      out[r['member'], where[r['step']]] = r[key]
    return out.astype(dtype)


def steps_to_reach(steps: Sequence[int], reached: Sequence[bool]) -> int | None:
  """The first evaluated step from which ``reached`` holds to the end (None if it ends False)."""
  reached = np.asarray(reached, bool)
  if not reached[-1]:
    return None
  misses = np.flatnonzero(~reached)
  return int(steps[misses[-1] + 1]) if misses.size else int(steps[0])


def frontier(learned_NxF, sizes: Sequence, freqs: Sequence) -> tuple[dict, dict]:
  """(size → the lowest frequency it learned, frequency → the smallest size that learned it);
  None where there is none."""
  learned = np.asarray(learned_NxF, bool)
  by_size = {s: min((f for f, ok in zip(freqs, learned[i]) if ok), default=None)
             for i, s in enumerate(sizes)}
  by_freq = {f: min((s for s, ok in zip(sizes, learned[:, j]) if ok), default=None)
             for j, f in enumerate(freqs)}
  return by_size, by_freq


def is_monotone(learned_NxF) -> bool:
  """The learned set is closed upwards (sizes and frequencies ascending): learned at (N, f) ⇒
  learned at every larger size and higher frequency."""
  grid = np.asarray(learned_NxF, int)
  return bool(np.all(np.diff(grid, axis=0) >= 0) and np.all(np.diff(grid, axis=1) >= 0))
