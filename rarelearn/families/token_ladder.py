"""The transformer ladder (configs/olmo_tiny.py, configs/olmo_ladder.py): rungs × injection
frequencies × seeds of an OLMo-style transformer on a token stream with an injected task — the
population of ``ladder.Ladder`` (``configlib`` holds its schema; both move here when the family
is ported to ``base.Family``)."""
from __future__ import annotations

from rarelearn import ladder


def population(config):
  return ladder.Ladder(config)
