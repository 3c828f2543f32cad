"""Large toy sweep for the benchmark (``python -m rarelearn.bench``): widths 256…4096, batch 4096.

Command:   python -m rarelearn.bench            (one of its workloads)
           python -m rarelearn.main --config=configs/bench_large.py   (trains it for real)
Smoke:     configs/bench_large.py:smoke   (seconds)

What it is: the 32-task toy of configs/sweep.py, linear, at accelerator scale — 5 members of
widths 256, 512, 1024, 2048, 4096 (padded width 4096), batch 4,096 — the workload on which the
benchmark reports FLOP utilization against a dense matmul. Runtime: seconds per step on a
2-core CPU (the benchmark runs a few steps); milliseconds on a GPU.
"""
import os

import ml_collections

from rarelearn.core import configlib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, '', 'smoke'):
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke" or nothing')
  c = configlib.load_config_file(os.path.join(os.path.dirname(__file__), 'sweep.py'))
  c.population.widths = (256, 512, 1024, 2048, 4096)
  c.population.seeds = 1
  c.train.batch_size = 4096
  c.train.num_steps = 2000
  c.train.steps_per_chunk = 100
  c.measure.every = 0
  if arg == 'smoke':  # two of the widths, a small batch, two chunks
    c.population.widths, c.train.batch_size = (256, 512), 256
    c.train.num_steps, c.train.steps_per_chunk = 20, 10
  return c
