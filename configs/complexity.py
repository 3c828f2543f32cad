"""Complexity sweep: tasks that differ strongly in spectral decay (paper Fig. 2, complexity axis).

Command:   python -m rarelearn.main --config=configs/complexity.py
Smoke:     python -m rarelearn.main --config=configs/complexity.py:smoke   (seconds; used by tests)
Figure:    python experiments/fig2_phase_diagram.py (runs this config beside configs/sweep.py)

What it shows: 16 tasks with Zipf frequencies π_k ∝ k^-1 whose complexity alternates. Even task
indices (0, 2, …: the more frequent of each pair) spread their variance evenly over 8 directions
(decay 0, "complex": ℓ_k ≥ 0.5 needs 4 directions); odd indices concentrate it in one direction
(decay 3, "simple": λ_1 = 0.83). A width-N linear model keeps the N directions of largest utility
π_k·λ_{k,j}, so rare simple tasks are learned before frequent complex ones — task 15 (π = 0.019)
at width 17, task 4 (π = 0.060) only at width 36. Ranking tasks by frequency alone predicts the
opposite order and gets about a third of the (width, task) cells wrong; the utility ranking
predicts them all (summary.json "agreement").

The widths avoid cuts where two tasks' utilities tie or where ℓ*_k would sit at the threshold:
at each width the N-th and (N+1)-th utilities belong to the same task or differ by ≥ 14%, and
every ℓ*_k is ≥ 0.12 away from 0.5.

Runtime: about 1 minute on a 2-core CPU (12 members, 5,000 steps of batch 256, D = 128).
"""
import os

import ml_collections

from rarelearn.core import configlib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, '', 'smoke'):
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke" or nothing')
  sweep = os.path.join(os.path.dirname(__file__), 'sweep.py')
  c = configlib.load_config_file(sweep + (':smoke' if arg == 'smoke' else ''))
  c.measure.every = 0  # the figure needs the learned sets only
  if arg == 'smoke':
    c.population.widths = (2, 5)
    c.tasks.num_tasks = 4
    c.tasks.dims_per_task = 4
    c.tasks.decay = (0.0, 3.0, 0.0, 3.0)
  else:
    c.population.widths = (4, 10, 17, 25, 36, 50)
    c.tasks.num_tasks = 16
    c.tasks.dims_per_task = 8
    c.tasks.decay = tuple(0.0 if k % 2 == 0 else 3.0 for k in range(16))
  return c
