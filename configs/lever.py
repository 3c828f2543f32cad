"""Up-weight or scale? A grid of rare-task frequency multipliers × widths, trained as one population.

Command:   python -m rarelearn.main --config=configs/lever.py
Smoke:     python -m rarelearn.main --config=configs/lever.py:smoke   (seconds; used by tests)
Figure:    python experiments/lever_upweight_vs_scale.py

What it shows: the 32-task toy of configs/sweep.py, linear widths 8…128. Task 20 (π = 0.0117)
needs width ≈ 103 at its own frequency; each member multiplies π_20 by a factor F ∈ {1, 2, 4, 8,
16, 32} (``population.sweep.factor``; the other tasks renormalized), which the utility theory
predicts lowers the width it needs to ≈ 54, 27, 10, 5, 2. All 30 members train in one jitted
program, each on its own batches. Evaluated every 25 steps, so the step at which task 20 is
learned (ℓ_20 ≥ 0.5) is known to within 25 steps.

Runtime: about 4 minutes on a 2-core CPU (30 members, 5,000 steps of batch 256).
"""
import os

import ml_collections

from rarelearn import configlib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, '', 'smoke'):
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke" or nothing')
  sweep = os.path.join(os.path.dirname(__file__), 'sweep.py')
  c = configlib.load_config_file(sweep + (':smoke' if arg == 'smoke' else ''))
  c.mixture.rare_task = c.measure.rare_task = 20
  c.population.widths = (8, 16, 32, 64, 128)
  c.population.seeds = 1
  c.population.sweep.factor = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
  c.train.steps_per_chunk = 25
  c.train.checkpoint_every_chunks = 40
  c.measure.every = 0
  if arg == 'smoke':
    c.mixture.rare_task = c.measure.rare_task = 3
    c.population.widths = (2, 4, 8)
    c.population.sweep.factor = (1.0, 4.0)
    c.train.steps_per_chunk = 20
  return c
