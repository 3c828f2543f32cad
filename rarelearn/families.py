"""The families: a config's ``family`` → the population ``loop.run`` drives.

- ``block_regression`` (configs/sweep.py and its kin) and ``sparse_parity`` (configs/msp.py):
  MLP members over widths × seeds × swept scalars, ``run.Sweep``;
- ``token_ladder`` (configs/olmo_tiny.py, configs/olmo_ladder.py): transformer rungs ×
  injection frequencies × seeds, ``ladder.Ladder``.

``rarelearn.main``, ``rarelearn.inspect`` and the tests build a run's population here, so a
fourth family is one more entry (and ``configlib.FAMILIES``).
"""
from __future__ import annotations

from rarelearn import configlib, ladder, run


def population(config):
  """The population of a (validated) config."""
  return (ladder.Ladder if configlib.family(config) == 'token_ladder' else run.Sweep)(config)
