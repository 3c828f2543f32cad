"""Multitask sparse parity (configs/msp.py; Michaud et al. 2023): the MLP population of
``run.Sweep`` with a cross-entropy loss (``configlib`` holds its schema; both move here when the
family is ported to ``base.Family``)."""
from __future__ import annotations

from rarelearn import run


def population(config):
  return run.Sweep(config)
