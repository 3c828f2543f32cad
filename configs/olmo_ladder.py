"""The OLMo model ladder (4M … 4B) with an injected token task: the paper's Figs 5–6 protocol
at full scale, for GPUs and TPUs.

Command:   python -m rarelearn.main --config=configs/olmo_ladder.py
           (or python experiments/fig5_olmo_heatmap.py --config=configs/olmo_ladder.py)
Plan:      python -m rarelearn.plan --config=configs/olmo_ladder.py --devices=8
               --device_memory_gib=80 --peak_tflops=989
Variants:  ``:colab`` — the 4M–1B rungs, the ones a Colab TPU runtime (8 cores × 8 GiB) holds;
           ``:small`` — the 4M and 20M rungs at two frequencies, sequences of 512, batch 64,
           float32 (one GPU; the bench's ``olmo`` workload);
           ``:smoke`` — the 4M rung, 4 steps of 4 sequences of 32 tokens (2 minutes on a
           2-core CPU, most of it compiling and evaluating the 50,304-way output:
           docs/results/config_smokes_2026-12-01.json).

Shapes (d_model, heads, layers; SwiGLU hidden 4·d_model as in OLMo-1B; vocabulary 50,304):
4M (64, 8, 8), 20M (192, 8, 16), 300M (1024, 16, 16), 1B (2048, 16, 16), 4B (3968, 31, 16:
head_dim 128, the width that gives ≈ 4B non-embedding parameters). A rung's size is counted
as OLMo counts its weight-tied models — non-embedding parameters plus one V × d embedding — so
the names match the published sizes (OLMo-1B: 1.18B; tests/test_ladder.py checks all
within 10%); rarelearn's models keep untied input and output embeddings, and both counts are
printed and stored per member. Peak learning rate per rung: ``optimizer.lr`` · (N / N_0)^(-1/3)
with N the non-embedding count and N_0 that of the smallest rung (the ladder's N^-1/3 rule).

Scale: sequences of 2,048 tokens, 256 per step (524,288 tokens per optimizer step), 20,000
steps (10.5B tokens per member); bfloat16 compute with float32 parameters and AdamW state,
every layer rematerialized, the cross-entropy 8,192 tokens at a time. ``train.plan`` has
``rarelearn.main`` place each rung on the devices it finds (``rarelearn/population/planner.py``:
model shards, members per program, micro-batch, states offloaded to host memory between chunks) and
refuse a machine the config cannot fit. Plans (docs/scale.md "The ladder at the paper's scale"):
an 8 × 80 GB GPU node, a TPU v5e-16 (16 × 16 GiB), and ``:colab`` on a Colab TPU runtime.
Before the planner (float32, whole batches of 64 × 512): two members of each of the 4M and
20M rungs peaked at 91.6 GB on an H200, and six 4M members asked for 136 GiB.
"""
import ml_collections

from rarelearn.population import interventions

# name: (d_model, heads, layers)
RUNGS = {'4M': (64, 8, 8), '20M': (192, 8, 16), '300M': (1024, 16, 16),
         '1B': (2048, 16, 16), '4B': (3968, 31, 16)}
MLP_RATIO = 4  # SwiGLU hidden width / d_model (OLMo-1B: 8192 / 2048)
VOCAB = 50_304


def ladder(names) -> ml_collections.ConfigDict:
  rungs = ml_collections.ConfigDict()
  rungs.names = tuple(names)
  rungs.d_model = tuple(RUNGS[n][0] for n in names)
  rungs.num_heads = tuple(RUNGS[n][1] for n in names)
  rungs.depth = tuple(RUNGS[n][2] for n in names)
  rungs.mlp = tuple(MLP_RATIO * RUNGS[n][0] for n in names)
  rungs.model_shards = 1  # devices each member is split over (FSDP), or one per rung
  return rungs


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.family = 'token_ladder'  # rarelearn/families/token_ladder.py
  c.seed = 0
  c.model = ladder({'small': ('4M', '20M'), 'colab': ('4M', '20M', '300M', '1B')}.get(arg, RUNGS))
  c.model.vocab = VOCAB
  c.model.seeds = 1
  c.data = ml_collections.ConfigDict()
  c.data.background = 'markov'  # markov (synthetic, no download) | file
  c.data.token_file = ''  # data.background='file': a flat uint16/uint32 token file
  c.data.token_dtype = 'uint16'
  c.data.seq_len = 2048
  c.task = ml_collections.ConfigDict()
  c.task.kind = 'cmp'  # cmp | add
  c.task.frequencies = (0.2, 0.1, 0.05, 0.02, 0.01, 0.005)  # instances per sequence
  c.task.mode = 'count'  # count (exactly round(f·B) per batch) | bernoulli
  c.task.gap = 1  # instances concentrated into every gap-th batch (same global frequency)
  c.task.gaps = ()  # or one gap per frequency: member groups (frequency, gap) (ladder.settings)
  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 4e-3  # peak lr of the smallest rung; others × (N/N_0)^(-1/3)
  c.optimizer.warmup_steps = 500
  c.optimizer.weight_decay = 0.1
  c.optimizer.clip = 1.0
  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 20_000
  c.train.batch_size = 256  # × 2,048 tokens: 524,288 tokens per step
  c.train.steps_per_chunk = 500
  c.train.learned_threshold = 0.9  # test accuracy at which a task counts as learned
  c.train.checkpoint_every_chunks = 1  # with a workdir (python -m rarelearn.main)
  c.train.keep_checkpoints = 2
  # memory (rarelearn/models/transformer.py): bfloat16 compute, per-layer rematerialization
  # (none | full | dots), cross-entropy over this many tokens at a time (0: all), sequences per
  # forward/backward pass with the gradients summed (0: the whole batch)
  c.train.compute_dtype = 'bfloat16'
  c.train.remat = 'full'
  c.train.loss_chunk = 8192
  c.train.microbatch = 0  # or one per rung
  # placement (rarelearn/population/ladder.py PLACEMENT; configs/olmo_tiny.py explains each field):
  # with
  # plan, rarelearn.main has rarelearn.plan choose model shards, members per program,
  # micro-batches and offloading for the devices it runs on, and refuses what cannot fit
  c.model.group_size = 0
  c.train.offload = False
  c.train.plan = True
  c.train.device_memory_gib = 0.0  # 0: what the device reports
  c.intervention = interventions.default_config(target=0)  # rarelearn/population/interventions.py
  if arg in ('small', 'smoke'):  # as measured before the planner: float32, whole batches
    c.data.seq_len, c.train.batch_size = 512, 64
    c.train.compute_dtype, c.train.remat, c.train.loss_chunk = 'float32', 'none', 0
    c.train.plan = False
  if arg == 'small':
    c.task.frequencies = (0.05, 0.01)
  elif arg == 'smoke':  # the 4M rung at the full vocabulary, a few steps of short sequences
    c.model = ladder(('4M',))
    c.model.vocab, c.model.seeds, c.model.group_size = VOCAB, 1, 0
    c.data.seq_len, c.task.frequencies = 32, (0.5, 0.25)
    c.train.num_steps, c.train.steps_per_chunk, c.train.batch_size = 4, 2, 4
    c.optimizer.warmup_steps = 1
  elif arg and arg != 'colab':
    raise ValueError(f'unknown config variant {arg!r}; expected "small", "smoke", "colab" or '
                     'nothing')
  return c
