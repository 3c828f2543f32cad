"""What training a chunk in pieces costs (``loop.py``'s stop deadline): time per step of the toy
and the ladder, each chunk as one fused program (training and evaluation, as before pieces),
as one piece plus its evaluation, and in pieces of a quarter and a sixteenth of it (each piece
awaited, as the loop awaits it).

    python benchmarks/piece_cost.py [--chunks 6]

Prints one line per (config, way): ms per step (median of the chunks after a warm-up chunk).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rarelearn import families
from rarelearn.core import configlib
from rarelearn.population import vmapped, mlp_sweep  # pylint: disable=wrong-import-position

CONFIGS = {  # (config, steps per chunk)
    'toy (sweep.py:smoke)': ('configs/sweep.py:smoke', 480),
    'ladder (olmo_tiny.py:smoke)': ('configs/olmo_tiny.py:smoke', 160),
}


def _fused(pop):
  """The chunk as one program of training and evaluation (``make_chunk``, ``make_lm_chunk``)."""
  if isinstance(pop, mlp_sweep.Sweep):
    c = pop.config
    fn = vmapped.make_chunk(pop.hp, pop.mh, pop.mixture_axis, pop.grid.widths,
                            c.population.layout, c.population.bucket_factor)

    def chunk(state, step):
      state, *out = fn(state, pop.keys['data'], jnp.int32(step), pop.member_hp, pop.member_spec,
                       pop.eval_batch, pop.keys['measure'], pop.schedule)
      return state, out
    return chunk

  def chunk(state, step):
    outs = []
    for g, member in zip(pop.groups, pop.placed):
      state[g.key], *out = vmapped.make_lm_chunk(g.hp)(
          state[g.key], pop.data_key, jnp.int32(step), member, pop.data, pop.eval_background)
      outs.append(out)
    return state, outs
  return chunk


def _in_pieces(pop, parts: int):
  def chunk(state, step):
    done, size = pop.begin(state, step), pop.steps_per_chunk // parts
    for offset in range(0, pop.steps_per_chunk, size):
      state, done = pop.piece(state, done, step, offset, size)
      jax.block_until_ready(done)
    return state, pop.finish(state, done, step)
  return chunk


def per_step_ms(pop, chunk, chunks: int) -> float:
  state, times = pop.place(pop.init()), []
  for c in range(chunks + 1):  # the first compiles
    t = time.perf_counter()
    state, out = chunk(state, c * pop.steps_per_chunk)
    jax.block_until_ready((state, out))
    times.append(time.perf_counter() - t)
  return 1000 * statistics.median(times[1:]) / pop.steps_per_chunk


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--chunks', type=int, default=6)
  args = parser.parse_args(argv)
  print(f'{jax.devices()[0].device_kind}, {os.cpu_count()} CPUs; ms per step, median of '
        f'{args.chunks} chunks')
  for name, (spec, spc) in CONFIGS.items():
    config = configlib.load_config_file(spec)
    config.train.steps_per_chunk, config.train.num_steps = spc, spc * (args.chunks + 1)
    pop = families.population(config)
    ways = {'fused chunk (before pieces)': _fused(pop), '1 piece + evaluation': _in_pieces(pop, 1),
            '4 pieces': _in_pieces(pop, 4), '16 pieces': _in_pieces(pop, 16)}
    for way, chunk in ways.items():
      print(f'{name:28s} {spc:4d} steps/chunk  {way:28s} '
            f'{per_step_ms(pop, chunk, args.chunks):7.3f} ms/step', flush=True)


if __name__ == '__main__':
  main()
