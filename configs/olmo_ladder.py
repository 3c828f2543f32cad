"""The OLMo model ladder (4M … 4B) with an injected token task: the paper's Figs 5–6 protocol
at full scale, for GPUs and TPUs.

Command:   python experiments/fig5_olmo_heatmap.py --config=configs/olmo_ladder.py
Variants:  ``:small`` — the 4M and 20M rungs at two frequencies (one GPU);
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

Memory and runtime (float32): two members of each of the 4M and 20M rungs, batch 64 × 512
tokens, peaked at 91.6 GB on an H200 (``python -m rarelearn.bench --workloads=olmo``) — the
[B, S, 50,304] logits and their gradient dominate at these sizes — and six 4M members asked for
136 GiB of temporaries, more than the card has. ``:small`` therefore takes two of the
frequencies below (0.05, 0.01): it fits a ≥ 96 GB GPU (on an 80 GB one, halve
``train.batch_size``). That run trained at 2.54 steps/s for both rungs together (333,000 member
tokens/s). The 300M–4B rungs need their own accelerators.
"""
import ml_collections

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
  c.family = 'token_ladder'  # rarelearn/configlib.py FAMILIES
  c.seed = 0
  c.model = ladder(RUNGS if arg != 'small' else ('4M', '20M'))
  c.model.vocab = VOCAB
  c.model.seeds = 1
  c.data = ml_collections.ConfigDict()
  c.data.background = 'markov'  # markov (synthetic, no download) | file
  c.data.token_file = ''  # data.background='file': a flat uint16/uint32 token file
  c.data.token_dtype = 'uint16'
  c.data.seq_len = 512
  c.task = ml_collections.ConfigDict()
  c.task.kind = 'cmp'  # cmp | add
  c.task.frequencies = (0.2, 0.1, 0.05, 0.02, 0.01, 0.005)  # instances per sequence
  c.task.mode = 'count'  # count (exactly round(f·B) per batch) | bernoulli
  c.task.gap = 1  # instances concentrated into every gap-th batch (same global frequency)
  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 4e-3  # peak lr of the smallest rung; others × (N/N_0)^(-1/3)
  c.optimizer.warmup_steps = 500
  c.optimizer.weight_decay = 0.1
  c.optimizer.clip = 1.0
  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 20_000
  c.train.batch_size = 64
  c.train.steps_per_chunk = 500
  c.train.learned_threshold = 0.9  # test accuracy at which a task counts as learned
  c.train.checkpoint_every_chunks = 1  # with a workdir (python -m rarelearn.main)
  c.train.keep_checkpoints = 2
  # memory (rarelearn/models/transformer.py): bfloat16 compute, per-layer rematerialization
  # (none | full | dots), cross-entropy over this many tokens at a time (0: all), sequences per
  # forward/backward pass with the gradients summed (0: the whole batch)
  c.train.compute_dtype = 'float32'
  c.train.remat = 'none'
  c.train.loss_chunk = 0
  c.train.microbatch = 0
  if arg == 'small':
    c.task.frequencies = (0.05, 0.01)
  elif arg == 'smoke':  # the 4M rung at the full vocabulary, a few steps of short sequences
    c.model = ladder(('4M',))
    c.model.vocab, c.model.seeds = VOCAB, 1
    c.data.seq_len, c.task.frequencies = 32, (0.5, 0.25)
    c.train.num_steps, c.train.steps_per_chunk, c.train.batch_size = 4, 2, 4
    c.optimizer.warmup_steps = 1
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; expected "small", "smoke" or nothing')
  return c
