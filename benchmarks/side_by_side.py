"""Two checkouts' ``python -m rarelearn.bench`` side by side in one session, in paired rounds:

    python benchmarks/side_by_side.py --before=DIR --after=DIR [--workloads=toy,msp,ladder]
                                      [--rounds=2] [--json=PATH]

Each round runs every workload once in each checkout (one process per run, the order of the
two alternating from round to round, so that neither always runs on a warmer or quieter
machine) and reads the ``<workload>.<key>: value`` lines the bench prints. Prints, per workload
and key, every round's value for both checkouts and the ratio after / before of their medians
(for a time a ratio above 1 is slower; for a rate, faster); ``--json`` writes the same.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

KEYS = ('population_steps_per_s', 'members_steps_per_s', 'speedup_vs_sequential')


def run(checkout: str, workload: str) -> dict[str, float]:
  out = subprocess.run([sys.executable, '-m', 'rarelearn.bench', f'--workloads={workload}'],
                       cwd=checkout, capture_output=True, text=True, check=True,
                       env=dict(os.environ, PYTHONPATH=checkout)).stdout
  found = {}
  for key, value in re.findall(rf'^{workload}\.(\w+): ([-+\d.eE]+)$', out, re.M):
    found[key] = float(value)
  return found


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--before', required=True)
  parser.add_argument('--after', required=True)
  parser.add_argument('--workloads', default='toy,msp,ladder')
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--json', default='')
  args = parser.parse_args(argv)
  sides = {'before': os.path.abspath(args.before), 'after': os.path.abspath(args.after)}
  values = {w: {s: [] for s in sides} for w in args.workloads.split(',')}
  t0 = time.time()
  for r in range(args.rounds):
    for i, w in enumerate(values):
      order = list(sides) if (r + i) % 2 == 0 else list(sides)[::-1]
      for side in order:
        values[w][side].append(run(sides[side], w))
        print(f'round {r + 1}, {w}, {side}: {values[w][side][-1]}', file=sys.stderr)
  table = {}
  for w, by_side in values.items():
    for key in sorted(set(by_side['before'][0]) & set(by_side['after'][0])):
      b = [v[key] for v in by_side['before']]
      a = [v[key] for v in by_side['after']]
      ratio = statistics.median(a) / statistics.median(b) if statistics.median(b) else None
      table[f'{w}.{key}'] = dict(before=b, after=a, ratio_after_over_before=ratio)
      print(f'| {w}.{key} | {", ".join(f"{x:.4g}" for x in b)} | '
            f'{", ".join(f"{x:.4g}" for x in a)} | {ratio:.3f} |' if ratio else f'| {w}.{key} |')
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
