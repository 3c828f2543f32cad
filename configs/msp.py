"""Multitask sparse parity (Michaud et al. 2023) over a width population: the peer experiment.

Command:   python -m rarelearn.main --config=configs/msp.py   (a workdir: resumable, inspect)
Figure:    python experiments/peer_michaud_msp.py [--config=configs/msp.py:full]
Smoke:     configs/msp.py:smoke   (seconds; used by tests)

What it shows: 50 subtasks with Zipf(1.4) frequencies, each the parity of its own 3 of 20 data
bits (control bits name the subtask); one-hidden-layer ReLU networks of widths 8…512 trained
with Adam 1e-3, batch 1,024, 30,000 steps, all widths in one packed program. Wider networks
learn more subtasks, in frequency order. A subtask counts as learned when its test loss is at
most 0.1 bits (``train.learned_threshold`` 0.9 on the score 1 − loss in bits).

The keys are configs/sweep.py's (``family = 'sparse_parity'``: the same MLP population, layouts,
mixtures and sharding, with a cross-entropy loss); ``tasks.num_data_bits`` and ``tasks.orders``
are the family's own, and ``tasks.dims_per_task``, ``decay`` and ``rotate`` are not used.

Variants: ``full`` is Michaud et al.'s task size (500 subtasks, n = 100, k = 3, Zipf 1.4,
batch 20,000; widths up to 4,096) for a GPU; ``complexity`` gives the subtasks orders k_t 2 and
4 (20 subtasks, n = 16) in pairs of adjacent frequency — (2, 4), (4, 2), (2, 4), … — so that
an order-4 subtask is the more frequent of its pair half the time and complexity can be told
apart from rarity.

Runtime: about 4 minutes on a 2-core CPU (default); ``complexity`` about 2 minutes.
"""
import os

import ml_collections

from rarelearn.core import configlib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = configlib.load_config_file(os.path.join(os.path.dirname(__file__), 'sweep.py'))
  c.family = 'sparse_parity'
  c.seed = 0  # root of init, data and evaluation keys, and of the subsets S_t
  c.population.widths = (8, 16, 32, 64, 128, 256, 512)
  c.population.seeds = 1
  c.tasks.num_tasks = 50  # K subtasks (control bits)
  c.tasks.num_data_bits = 20  # n
  c.tasks.orders = (3,)  # k_t: one value for every subtask, or K values
  c.tasks.zipf = 1.4  # π_t ∝ t^-zipf
  c.model.activation = 'relu'
  c.model.init = 'uniform'  # PyTorch's nn.Linear default, as Michaud et al.
  c.optimizer.name = 'adam'
  c.optimizer.lr = 1e-3
  c.optimizer.schedule = 'constant'
  c.train.num_steps = 30_000
  c.train.batch_size = 1024
  c.train.steps_per_chunk = 250  # evaluated every this many steps
  c.train.learned_threshold = 0.9  # learned: 1 − test loss in bits ≥ 0.9 (loss ≤ 0.1 bits)
  c.measure.every = 0  # per-task gradient measurements are the block-regression family's
  c.eval.examples_per_task = 256
  if arg == 'full':
    c.population.widths = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    c.tasks.num_tasks, c.tasks.num_data_bits = 500, 100
    c.train.batch_size, c.train.num_steps, c.train.steps_per_chunk = 20_000, 200_000, 1000
  elif arg == 'complexity':
    c.population.widths = (16, 32, 64, 128, 256)
    c.tasks.num_tasks, c.tasks.num_data_bits = 20, 16
    # adjacent subtasks (2p, 2p + 1) are pairs of nearly equal frequency; which of a pair has
    # order 4 alternates, so order-4 subtasks are the rarer of their pair half the time
    c.tasks.orders = (2, 4, 4, 2) * 5
    c.train.num_steps = 15_000
  elif arg == 'smoke':
    c.population.widths = (4, 8, 16)
    c.tasks.num_tasks, c.tasks.num_data_bits, c.tasks.orders = 6, 6, (2,)
    c.train.batch_size, c.train.num_steps, c.train.steps_per_chunk = 128, 300, 50
    c.optimizer.lr = 1e-2
    c.eval.examples_per_task = 32
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; expected full, complexity or smoke')
  return c
