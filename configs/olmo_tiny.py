"""A CPU-sized OLMo ladder with an injected token task: the Figs 5–6 protocol in minutes.

Command:   python experiments/fig5_olmo_heatmap.py            (this config is its default)
           python -m rarelearn.main --config=configs/olmo_tiny.py   (task.kind in a workdir:
           resumable, python -m rarelearn.inspect opens its checkpoints)
Smoke:     configs/olmo_tiny.py:smoke   (seconds; used by tests)
Long:      configs/olmo_tiny.py:long    (an accelerator: the budget T_ADD needs, see below)
Lever:     configs/olmo_tiny.py:lever   (python -m rarelearn.lever reads it; see below)

Five rungs that keep the ladder's proportions (SwiGLU hidden 4·d_model, head_dim 8–16, depth
growing with width): d_model 16, 32, 64, 96, 128 with 2, 4, 4, 8, 8 heads and 1, 2, 2, 3, 3
layers (4,144 … 787,328 non-embedding parameters); vocabulary 512 (a first-order Markov
background, entropy rate 1.93 nats/token); sequences of 16 tokens (an instance fills a quarter
of its carrier sequence); batch 32; AdamW, warmup 100 steps, cosine to 10%, weight decay 0.1,
clipping 1.0; peak lr 1e-2 at the smallest rung × (N/N_0)^(-1/3). Each rung's frequencies are
one population (rarelearn/population/ladder.py). A task counts as learned at test accuracy ≥ 0.8
(0.9 on
the accelerator ladder, configs/olmo_ladder.py).

Runtime: about 13 minutes on a 2-core CPU for one task (fig5_olmo_heatmap.py).

``:long`` — the same rungs for T_ADD on a GPU (benchmarks/gpu_checks.sh): batch 512, 10,000
steps, instances per sequence 1, 0.5, 0.2, 0.1, 0.05, weight decay 1.0, learned at test
accuracy ≥ 0.9 (the accelerator threshold). Why: on the CPU default T_ADD stays at chance. Two
2-core CPU runs of the d128 rung alone at one instance per sequence — 6,000 steps of batch 32
(lr 1e-2, weight decay 0.1) and 4,000 of batch 64 (lr 1.7e-3, weight decay 1.0) — both began to
fit the train pairs only after ≈ 150,000–200,000 instances (30–40 passes over the 5,000 train
pairs) and reached test accuracy 0.08 and 0.18 at the end; at 0.5 per sequence neither moved.
Batch 512 × 10,000 steps gives 250,000 (f = 0.05) to 5 million (f = 1) instances, and weight
decay 1.0 keeps the decay rate lr × decay of the larger rungs (lr ≈ 2e-3 by the N^-1/3 rule) at
the 1–2 × 10^-3 per step of those runs: the regime in which modular addition generalizes after
memorizing (Power et al., 2022; Nanda et al., 2023).

``:lever`` — the frontier grid of ``python -m rarelearn.lever`` (docs/experiments.md, "Up-weight or
scale?"):
the five rungs, T_CMP at seven frequencies a factor ≈ √2 apart (1 … 0.12 instances per
sequence), 3 seeds, evaluated every 100 steps: 105 members, about 95 minutes on a 2-core CPU
(5,638 s in its summary, the first 20 minutes sharing the CPU).
``:lever_long`` — its accelerator variant (not yet run): nine rungs d16 … d256, ten
frequencies 1 … 0.044 (a factor √2 apart), 3 seeds, 6,000 steps of batch 128.
"""
import ml_collections

from rarelearn.population import interventions

# ``:lever``: injection frequencies a factor ≈ √2 apart (instances per sequence)
LEVER_FREQUENCIES = (1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12)
# ``:lever_long``: (d_model, heads, layers) of nine rungs
LONG_RUNGS = ((16, 2, 1), (24, 2, 1), (32, 4, 2), (48, 4, 2), (64, 4, 2), (96, 8, 3),
              (128, 8, 3), (192, 12, 4), (256, 16, 4))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.family = 'token_ladder'  # rarelearn/families/token_ladder.py
  c.seed = 0
  c.model = ml_collections.ConfigDict()
  c.model.names = ('d16', 'd32', 'd64', 'd96', 'd128')
  c.model.d_model = (16, 32, 64, 96, 128)
  c.model.num_heads = (2, 4, 4, 8, 8)
  c.model.depth = (1, 2, 2, 3, 3)
  c.model.mlp = tuple(4 * d for d in c.model.d_model)
  c.model.vocab = 512
  c.model.seeds = 1
  c.data = ml_collections.ConfigDict()
  c.data.background = 'markov'
  c.data.token_file = ''
  c.data.token_dtype = 'uint16'
  c.data.seq_len = 16
  c.task = ml_collections.ConfigDict()
  c.task.kind = 'cmp'
  c.task.frequencies = (0.5, 0.2, 0.1, 0.05)
  c.task.mode = 'count'
  c.task.gap = 1
  c.task.gaps = ()  # or one gap per frequency: member groups (frequency, gap) (ladder.settings)
  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 1e-2
  c.optimizer.warmup_steps = 100
  c.optimizer.weight_decay = 0.1
  c.optimizer.clip = 1.0
  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 2000
  c.train.batch_size = 32
  c.train.steps_per_chunk = 200  # evaluated every this many steps
  c.train.learned_threshold = 0.8
  c.train.checkpoint_every_chunks = 1  # with a workdir (python -m rarelearn.main)
  c.train.keep_checkpoints = 2
  # memory (rarelearn/models/transformer.py): bfloat16 compute, per-layer rematerialization
  # (none | full | dots), cross-entropy over this many tokens at a time (0: all), sequences per
  # forward/backward pass with the gradients summed (0: the whole batch)
  c.train.compute_dtype = 'float32'
  c.train.remat = 'none'
  c.train.loss_chunk = 0
  c.train.microbatch = 0  # or one per rung
  # placement (rarelearn/population/ladder.py PLACEMENT): devices each member is split over (FSDP)
  # and
  # members per program (0: all of a rung's), one value or one per rung; states of programs
  # not running kept in host memory (offload); plan: let rarelearn.plan choose all of these
  # for the devices at hand (device memory: what the device reports, or device_memory_gib)
  c.model.model_shards = 1
  c.model.group_size = 0
  c.train.offload = False
  c.train.plan = False
  c.train.device_memory_gib = 0.0
  # gradient probes inside the training loop (rarelearn/measure/decomposition.py): at steps t
  # with t % period in phases, on the top `neurons` first-layer MLP units (0: off; set by
  # experiments/fig9_gradient_decomposition.py)
  c.intervention = interventions.default_config(target=0)  # rarelearn/population/interventions.py

  c.probe = ml_collections.ConfigDict()
  c.probe.neurons = 0
  c.probe.period = 100
  c.probe.phases = (0,)
  if arg == 'smoke':
    c.model.names = ('d8', 'd16')
    c.model.d_model, c.model.num_heads, c.model.depth = (8, 16), (2, 2), (1, 2)
    c.model.mlp = (32, 64)
    c.model.vocab = 160
    c.task.frequencies = (0.5, 0.1)
    c.train.num_steps, c.train.steps_per_chunk, c.train.batch_size = 40, 20, 8
    c.optimizer.warmup_steps = 5
  elif arg == 'long':
    c.task.kind = 'add'
    c.task.frequencies = (1.0, 0.5, 0.2, 0.1, 0.05)
    c.train.num_steps, c.train.steps_per_chunk, c.train.batch_size = 10_000, 500, 512
    c.optimizer.weight_decay = 1.0
    c.optimizer.warmup_steps = 200
    c.train.learned_threshold = 0.9
  elif arg == 'lever':
    c.task.frequencies = LEVER_FREQUENCIES
    c.model.seeds = 3
    c.train.steps_per_chunk, c.train.checkpoint_every_chunks = 100, 4
  elif arg == 'lever_long':
    c.model.names = tuple(f'd{d}' for d, _, _ in LONG_RUNGS)
    c.model.d_model, c.model.num_heads, c.model.depth = (tuple(x) for x in zip(*LONG_RUNGS))
    c.model.mlp = tuple(4 * d for d in c.model.d_model)
    c.task.frequencies = tuple(round(2 ** (-k / 2), 3) for k in range(10))
    c.model.seeds = 3
    c.train.num_steps, c.train.steps_per_chunk, c.train.batch_size = 6000, 100, 128
    c.train.checkpoint_every_chunks = 10
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; expected "smoke", "long", "lever", '
                     '"lever_long" or nothing')
  return c
