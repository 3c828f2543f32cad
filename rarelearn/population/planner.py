"""The memory and time plan of a transformer ladder, made before anything is allocated.

Its command line is ``python -m rarelearn.plan`` (``rarelearn/plan.py``): per rung, members per
program, the mesh (members × model shards), the micro-batch, the per-device bytes of the
compiled program, model FLOPs and times; ``plan: fits`` or ``plan: does not fit: …``.
``rarelearn.train`` makes the same plan on the devices it runs on when ``train.plan`` is set
(``planned``), prints it, runs exactly it, and refuses a config that cannot fit.

How a rung is placed: candidates in order of preference — the least device time per step
(padding copies of members waste it), then the fewest model shards (FSDP only as far as memory
needs), then the larger program, then the largest micro-batch (searched by bisection) — and
the first that fits is taken. A candidate's
program (a chunk of training plus its evaluation: ``vmapped.make_lm_chunk``) is lowered with
abstract inputs carrying their shardings and compiled for the mesh; XLA's memory analysis of
the compiled program gives the bytes per device (peak = arguments + outputs − donated +
temporaries), and fitting means a peak of at most ``usable`` × the device memory. The states of
programs not running stay on the devices if all fit there at once, else every program's state
waits in host memory between its chunks (``train.offload``).

Model FLOPs per member and step (PaLM's MFU convention; rematerialization not counted):
tokens · (6 · matmul parameters + 12 · layers · S · d_model); time at ``peak_tflops`` per
device × ``mfu``, over the share of device time not spent on padding. XLA's CPU compiler
stands in for the accelerator's when devices are simulated: its buffer assignment and fusions
differ (it keeps bfloat16 attention scores in float32, for one), so the figures are estimates
of what a GPU or TPU compiler allocates.
"""
from __future__ import annotations

import dataclasses
import fractions
import math
import os
import sys

from rarelearn.core import configlib
from rarelearn.population import ladder, vmapped
from rarelearn.runtime import hosts

GIB = 2 ** 30


@dataclasses.dataclass
class RungPlan:
  rung: str
  members: int
  model_shards: int = 0
  group_size: int = 0
  microbatch: int = 0
  memory: dict | None = None  # GiB per device: argument, output, alias, temp, peak, state
  flops_per_step: float = 0.0  # model FLOPs of all the rung's members
  compiles: int = 0
  needs_gib: float = math.inf  # the smallest peak measured

  @property
  def fits(self) -> bool:
    return self.memory is not None


@dataclasses.dataclass
class Plan:
  devices: int
  device_memory_gib: float
  usable: float
  rungs: list[RungPlan]
  offload: bool = False
  resident_gib: float = 0.0  # every program's state, per device
  peak_tflops: float = 0.0
  mfu: float = 0.4
  steps: int = 0

  @property
  def fits(self) -> bool:
    return all(r.fits for r in self.rungs)

  def used(self, r: RungPlan) -> float:
    """The share of device time spent on requested members (the rest: padding copies)."""
    return float(fractions.Fraction(r.members, self.devices)
                 / device_time(r.members, self.devices, r.model_shards, r.group_size))

  def seconds_per_step(self, r: RungPlan) -> float:
    return r.flops_per_step / (self.devices * self.peak_tflops * 1e12 * self.mfu * self.used(r))

  def applied(self, config):
    """``config`` with the plan's placement (one value per rung)."""
    return placed(config, tuple(r.model_shards for r in self.rungs),
                  tuple(r.group_size for r in self.rungs), tuple(r.microbatch for r in self.rungs),
                  self.offload)

  def lines(self) -> list[str]:
    head = (f'plan: {self.devices} devices × {self.device_memory_gib:g} GiB (usable '
            f'{self.usable:.0%}); GiB per device from the compiled programs; used: device time '
            'on requested members (not padding)')
    cols = ('rung', 'members', 'per prog', 'mesh', 'micro', 'used', 'args', 'temp', 'peak',
            'TFLOP/step', 's/step', 'run h')
    out = [head, '  '.join(f'{c:>10}' for c in cols)]
    total = 0.0
    for r in self.rungs:
      if not r.fits:
        out.append(f'{r.rung:>10}  {r.members:>10}  does not fit: its smallest program needs '
                   f'{r.needs_gib:.3g} GiB per device ({r.compiles} placements tried)')
        continue
      sec = self.seconds_per_step(r) if self.peak_tflops else None
      total += (sec or 0.0) * self.steps
      times = (f'{sec:.3g}', f'{sec * self.steps / 3600:.3g}') if sec else ('-', '-')
      out.append('  '.join(f'{c:>10}' for c in (
          r.rung, r.members, r.group_size, f'{self.devices // r.model_shards}x{r.model_shards}',
          r.microbatch or 'all', f'{self.used(r):.0%}',
          *(f'{r.memory[k]:.3g}' for k in ('argument', 'temp', 'peak')),
          f'{r.flops_per_step / 1e12:.3g}', *times)))
    if self.peak_tflops:
      out.append(f'plan: {self.steps:,} steps at {self.peak_tflops:g} TFLOP/s per device × MFU '
                 f'{self.mfu:g}: {total / 3600:.3g} h in all')
    if self.fits:
      where = (f'host memory ({self.resident_gib * self.devices:.3g} GiB in all)' if self.offload
               else 'on the devices')
      return out + [f'plan: states between chunks: {where}', 'plan: fits']
    worst = next(r for r in self.rungs if not r.fits)
    return out + [f'plan: does not fit: {worst.rung} needs {worst.needs_gib:.3g} GiB per device '
                  f'(have {self.device_memory_gib:g}, {self.usable:.0%} usable)']

  def as_dict(self) -> dict:
    return dict(dataclasses.asdict(self), fits=self.fits)


def placed(config, model_shards, group_size, microbatch, offload: bool):
  """A copy of ``config`` with these placement fields (``ladder.PLACEMENT``)."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  d = config.to_dict()
  d['model'].update(model_shards=model_shards, group_size=group_size)
  d['train'].update(microbatch=microbatch, offload=offload)
  return ml_collections.ConfigDict(d)


def memory_gib(compiled) -> dict:
  m = compiled.memory_analysis()
  out = {k: getattr(m, f'{k}_size_in_bytes') / GIB
         for k in ('argument', 'output', 'alias', 'temp')}
  out['peak'] = out['argument'] + out['output'] - out['alias'] + out['temp']
  return out


def candidates(num: int, devices: int, batch: int):
  """(model shards k, members per program, micro-batches from the largest: 0 for the whole
  batch, then its divisors that k divides) in order of preference: the least device time per
  step (``device_time``: padding wastes it), then the fewest model shards (FSDP only as far as
  memory needs), then the larger program."""
  options = []
  for k in [k for k in range(1, devices + 1) if devices % k == 0]:
    micro = [b for b in range(batch, 0, -1) if batch % b == 0 and b % k == 0]
    micro = [0] + micro[1:] if micro and micro[0] == batch else micro
    slots = devices // k
    sizes = {min(num, per_device * slots) for per_device in range(1, math.ceil(num / slots) + 1)}
    options += [(device_time(num, devices, k, size), k, -size, micro) for size in sizes if micro]
  for _, k, size, micro in sorted(options, key=lambda o: o[:3]):
    yield k, -size, micro


def device_time(num: int, devices: int, k: int, size: int) -> fractions.Fraction:
  """Members' worth of work each device does per step when ``num`` members run ``size`` at a
  time with ``k`` model shards: programs × members per device slot / k (num / devices: no
  padding)."""
  return fractions.Fraction(math.ceil(num / size) * math.ceil(size / (devices // k)), k)


def plan_rung(config, i: int, pop, limit_gib: float, devices: int, measure_fn=None
              ) -> RungPlan:
  """Rung ``i`` of ``pop`` (a ``ladder.Ladder`` skeleton): the first candidate whose compiled
  program fits in ``limit_gib``; micro-batches searched by bisection (memory grows with
  them)."""
  rung, members = pop.ladder[i], pop.rung_members[i]
  num = len(members.lr)
  out = RungPlan(rung.name, num,
                 flops_per_step=num * ladder.flops_per_member_step(rung, config))

  def measure(k, size, mb):
    out.compiles += 1
    mem = (measure_fn or compiled_memory)(config, pop, i, k, size, mb, limit_gib)
    out.needs_gib = min(out.needs_gib, mem['peak'])
    return mem

  for k, size, micro in candidates(num, devices, config.train.batch_size):
    first = measure(k, size, micro[0])
    if first['peak'] <= limit_gib:
      lo = hi = 0
      best = micro[0], first
    elif len(micro) > 1:
      small = measure(k, size, micro[-1])
      if small['peak'] > limit_gib:
        continue
      lo, hi, best = 1, len(micro) - 1, (micro[-1], small)  # micro[hi] fits
    else:
      continue
    while lo < hi:
      mid = (lo + hi) // 2
      mem = measure(k, size, micro[mid])
      if mem['peak'] <= limit_gib:
        hi, best = mid, (micro[mid], mem)
      else:
        lo = mid + 1
    out.model_shards, out.group_size = k, size
    out.microbatch, out.memory = best
    return out
  return out


def compiled_memory(config, pop, i: int, k: int, size: int, mb: int, limit_gib: float) -> dict:
  """GiB per device of rung ``i``'s first program with ``k`` model shards, ``size`` members and
  micro-batch ``mb``, compiled for this process's devices: ``memory_gib``'s and ``state`` (only
  these two, without compiling, when the state alone exceeds ``limit_gib``)."""
  import jax  # pylint: disable=g-import-not-at-top
  hp = dataclasses.replace(pop.hps[i], microbatch=mb)
  members = pop.rung_members[i]
  group = ladder.rung_groups(i, pop.ladder[i], hp, members, k, size)[0]
  args = ladder.program_args(config, group, members, pop.data)
  state = sum(math.prod(a.sharding.shard_shape(a.shape) if getattr(a, 'sharding', None)
                        else a.shape) * a.dtype.itemsize for a in jax.tree.leaves(args[0]))
  if state / GIB > limit_gib:  # the state alone does not fit: no need to compile
    return {'peak': state / GIB, 'state': state / GIB}
  mem = memory_gib(vmapped.make_lm_chunk(group.hp).lower(*args).compile())
  return dict(mem, state=state / GIB)


def make_plan(config, device_memory_gib: float, peak_tflops: float = 0.0, mfu: float = 0.4,
              usable: float = 0.9, progress: bool = True, devices: int | None = None,
              measure_fn=None) -> Plan:
  """The plan of a ladder config on this process's devices (or ``devices`` of them, with
  ``measure_fn`` in place of ``compiled_memory``: tests)."""
  import jax  # pylint: disable=g-import-not-at-top
  pop = ladder.Ladder(placed(config, 1, 0, 0, False), skeleton=True)
  limit, devices = usable * device_memory_gib, devices or jax.device_count()
  rungs = []
  for i, rung in enumerate(pop.ladder):
    if progress:
      print(f'plan: placing {rung.name} …', file=sys.stderr)
    rungs.append(plan_rung(config, i, pop, limit, devices, measure_fn))
  plan = Plan(devices, device_memory_gib, usable, rungs, peak_tflops=peak_tflops, mfu=mfu,
              steps=int(config.train.num_steps))
  if plan.fits:  # every state resident, plus the largest program's working memory?
    plan.resident_gib = sum(r.memory['state'] * math.ceil(r.members / r.group_size)
                            for r in rungs)
    plan.offload = plan.resident_gib + max(r.memory['peak'] - r.memory['state']
                                           for r in rungs) > limit
  return plan


def planned(config, progress: bool = True):
  """``config`` placed by a plan made on this process's devices (and the plan printed) when
  it asks for one (``train.plan``), else ``config``; one that cannot fit raises
  ``configlib.ConfigError`` with the plan's last line."""
  if not config.get('train', {}).get('plan', False):
    return config
  made = make_plan(config, device_memory_gib(config), progress=progress)
  if not made.fits:
    raise configlib.ConfigError(made.lines()[-1])
  hosts.say('\n'.join(made.lines()))
  return made.applied(config)


def device_memory_gib(config) -> float:
  """``train.device_memory_gib``, else what this process's first device reports, else this
  host's memory shared by its devices."""
  import jax  # pylint: disable=g-import-not-at-top
  if config.train.get('device_memory_gib', 0):
    return float(config.train.device_memory_gib)
  stats = jax.local_devices()[0].memory_stats() or {}
  if 'bytes_limit' in stats:
    return stats['bytes_limit'] / GIB
  host = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  return host / GIB / jax.local_device_count()
