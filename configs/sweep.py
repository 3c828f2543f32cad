"""Default sweep: the paper's block-regression toy (Fig. 2) over a population of widths.

Command:   python -m rarelearn.main --config=configs/sweep.py
Smoke:     python -m rarelearn.main --config=configs/sweep.py:smoke   (seconds; used by tests)

What it shows: 32 regression tasks with Zipf frequencies π_k ∝ k^-1, each owning 8 input
directions with spectrum λ_{k,j} ∝ j^-1. Linear models of widths 8…256 (2 seeds) trained as
one population. A width-N model captures the N directions of largest utility π_k·λ_{k,j}: the
phase diagram (figures/phase_diagram.png) is a staircase, rarer tasks learned only at larger
widths, and the measured learned set agrees with the utility theory (summary.json "agreement",
expected 1.0; ≥ 0.95 is the acceptance bar).

Runtime: about 2.5 minutes on a 2-core CPU (12 members, 5,000 steps of batch 256, per-task
gradients measured every 250 steps).

Choosing ``train.num_steps`` for another task set: the slowest direction a width-N member must
learn has utility u_N (the N-th largest π_k·λ_{k,j}); Adam at lr 1e-2 needs a few thousand
steps when u_N ≳ 1e-3 and proportionally more for smaller utilities. Compare summary.json's
``max_abs_score_error`` between num_steps and 2·num_steps: once it stops falling, the run is
long enough.
"""
import ml_collections

from rarelearn.population import interventions


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.family = 'block_regression'  # rarelearn/families/: block_regression or sparse_parity
  c.seed = 0  # root of every random stream (init, data, eval, basis)

  c.population = ml_collections.ConfigDict()
  c.population.widths = (8, 16, 32, 64, 128, 256)  # hidden widths N, one member per width×seed
  c.population.seeds = 2  # init seeds per width (data is shared by all members)
  # Swept scalars: each non-empty tuple multiplies the members (widths × values × seeds), all in
  # the one jitted program; members with a swept frequency or gap draw their own batches.
  c.population.sweep = ml_collections.ConfigDict()
  c.population.sweep.rare_frequency = ()  # π_r of mixture.rare_task (the others renormalized)
  c.population.sweep.factor = ()  # or π_r × factor (up-weighting)
  c.population.sweep.gap = ()  # injection gap G (mixture.schedule='injection')
  c.population.sweep.lr = ()  # peak learning rate
  # How the members are trained (rarelearn/population/layout.py; the same numbers whichever is
  # used):
  # auto | packed (side by side in one layer: Σ widths of compute; depth 1, shared batches) |
  # bucketed (groups of similar widths, each at its own largest width) | padded (all at max)
  c.population.layout = 'auto'
  c.population.bucket_factor = 2.0  # bucketed: a group's widths within this factor
  # With several devices the members are split over them; a member too large for one device
  # is itself split over this many (its hidden units, FSDP-style). Must divide the devices.
  c.population.model_shards = 1

  c.tasks = ml_collections.ConfigDict()
  c.tasks.num_tasks = 32  # K
  c.tasks.dims_per_task = 8  # d: directions owned by each task; D = K·d
  c.tasks.zipf = 1.0  # π_k ∝ (k + offset)^-zipf, k = 1..K
  c.tasks.offset = 0.0
  c.tasks.frequencies = ()  # explicit π (K values summing to 1); () = Zipf
  c.tasks.decay = (1.0,)  # λ_{k,j} ∝ j^-decay_k: one value for all tasks, or K values
  c.tasks.rotate = False  # random orthogonal basis instead of the coordinate axes

  c.mixture = ml_collections.ConfigDict()  # how tasks are scheduled (rarelearn/tasks/mixture.py)
  c.mixture.schedule = 'iid'  # iid | upweight (π_r × factor, others renormalized) | injection
  c.mixture.rare_task = -1  # r for upweight / injection; negative counts from the end
  c.mixture.factor = 1.0  # upweight: multiplier of π_r
  c.mixture.gap = 1000  # injection: a burst every this many steps …
  c.mixture.burst_steps = 100  # … lasting this many batches (0: as few as hold the burst), …
  # … carrying round(gap·B·π_r) rare examples in total, so π_r is kept over the long run
  c.mixture.offset = 0  # injection: the first burst's step

  c.model = ml_collections.ConfigDict()
  c.model.activation = 'linear'  # linear (theory-exact) | relu | gelu
  c.model.depth = 1  # hidden layers, each of the member's width
  c.model.init_scale = 1.0  # weight std = init_scale / sqrt(true fan-in)
  c.model.init = 'normal'  # or uniform: PyTorch's nn.Linear default (depth 1)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = 'adam'  # adam | adamw | sgd | lion (element-wise: exact under masking)
  c.optimizer.lr = 1e-2  # peak learning rate
  c.optimizer.schedule = 'cosine'  # cosine (to 0 at num_steps) | constant
  c.optimizer.warmup_steps = 0
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.eps = 1e-8
  c.optimizer.weight_decay = 0.0  # adamw / lion only

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 5000
  c.train.batch_size = 256
  c.train.compute_dtype = 'float32'  # or bfloat16 (GPU/TPU): training forward/backward only;
  # parameters, optimizer state, evaluation and measurements stay float32
  c.train.steps_per_chunk = 250  # steps per jitted call; metrics are written once per chunk
  c.train.learned_threshold = 0.5  # a task is learned when ℓ_k ≥ this
  c.train.checkpoint_every_chunks = 5
  c.train.keep_checkpoints = 2

  c.measure = ml_collections.ConfigDict()
  c.measure.every = 250  # measure per-task gradients every this many steps (0 = off)
  c.measure.rare_task = -1  # r for G_r and interference; negative counts from the end (-1 = rarest)
  c.measure.probe_per_task = 16  # probe batch: this many fresh examples of every task
  c.measure.reference_examples = 1024  # examples of task r for L_r (non-linear models only)

  c.intervention = interventions.default_config(target=-1)  # rarelearn/population/interventions.py

  c.eval = ml_collections.ConfigDict()
  c.eval.examples_per_task = 512  # Monte-Carlo eval set (non-linear models only)

  if arg == 'smoke':
    c.population.widths = (2, 4, 8)
    c.tasks.num_tasks = 4
    c.tasks.dims_per_task = 2
    c.train.num_steps = 60
    c.train.batch_size = 32
    c.train.steps_per_chunk = 20
    c.train.checkpoint_every_chunks = 1
    c.measure.every = 10
    c.measure.probe_per_task = 4
    c.measure.reference_examples = 32
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke" or nothing')
  return c
