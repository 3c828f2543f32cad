"""Where a population's training step spends its time: XLA kernel durations by HLO op.

    python benchmarks/profile_chunk.py configs/msp.py [--steps=100] [--top=25]

Builds the config's population (``families.population``, measurement off), runs two warm-up
chunks of ``--steps`` steps, traces two more with ``jax.profiler`` and prints, per step, the
kernel launches and their summed durations (CPU: summed over the threads that ran them), then
the ``--top`` HLO op families by time. Used to find the msp population's remaining cost against
e708eab's program (docs/results/bench_side_by_side_2026-12-01c.json).
"""
import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rarelearn import families  # pylint: disable=g-import-not-at-top
from rarelearn.core import configlib

SKIP = ('ThunkExecutor::Execute', 'SlinkyThreadPool::Await', 'TaskDispatcher::dispatch')


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('config')
  parser.add_argument('--steps', type=int, default=100)
  parser.add_argument('--top', type=int, default=25)
  args = parser.parse_args(argv)
  config = configlib.load_config_file(args.config)
  config.train.steps_per_chunk = config.train.num_steps = args.steps
  if 'measure' in config:
    config.measure.every = 0
  pop = families.population(config)
  state = pop.place(pop.init())
  with tempfile.TemporaryDirectory() as trace_dir:
    for i in range(4):  # two warm-up chunks (compiling), two traced
      if i == 2:
        jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
      state, out = pop.chunk(state, 0)
      jax.block_until_ready(out)
    jax.profiler.stop_trace()
    path = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True)[0]
    events = json.load(gzip.open(path))['traceEvents']
  count, micros = collections.Counter(), collections.Counter()
  for e in events:
    if e.get('ph') == 'X' and 'dur' in e and not e['name'].startswith(('$', 'end:')):
      count[e['name']] += 1
      micros[e['name']] += e['dur']
  steps = 2 * args.steps
  kernels = [k for k in count if count[k] >= steps and k not in SKIP
             and not k.startswith('ThreadpoolListener')]
  print(f'{args.config}: {sum(count[k] for k in kernels) / steps:.0f} kernel launches and '
        f'{sum(micros[k] for k in kernels) / steps / 1000:.3f} ms of kernel time per step')
  by_family = collections.Counter()
  for k in kernels:
    by_family[re.sub(r'\.\d+$', '', k)] += micros[k] / steps / 1000
  for name, ms in by_family.most_common(args.top):
    print(f'{ms:8.3f} ms/step  {name}')


if __name__ == '__main__':
  main()
