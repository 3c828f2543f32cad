"""How fast a population trains: ``python -m rarelearn.bench [--quick] [--workloads=...]``.

Workloads: ``toy`` (configs/sweep.py, the default sweep), ``large`` (configs/bench_large.py,
widths 256…4096, batch 4,096), ``msp`` (configs/msp.py, the sparse-parity peer: ReLU
classifiers of widths 8…512, batch 1,024, the same MLP population code as the toy),
``ladder`` (configs/olmo_tiny.py, the CPU transformer ladder: 5 rungs × 4 injection frequencies;
also ``tokens_per_s``), ``interventions`` (each intervention's cost per step: below) and, for an
accelerator only (not in the default list), ``olmo`` (configs/olmo_ladder.py:small: the OLMo 4M
and 20M rungs × 2 frequencies, sequences of 512, batch 64; population figures only). For each
but ``interventions`` (measurement off), in one run on one machine:

- **population**: all members in one jitted, vmapped program (``vmapped.make_chunk``), as a
  run trains them;
- **sequential**: the same members one after another, each with the same jitted single-member
  code at its own (unpadded) width (``mlp_training.train_chunk``) — the loop a researcher
  would write in JAX; ``speedup_vs_sequential`` = sequential time / population time;
- **torch** (when torch is installed): ``benchmarks/torch_sweep.py``, a plain PyTorch loop over
  the members (``nn.Linear`` layers, ``torch.optim.Adam``, float32, the same batch size, steps
  and data sizes); ``speedup_vs_torch``;
- **flop_utilization**: useful FLOPs per second, counted from the true widths (12·B·D·N per step
  for a D → N → D model: forward 4·B·D·N, backward twice that), over the FLOP rate of a dense
  float32 matmul measured on the same device in the same run;
- steady-state steps/s and members·steps/s; bytes of training state per member, and peak device
  memory per member where the device reports it;
- the cost exponent (toy and msp): population time per step against member count over 4
  population sizes, 1…4 seeds per width (1 means linear in members × steps).

``interventions`` (configs/sweep.py, the linear toy at widths 32 and 64 × 2 seeds, target task
6, as experiments/interference_interventions.py's block_regression arm; ``:smoke`` with
``--quick``): the same members trained by ``family_population.FamilyPopulation`` under each
intervention kind (``rarelearn/population/interventions.py``) — ``none`` (no intervention: the
plain program), ``protect``, ``control`` and ``disturb`` (strength 1; one program, each member's
kind a traced value) —, timed over one chunk's training steps (not its evaluation), the kinds in
turn in each of ``--repeats`` rounds (their order rotated) after a compile-and-warm-up round:
``<kind>_s_per_step``, the median over rounds, and ``<kind>_vs_none``, the median over rounds of
its time over ``none``'s in the same round. (A member of kind none in a population that also
intervenes runs the intervening program and costs what the others do.)

Times are medians of ``--repeats`` (≥ 1, default 3) calls after a compile-and-warm-up call.
The workloads are fixed configs, not a ``--config``: tables from different commits and
machines compare, and each workload's steps, timers and cost sizes are chosen for it. The first
workload's figures (of those but ``interventions``) are also printed as
``speedup_vs_sequential: X``, ``speedup_vs_torch: Y``, ``flop_utilization: Z``; every
workload's as ``<workload>.<key>: value`` (``interventions``: a table of its own and
``interventions.<kind>_s_per_step``, ``interventions.<kind>_vs_none``).
"""
from __future__ import annotations

import copy
import dataclasses
import os
import runpy
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn import expt, families
from rarelearn.core import configlib
from rarelearn.families import _mlp
from rarelearn.population import (family_population, interventions, ladder, mlp_setup, mlp_sweep,
                                  mlp_training, vmapped)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, 'configs')
WORKLOADS = {'toy': 'sweep.py', 'large': 'bench_large.py', 'msp': 'msp.py',
             'ladder': 'olmo_tiny.py', 'olmo': 'olmo_ladder.py:small',
             'interventions': 'sweep.py'}
DEFAULT = ('toy', 'large', 'msp', 'ladder', 'interventions')
LADDERS = ('ladder', 'olmo')  # token-task transformer ladders (rarelearn/population/ladder.py)


def median_seconds(fn, repeats: int) -> float:
  jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t)
  return statistics.median(times)


useful_flops_per_step = _mlp.useful_flops_per_step  # the MLP families' definition


def dense_matmul_flops(repeats: int, n: int, dtype=jnp.float32) -> float:
  """FLOP/s of a [n, n] @ [n, n] matmul in ``dtype`` on the default device."""
  a, b = (jax.random.normal(jax.random.key(i), (n, n), dtype) for i in (0, 1))
  f = jax.jit(lambda a, b: a @ b)
  return 2 * n ** 3 / median_seconds(lambda: f(a, b), repeats)


def _population_seconds(config, steps: int, repeats: int) -> tuple[float, float]:
  """(median seconds per chunk of ``steps``, mean training loss of the first chunk): the
  config's population (``families.population``), one chunk per call, as a run trains it."""
  config = config.copy_and_resolve_references()
  config.train.steps_per_chunk = config.train.num_steps = steps
  if 'measure' in config:  # measurement off, as for the sequential loop
    config.measure.every = 0
  pop = families.population(config)
  holder, first_loss = [pop.place(pop.init())], []

  def call():
    holder[0], out = pop.chunk(holder[0], 0)
    first_loss.append(out['loss'])
    return out
  return median_seconds(call, repeats), float(jnp.mean(first_loss[0]))


def _sequential_seconds(config, steps: int, repeats: int) -> float:
  setup = families.population(config)
  total, compiled = 0.0, {}
  for width, seed, lr in zip(setup.grid.widths, setup.grid.seeds, setup.grid.lrs):
    hp = dataclasses.replace(setup.hp, steps_per_chunk=steps)
    if width not in compiled:  # one program per width, as a loop over widths would compile
      def chunk(s, member, hp=hp):  # train, then evaluate every task, as a run's chunk does
        s, loss = mlp_training.train_chunk(s, setup.keys['data'], jnp.int32(0), member,
                                           setup.spec, hp)
        return s, loss, mlp_training.task_losses(s.params, member, setup.spec, setup.eval_batch, hp)
      compiled[width] = jax.jit(chunk, donate_argnums=0)
    member = mlp_training.MemberHparams(jnp.int32(width), jnp.float32(lr))
    key = jax.random.fold_in(setup.keys['init'], seed)
    holder = [mlp_training.init_state(key, jnp.int32(width), hp, width)]

    def call(fn=compiled[width], holder=holder, member=member):
      holder[0], loss, _ = fn(holder[0], member)
      return loss
    total += median_seconds(call, repeats)
  return total


def _torch_seconds(config, steps: int, repeats: int) -> float | None:
  """``benchmarks/torch_sweep.py`` on this workload (None outside a checkout or without torch)."""
  path = os.path.join(REPO, 'benchmarks', 'torch_sweep.py')
  if not os.path.exists(path):
    return None
  hp = mlp_setup.hyper(config, families.get(config.family))
  return runpy.run_path(path)['seconds'](
      mlp_setup.members(config).widths, hp.dim, config.train.batch_size, steps,
      config.optimizer.lr, config.model.activation, repeats,
      **({'classes': hp.out_dim} if hp.out_dim else {}))


def _ladder_seconds(config, steps: int, repeats: int, one_member: bool = False
                    ) -> tuple[float, float]:
  """The transformer ladder (``ladder.Ladder``'s rung programs): each rung's members in one
  vmapped program, summed over rungs — or (``one_member``) every member alone, one after
  another; evaluating 8 background sequences (a run evaluates its 256 once per chunk)."""
  config = config.copy_and_resolve_references()
  config.train.steps_per_chunk = steps
  pop, total, first_loss = ladder.Ladder(config), 0.0, []
  eval_bg = pop.eval_background[:8]
  chunks = [vmapped.make_lm_chunk(hp) for hp in pop.hps]  # one piece and its evaluation
  for hp, grid, members, chunk in zip(pop.hps, pop.grids, pop.rung_members, chunks):
    for g in [slice(m, m + 1) for m in range(len(grid))] if one_member else [slice(None)]:
      member = jax.tree.map(lambda a, g=g: a[g], members)
      holder = [vmapped.init_lm(pop.init_key, [s for _, _, s in grid[g]], member, hp)]

      def call(member=member, holder=holder, chunk=chunk):
        holder[0], loss, _, _ = chunk(holder[0], pop.data_key, jnp.int32(0), member, pop.data,
                                      eval_bg)
        first_loss.append(loss)
        return loss
      total += median_seconds(call, repeats)
  return total, float(jnp.mean(first_loss[0]))


def _figures(name: str, config):
  """(widths, flops per step, state bytes, layout text, population-, sequential-, torch-timers)
  of one workload."""
  if name in LADDERS:  # FLOPs ≈ 6 · parameters in matmuls · tokens (attention scores not counted)
    rungs = ladder.rungs(config)
    per = len(config.task.frequencies) * config.model.seeds
    tokens = config.train.batch_size * config.data.seq_len
    counts = [r.counts(config.model.vocab) for r in rungs]
    flops = sum(6 * (c['non_embedding'] + c['embedding'] // 2) * tokens * per for c in counts)
    state = 3 * 4 * sum(c['total'] * per for c in counts)  # params + Adam moments, float32
    widths = [r.d_model for r in rungs for _ in range(per)]
    sequential = lambda *a: _ladder_seconds(*a, one_member=True)[0]  # every member alone
    return (widths, flops, state, 'one vmapped program per rung (no padding)', _ladder_seconds,
            sequential if name == 'ladder' else None, lambda *_: None)
  setup = families.population(config)
  members, hp = setup.grid, setup.hp
  return (members.widths,
          useful_flops_per_step(members.widths, hp.dim, config.train.batch_size, hp.depth,
                                hp.out_dim or hp.dim),
          vmapped.tree_bytes(jax.eval_shape(setup.init)),
          mlp_sweep.describe_layout(config, members),
          _population_seconds, _sequential_seconds, _torch_seconds)


def intervention_population(config, steps: int, kind: str):
  """The config's members under the intervention ``kind`` (strength 1; ``none``: no
  intervention, the plain program) as ``FamilyPopulation`` trains them, in chunks of
  ``steps``."""
  c = config.copy_and_resolve_references()
  c.train.steps_per_chunk = c.train.num_steps = steps
  c.measure.every = 0  # FamilyPopulation does not measure; the chunk need not divide by it
  c.intervention.kinds, c.intervention.strengths = (kind,), (1.0,)
  families.validate(c)
  return family_population.FamilyPopulation(families.get(c.family).Family(c))


def intervention_populations(config, steps: int) -> dict:
  """kind → ``intervention_population``, the intervening kinds sharing one program compiled
  once: protect's, with each member's kind (a traced value) swapped."""
  pops, intervening = {'none': intervention_population(config, steps, 'none')}, None
  for kind in interventions.KINDS[1:]:
    intervening = intervening or intervention_population(config, steps, kind)
    own, iv = intervening.values
    pops[kind] = copy.copy(intervening)
    pops[kind].values = (own, iv._replace(kind=jnp.full_like(iv.kind,
                                                               interventions.KINDS.index(kind))))
  return pops


def measure_interventions(config, steps: int, repeats: int) -> dict:
  """Each intervention's seconds per training step and its ratio to plain training: the kinds
  in turn in each round, the first round compiling and warming up (module docstring)."""
  pops = intervention_populations(config, steps)
  states = {kind: pop.place(pop.init()) for kind, pop in pops.items()}
  seconds = {kind: [] for kind in pops}
  for r in range(repeats + 1):
    for kind in np.roll(list(pops), -r).tolist():  # rotated: no kind always runs first
      pop = pops[kind]
      done = jax.block_until_ready(pop.begin(states[kind], 0))
      t = time.perf_counter()
      states[kind], done = jax.block_until_ready(pop.piece(states[kind], done, 0, 0, steps))
      if r:
        seconds[kind].append(time.perf_counter() - t)
  out = {'workload': 'interventions', 'members': len(pops['none'].members),
         'widths': sorted({m['width'] for m in pops['none'].members}),
         'batch': config.train.batch_size, 'steps_timed': steps, 'rounds': repeats}
  for kind, times in seconds.items():
    out[f'{kind}_s_per_step'] = statistics.median(times) / steps
    out[f'{kind}_vs_none'] = statistics.median(np.divide(times, seconds['none']).tolist())
  return out


def measure(name: str, config, steps: int, repeats: int, sizes, with_torch: bool,
            matmul_rate: float, bfloat16: bool = False) -> dict:
  """Every figure of one workload (the cost exponent only if ``sizes``: seeds per width;
  ``bfloat16``: also the population in bfloat16 compute, its speed and loss against float32)."""
  widths, flops, state_bytes, layout_text, pop_fn, seq_fn, torch_fn = _figures(name, config)
  num = len(widths)
  pop, loss32 = pop_fn(config, steps, repeats)
  seq = seq_fn(config, steps, repeats) if seq_fn else None  # olmo: the population only
  tor = torch_fn(config, steps, repeats) if with_torch else None
  stats = jax.devices()[0].memory_stats() if hasattr(jax.devices()[0], 'memory_stats') else None
  peak = (stats or {}).get('peak_bytes_in_use')
  bf16 = {}
  if bfloat16 and name != 'msp':
    c = config.copy_and_resolve_references()
    c.train.compute_dtype = 'bfloat16'
    pop16, loss16 = pop_fn(c, steps, repeats)
    bf16 = {'bf16_speedup': pop / pop16, 'bf16_loss_rel_diff': abs(loss16 / loss32 - 1)}
  # cost against member count: the same widths with 1…4 seeds' worth of members
  counts, times = [], []
  for seeds in sizes:
    c = config.copy_and_resolve_references()
    c.population.seeds = seeds
    counts.append(len(_figures(name, c)[0]))
    times.append(pop if seeds == config.population.seeds else pop_fn(c, steps, repeats)[0])
  exponent = float(np.polyfit(np.log(counts), np.log(times), 1)[0]) if sizes else None
  return {
      'workload': name, 'members': num, 'widths': sorted(set(widths)), 'layout': layout_text,
      'batch': config.train.batch_size, 'steps_timed': steps,
      'population_steps_per_s': steps / pop, 'member_steps_per_s': steps * num / pop,
      'tokens_per_s': (steps * num / pop * config.train.batch_size * config.data.seq_len
                       if name in LADDERS else None),
      'sequential_steps_per_s': steps / seq if seq else None,
      'speedup_vs_sequential': seq / pop if seq else None,
      'torch_steps_per_s': steps / tor if tor else None,
      'speedup_vs_torch': tor / pop if tor else None,
      'useful_gflop_per_s': flops * steps / pop / 1e9,
      'matmul_gflop_per_s': matmul_rate / 1e9,
      'flop_utilization': flops * steps / pop / matmul_rate,
      'state_bytes_per_member': state_bytes / num,
      'peak_bytes_per_member': peak / num if peak else None,
      'cost_exponent_in_members': exponent, 'cost_members': counts, **bf16,
  }


def main(argv=None) -> list[dict]:
  parser = expt.Parser('bench', prog='python -m rarelearn.bench',
                       description=__doc__.split('\n')[0])
  parser.add_argument('--quick', action='store_true',
                      help='tiny sizes, seconds: checks that everything runs (tests)')
  parser.add_argument('--workloads', default=None,
                      help=f'comma-separated, of {", ".join(WORKLOADS)} (default: '
                      f'{",".join(DEFAULT)}; toy with --quick)')
  parser.add_argument('--repeats', type=expt.integer(), default=3,
                      help='timed calls per figure (their median)')
  parser.add_argument('--bfloat16', action='store_true',
                      help='also time bfloat16 compute and report its loss against float32')
  args = parser.parse_args(argv)
  names = [w for w in (args.workloads or ('toy' if args.quick else ','.join(DEFAULT))).split(',')
           if w]
  unknown = [w for w in names if w not in WORKLOADS]
  if unknown:
    parser.error(f'unknown workload {unknown[0]!r}; expected {", ".join(WORKLOADS)}')
  device = jax.devices()[0]
  print(f'rarelearn.bench: {device.platform} ({device.device_kind}), {len(jax.devices())} '
        f'device(s), {os.cpu_count()} CPU cores, jax {jax.__version__}', file=sys.stderr)
  matmul_rate = dense_matmul_flops(args.repeats, 256 if args.quick else 2048)
  results = []
  for name in names:
    quick = args.quick and name not in ('large', 'olmo')  # these have no smoke variant
    config = configlib.load_config_file(os.path.join(CONFIGS, WORKLOADS[name])
                                        + (':smoke' if quick else ''))
    if name not in ('msp', *LADDERS):
      config.measure.every = 0
    small = args.quick or name in ('toy', 'msp', 'interventions')
    steps = 5 if args.quick else (250 if small else (20 if name == 'ladder' else 10))
    sizes = ((1, 2) if args.quick else (1, 2, 3, 4)) if small and name not in LADDERS else ()
    print(f'rarelearn.bench: {name} ({WORKLOADS[name]}), {steps} steps per timing',
          file=sys.stderr)
    if name == 'interventions':
      if not quick:  # the sizes and target of experiments/interference_interventions.py's toy
        config.population.widths, config.intervention.target = (32, 64), 6
      results.append(measure_interventions(config, steps, args.repeats))
      continue
    results.append(measure(name, config, steps, 1 if name in LADDERS else args.repeats, sizes,
                           with_torch=True, matmul_rate=matmul_rate, bfloat16=args.bfloat16))
  _print(results)
  return results


def _fmt(v, digits=3):
  return 'n/a' if v is None else (f'{v:.{digits}g}' if isinstance(v, float) else str(v))


def _print(results):
  timed = [r for r in results if r['workload'] != 'interventions']
  if timed:
    _print_timed(timed)
  for r in results:
    if r['workload'] == 'interventions':
      print('\n' if timed else '', end='')
      _print_interventions(r)


def _print_timed(results):
  cols = ('workload', 'members', 'batch', 'population_steps_per_s', 'member_steps_per_s',
          'sequential_steps_per_s', 'torch_steps_per_s', 'speedup_vs_sequential',
          'speedup_vs_torch', 'useful_gflop_per_s', 'matmul_gflop_per_s', 'flop_utilization',
          'state_bytes_per_member', 'peak_bytes_per_member', 'cost_exponent_in_members')
  print('| ' + ' | '.join(cols) + ' |')
  print('|' + ' --- |' * len(cols))
  for r in results:
    print('| ' + ' | '.join(_fmt(r[c]) for c in cols) + ' |')
  for key in ('speedup_vs_sequential', 'speedup_vs_torch', 'flop_utilization'):
    print(f'{key}: {_fmt(results[0][key], 4)}')
  for r in results:
    print(f'{r["workload"]}.layout: {r["layout"]}')
    for key in ('speedup_vs_sequential', 'speedup_vs_torch', 'flop_utilization',
                'cost_exponent_in_members', 'bf16_speedup', 'bf16_loss_rel_diff'):
      if key in r:
        print(f'{r["workload"]}.{key}: {_fmt(r[key], 4)}')
    if r['tokens_per_s']:
      print(f'{r["workload"]}.tokens_per_s: {_fmt(r["tokens_per_s"], 4)}')


def _print_interventions(r):
  print(f'{r["members"]} members (widths {r["widths"]}), batch {r["batch"]}, '
        f'{r["steps_timed"]} steps, {r["rounds"]} rounds:')
  print('| intervention | s_per_step | vs_none |')
  print('| --- | --- | --- |')
  for kind in interventions.KINDS:
    print(f'| {kind} | {_fmt(r[f"{kind}_s_per_step"])} | {_fmt(r[f"{kind}_vs_none"])} |')
  for kind in interventions.KINDS:
    for key in (f'{kind}_s_per_step', f'{kind}_vs_none'):
      print(f'interventions.{key}: {_fmt(r[key], 4)}')


if __name__ == '__main__':
  main()
