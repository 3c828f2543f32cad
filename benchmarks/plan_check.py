"""A planned rung on this machine's devices: the planner's predicted peak memory against the
measured one, and the training step's model FLOP utilization (MFU).

    python benchmarks/plan_check.py --config=configs/olmo_ladder.py --rung=300M [--members=6]

Plans the rung (``rarelearn.plan``, on the local devices and their reported memory), trains
it as planned for two chunk lengths (``--steps`` and 3 × ``--steps``; their difference is the
training alone, without the chunk's evaluation), and prints one JSON line: the plan (mesh,
members per program, micro-batch, predicted peak GiB per device), the measured peak
(``memory_stats()['peak_bytes_in_use']`` of device 0, where the device reports it), seconds per
step, and MFU = model FLOPs per second over the devices' bfloat16 dense-matmul FLOP/s timed in
the same run (and over ``--peak_tflops`` when given). For a GPU session
(benchmarks/gpu_checks.sh); on a CPU it runs (without a measured peak) as a check of itself.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position

from rarelearn import bench
from rarelearn.core import configlib
from rarelearn.population import ladder, planner  # pylint: disable=wrong-import-position


def seconds(config, steps: int, repeats: int = 3) -> float:
  """Median seconds of a chunk of ``steps`` of ``config``'s ladder (after a compile-and-run
  call)."""
  config = config.copy_and_resolve_references()
  config.train.steps_per_chunk = steps
  pop = ladder.Ladder(config)
  holder = [pop.place(pop.init())]

  def call():
    holder[0], out = pop.chunk(holder[0], 0)
    return out
  return bench.median_seconds(call, repeats)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='configs/olmo_ladder.py')
  parser.add_argument('--rung', default='300M')
  parser.add_argument('--members', type=int, default=0, help='0: every frequency of the config')
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--peak_tflops', type=float, default=0.0)
  args = parser.parse_args()
  config = configlib.load_config_file(args.config)
  i = list(config.model.names).index(args.rung)
  for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
    config.model[key] = config.model[key][i:i + 1]
  config.task.frequencies = config.task.frequencies[:args.members or None]
  config.model.seeds, config.train.num_steps = 1, 6 * args.steps
  config.train.steps_per_chunk = args.steps
  made = planner.make_plan(config, planner.device_memory_gib(config), progress=False)
  print('\n'.join(made.lines()), file=sys.stderr)
  r = made.rungs[0]
  if not r.fits:
    sys.exit(1)
  short, long = (seconds(made.applied(config), n) for n in (args.steps, 3 * args.steps))
  per_step = (long - short) / (2 * args.steps)
  stats = jax.devices()[0].memory_stats() or {}
  matmul = bench.dense_matmul_flops(3, 8192, jnp.bfloat16) * jax.device_count()
  model = r.flops_per_step / per_step
  print(json.dumps(dict(
      rung=r.rung, members=r.members, mesh=[made.devices // r.model_shards, r.model_shards],
      group_size=r.group_size, microbatch=r.microbatch, predicted_peak_gib=r.memory['peak'],
      measured_peak_gib=stats['peak_bytes_in_use'] / planner.GIB if 'peak_bytes_in_use' in stats
      else None,
      seconds_per_step=per_step, model_tflops=model / 1e12,
      mfu_vs_bf16_matmul=model / matmul,
      mfu_vs_peak=model / (args.peak_tflops * 1e12 * jax.device_count())
      if args.peak_tflops else None,
      devices=[str(d) for d in jax.devices()])))


if __name__ == '__main__':
  main()
