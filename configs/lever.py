"""Up-weight or scale? A grid of rare-task frequencies × widths × seeds, trained as one population.

Command:   python -m rarelearn.main --config=configs/lever.py --workdir=W
           python -m rarelearn.lever --workdir=W        (the frontier, its power law, the routes)
Smoke:     python -m rarelearn.main --config=configs/lever.py:smoke   (seconds; used by tests)
Figure:    python experiments/lever_upweight_vs_scale.py   (trains this and validates the fit)

What it shows: the 32-task toy of configs/sweep.py, linear widths 8, 12, 20, 28, 40, 56, 80
(each about 1.4 × the last), 3 seeds. Task 12 (π = 0.019) is the rare task; each member
multiplies its frequency by a factor F ∈ {0.7, 1, 1.4, 2, 2.8, 4, 5.6, 8} (also about 1.4 ×
apart; ``population.sweep.factor``, the other tasks renormalized). The utility theory's critical
widths at these factors are 93, 68, 48, 33, 22, 16, 10, 5: every width's lowest learned
frequency falls inside the grid and no width sits within 10% of a critical width. All 168
members train in one jitted program, each on its own batches, evaluated every 25 steps (the step
at which the task is learned, ℓ_12 ≥ 0.5, known to within 25 steps).

Runtime: about 18 minutes on a 2-core CPU (168 members, 5,000 steps of batch 256; 1,073 s in
its summary, while another run shared the CPU).
"""
import os

import ml_collections

from rarelearn.core import configlib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, '', 'smoke'):
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke" or nothing')
  sweep = os.path.join(os.path.dirname(__file__), 'sweep.py')
  c = configlib.load_config_file(sweep + (':smoke' if arg == 'smoke' else ''))
  c.mixture.rare_task = c.measure.rare_task = 12
  c.population.widths = (8, 12, 20, 28, 40, 56, 80)
  c.population.seeds = 3
  c.population.sweep.factor = (0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)
  c.train.steps_per_chunk = 25
  c.train.checkpoint_every_chunks = 40
  c.measure.every = 0
  if arg == 'smoke':
    c.population.seeds = 1
    c.mixture.rare_task = c.measure.rare_task = 3
    c.population.widths = (2, 4, 8)
    c.population.sweep.factor = (1.0, 4.0)
    c.train.steps_per_chunk = 20
  return c
