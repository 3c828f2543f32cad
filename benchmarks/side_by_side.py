"""Two checkouts' training speed side by side in one session, in paired rounds:

    python benchmarks/side_by_side.py --before=DIR --after=DIR [--workloads=toy,msp,large,ladder]
                                      [--rounds=3] [--json=PATH]

The population timing of ``python -m rarelearn.bench`` (``bench._population_seconds``: one
jitted chunk of every member, as a run trains it, median of 7 calls of 250 steps, ``large`` of 3
calls of 10 as the bench times it; the ladder's ``bench._ladder_seconds``, median of 3 calls of
20 steps), one process per timing. Each round times every workload once in each checkout, the
order of the two alternating from round to round and workload to workload, so that neither
always runs on a warmer or quieter machine. Prints every round's steps/s for both checkouts and
the ratio after / before of their medians (above 1: faster after); ``--json`` writes the same
with both commits.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SPECS = {'toy': ('sweep.py', 250, 7, '_population_seconds'),
         'msp': ('msp.py', 250, 7, '_population_seconds'),
         'large': ('bench_large.py', 10, 3, '_population_seconds'),
         'ladder': ('olmo_tiny.py', 20, 3, '_ladder_seconds')}
SNIPPET = """
import sys
sys.path.insert(0, {checkout!r})
from rarelearn import bench
try:
  from rarelearn.core import configlib
except ImportError:  # a checkout before the package had layers
  from rarelearn import configlib
config = configlib.load_config_file({config!r})
print({steps} / bench.{timer}(config, {steps}, {repeats})[0])
"""


def steps_per_s(checkout: str, workload: str) -> float:
  file, steps, repeats, timer = SPECS[workload]
  code = SNIPPET.format(checkout=checkout, config=os.path.join(checkout, 'configs', file),
                        steps=steps, repeats=repeats, timer=timer)
  out = subprocess.run([sys.executable, '-c', code], cwd=checkout, capture_output=True,
                       text=True, check=True, env=dict(os.environ, PYTHONPATH=checkout)).stdout
  return float(out.split()[-1])


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--before', required=True)
  parser.add_argument('--after', required=True)
  parser.add_argument('--workloads', default='toy,msp,ladder')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--json', default='')
  args = parser.parse_args(argv)
  sides = {'before': os.path.abspath(args.before), 'after': os.path.abspath(args.after)}
  values = {w: {s: [] for s in sides} for w in args.workloads.split(',')}
  t0 = time.time()
  for r in range(args.rounds):
    for i, w in enumerate(values):
      order = list(sides) if (r + i) % 2 == 0 else list(sides)[::-1]
      for side in order:
        values[w][side].append(steps_per_s(sides[side], w))
        print(f'round {r + 1}, {w}, {side}: {values[w][side][-1]:.4g} steps/s', file=sys.stderr)
  table = {}
  print('| workload | before (steps/s, each round) | after | after / before (medians) |')
  print('| --- | --- | --- | --- |')
  for w, by_side in values.items():
    b, a = by_side['before'], by_side['after']
    ratio = statistics.median(a) / statistics.median(b)
    table[w] = dict(before_steps_per_s=b, after_steps_per_s=a, ratio_after_over_before=ratio)
    print(f'| {w} | {", ".join(f"{x:.4g}" for x in b)} | {", ".join(f"{x:.4g}" for x in a)} '
          f'| {ratio:.3f} |')
  commit = lambda d: subprocess.run(['git', '-C', d, 'rev-parse', 'HEAD'], capture_output=True,
                                    text=True).stdout.strip()
  out = dict(before=sides['before'], before_commit=commit(sides['before']), after=sides['after'],
             after_commit=commit(sides['after']), rounds=args.rounds, table=table,
             wall_time_s=round(time.time() - t0, 1))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(out, f, indent=1)
  return out


if __name__ == '__main__':
  main()
