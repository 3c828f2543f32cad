"""Toy models of superposition (Elhage et al. 2022): the fourth family, ``superposition``.

Command:   python -m rarelearn.main --config=configs/superposition.py   (a workdir: resumable,
           python -m rarelearn.inspect opens it)
Figure:    python experiments/superposition_sparsity.py
Smoke:     configs/superposition.py:smoke   (seconds; used by tests)

What it shows (default): Elhage et al.'s first experiment — n = 20 features of importance
I_i = 0.7^i, hidden size m = 5, trained at feature densities 1 − S from 1 (dense) to 0.001.
Dense features: the model represents exactly the m most important ones (‖W_i‖ ≈ 1, the others
≈ 0); as features get sparser it represents more than m of them, in superposition. A feature
counts as represented when ‖W_i‖ > 0.5 (``train.learned_threshold``).

Variants: ``zipf`` asks rarelearn's question of the family — n = 40 equally important features
whose frequencies are spread like the paper's tasks (p_i = 0.2 · (i + 1)^−1.2, from 0.2 down to
0.002), hidden sizes 2 … 16: which features does each size represent, and does the lowest
represented frequency fall with m?

Runtime: with 5 seeds the default and ``zipf`` took 195 s together on the 2-core CPU, sharing it
(``docs/results/superposition_sparsity_2026-12-06.json``, ``wall_time_s``).
"""
import ml_collections

from rarelearn.population import interventions


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.family = 'superposition'
  c.seed = 0  # root of the init, data and evaluation keys

  c.model = ml_collections.ConfigDict()
  c.model.features = 20  # n
  c.model.hidden = (5,)  # m: one member group per value
  c.model.seeds = 3
  c.model.init_norm = 0.25  # ‖W_i‖ at initialization (std init_norm / √m), below the threshold

  c.data = ml_collections.ConfigDict()
  c.data.density = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)  # 1 − S: one member group each
  c.data.zipf = 0.0  # feature i present with probability density · (i + 1)^-zipf
  c.data.importance = 0.7  # I_i = importance^i
  c.data.upweight_feature = -1  # this feature's probability × upweight_factor (-1: none)
  c.data.upweight_factor = 1.0

  c.eval = ml_collections.ConfigDict()
  c.eval.examples = 20_000  # per evaluation of a member (the same examples every time)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = 'adamw'
  c.optimizer.lr = 1e-3
  c.optimizer.weight_decay = 0.0
  c.optimizer.schedule = 'constant'
  c.optimizer.warmup_steps = 0

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 10_000
  c.train.batch_size = 1024
  c.train.steps_per_chunk = 1000  # evaluated every this many steps
  c.train.learned_threshold = 0.5  # represented: ‖W_i‖ > 0.5
  c.train.checkpoint_every_chunks = 2
  c.train.keep_checkpoints = 2

  c.intervention = interventions.default_config(target=-1)  # rarelearn/population/interventions.py

  if arg == 'zipf':
    c.model.features, c.model.hidden = 40, (2, 4, 6, 8, 12, 16)
    c.data.density, c.data.zipf, c.data.importance = (0.2,), 1.2, 1.0
  elif arg == 'smoke':
    c.model.features, c.model.hidden, c.model.seeds = 6, (2, 3), 2
    c.data.density = (1.0, 0.05)
    c.eval.examples = 2000
    c.optimizer.lr = 1e-2
    c.train.num_steps, c.train.batch_size, c.train.steps_per_chunk = 600, 256, 200
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; expected zipf or smoke')
  return c
