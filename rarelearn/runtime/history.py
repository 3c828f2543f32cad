"""A run's rows as arrays, the same for every family: ``History`` holds the metric rows of a run
(``loop.run`` returns it; ``History.load(workdir)`` reads any workdir's ``metrics.jsonl``) and
gives ``[M, P, …]`` arrays over the P evaluated steps of a key, plus the member table."""
from __future__ import annotations

import dataclasses

import numpy as np

from rarelearn.runtime import workdir as wd


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
