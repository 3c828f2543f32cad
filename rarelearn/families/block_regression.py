"""Block regression (configs/sweep.py and its kin): MLP members over widths × seeds × swept
scalars on K regression tasks, the utility theory's toy — the population of ``run.Sweep``
(``configlib`` holds its schema; both move here when the family is ported to ``base.Family``)."""
from __future__ import annotations

from rarelearn import run


def population(config):
  return run.Sweep(config)
