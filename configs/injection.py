"""Matched-frequency injection of a rare task (paper Fig. 4): forgotten by a narrow model, kept by a
wide one.

Command:   python -m rarelearn.main --config=configs/injection.py
Smoke:     python -m rarelearn.main --config=configs/injection.py:smoke   (seconds; used by tests)
Figure:    python experiments/fig4_injection.py

What it shows: the 32-task toy of configs/sweep.py, linear models of widths 32 and 256. Task 12
(π = 0.019) lies outside a width-32 model's top utilities. It is withheld except for a burst of
100 batches every 1,000 steps (from step 1,000) carrying round(1000·512·π_12) = 9,704 examples,
so its long-run frequency is unchanged. Evaluated every 100 steps, i.e. at every burst's start
and end: the width-32 model learns task 12 during each burst and loses it before the next; the
width-256 model keeps it. Per-task gradients are measured every 100 steps (cos(g, G_12) traces).

Runtime: about 1.5 minutes on a 2-core CPU (2 members, 7,000 steps of batch 512).
"""
import os

import ml_collections

from rarelearn.core import configlib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, '', 'smoke'):
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke" or nothing')
  sweep = os.path.join(os.path.dirname(__file__), 'sweep.py')
  c = configlib.load_config_file(sweep + (':smoke' if arg == 'smoke' else ''))
  c.mixture.schedule = 'injection'
  c.measure.rare_task = c.mixture.rare_task = 12
  c.population.widths = (32, 256)
  c.population.seeds = 1
  c.optimizer.lr = 1e-3
  c.optimizer.schedule = 'constant'
  c.train.batch_size = 512
  c.train.num_steps = 7000
  c.train.steps_per_chunk = 100  # evaluations at every burst's start and end
  c.train.checkpoint_every_chunks = 10
  c.mixture.gap = 1000
  c.mixture.burst_steps = 100
  c.mixture.offset = 1000
  c.measure.every = 100
  if arg == 'smoke':
    c.population.widths = (2, 8)
    c.measure.rare_task = c.mixture.rare_task = 3
    c.train.batch_size = 32
    c.train.num_steps = 60
    c.train.steps_per_chunk = 2
    c.mixture.gap = 20
    c.mixture.burst_steps = 4
    c.mixture.offset = 10
    c.measure.every = 2
  return c
