"""Golden numbers: what today's configs produce, recorded before a refactor and checked after.

    python benchmarks/goldens.py --record          # writes tests/goldens/goldens.json
    python benchmarks/goldens.py --check           # every entry, the default sweep included
    python benchmarks/goldens.py --check --only ladder_smoke msp_smoke

Entries (each runs its config end to end, on the CPU, in a temporary workdir):
- ``sweep`` — configs/sweep.py (the default sweep, about 2.5 minutes on 2 cores): the final
  per-member, per-task losses of ``summary.json``;
- ``sweep_smoke``, ``injection_smoke``, ``lever_smoke``, ``complexity_smoke`` — the same for
  the smoke variants (shared batches; a scheduled rare task; a swept frequency per member;
  another task set);
- ``ladder_smoke`` — configs/olmo_tiny.py:smoke: every key of the final evaluation;
- ``msp_smoke`` — configs/msp.py:smoke: the final per-member, per-subtask test loss (bits) and
  the last chunk's mean training loss per member.

XLA's CPU kernels differ between processors (vector instruction sets), so a check on another CPU
than the recording one (``cpu`` in the file) allows float32 rounding (``OTHER_CPU_ATOL``) and
says so; on the recording CPU it is bit for bit, apart from the tolerances an entry names.

The pytest suite compares the smoke entries where it already runs those configs
(tests/goldens/__init__.py: ``assert_golden``), so the check costs it no extra training; the
default sweep's entry is checked by this script (2.5 minutes) before a change that touches
training lands.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
GOLDENS = os.path.join(REPO, 'tests', 'goldens', 'goldens.json')
CONFIGS = os.path.join(REPO, 'configs')
OTHER_CPU_ATOL = 1e-6  # e.g. the ladder smoke moved by 4.8e-7 from one x86-64 CPU to another


def _run(spec) -> tuple[dict, list[dict]]:
  """The summary and metrics rows of ``spec`` trained end to end (``rarelearn.train``)."""
  import rarelearn  # pylint: disable=g-import-not-at-top
  from rarelearn.core import configlib  # pylint: disable=g-import-not-at-top
  from rarelearn.runtime import workdir  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as wd:
    summary = rarelearn.train(configlib.load_config_file(spec), wd, progress=False).summary
    return summary, workdir.read_metrics(wd)


def _sweep(spec):
  return {'task_loss': _run(spec)[0]['final']['task_loss']}


def _ladder(spec):
  return _run(spec)[0]['final']


def _msp(spec):
  summary, rows = _run(spec)
  last = [r['loss'] for r in rows if r['step'] == summary['steps']]
  return {'task_loss_bits': summary['final']['task_loss'], 'train_loss': last}


ENTRIES = {
    'sweep': (_sweep, 'sweep.py'),
    'sweep_smoke': (_sweep, 'sweep.py:smoke'),
    'injection_smoke': (_sweep, 'injection.py:smoke'),
    'lever_smoke': (_sweep, 'lever.py:smoke'),
    'complexity_smoke': (_sweep, 'complexity.py:smoke'),
    'ladder_smoke': (_ladder, 'olmo_tiny.py:smoke'),
    'msp_smoke': (_msp, 'msp.py:smoke'),
}


def compute(name: str) -> dict:
  fn, spec = ENTRIES[name]
  return fn(os.path.join(CONFIGS, spec))


def load() -> dict:
  with open(GOLDENS) as f:
    return json.load(f)


def compare(name: str, values: dict, goldens: dict | None = None, atol: float = 0.0
            ) -> list[str]:
  """The keys of ``values`` that differ from the golden entry ``name`` (with the largest
  difference), allowing the entry's recorded tolerance for the keys it names, and at least
  ``atol`` for every key."""
  entry = (goldens or load())['entries'][name]
  bad = []
  for key, want in entry['values'].items():
    got = np.asarray(values[key], np.float64)
    want = np.asarray(want, np.float64)
    allowed = max(atol, entry.get('tolerance', {}).get(key, 0.0))
    if got.shape != want.shape:
      bad.append(f'{name}.{key}: shape {got.shape} != golden {want.shape}')
    elif not np.allclose(got, want, rtol=0.0, atol=allowed, equal_nan=True):
      bad.append(f'{name}.{key}: max |difference| {np.nanmax(np.abs(got - want)):.3g} '
                 f'(allowed {allowed:g})')
  return bad


def _commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  mode = parser.add_mutually_exclusive_group(required=True)
  mode.add_argument('--record', action='store_true')
  mode.add_argument('--check', action='store_true')
  parser.add_argument('--only', nargs='*', choices=sorted(ENTRIES), default=None)
  args = parser.parse_args(argv)
  names = args.only or list(ENTRIES)
  from rarelearn.runtime import workdir  # pylint: disable=g-import-not-at-top
  if args.record:
    import jax  # pylint: disable=g-import-not-at-top
    goldens = load() if os.path.exists(GOLDENS) else {'entries': {}}
    goldens.update(commit=_commit(), versions=workdir.provenance(),
                   devices=[str(d) for d in jax.devices()], cpu=workdir.cpu(),
                   command='python benchmarks/goldens.py --record')
    for name in names:
      print(f'recording {name} …', file=sys.stderr)
      goldens['entries'][name] = {'config': ENTRIES[name][1], 'values': compute(name)}
    os.makedirs(os.path.dirname(GOLDENS), exist_ok=True)
    with open(GOLDENS, 'w') as f:
      json.dump(goldens, f, indent=1)
    return 0
  goldens, failures, atol = load(), [], 0.0
  if goldens.get('cpu') != workdir.cpu():
    atol = OTHER_CPU_ATOL
    print(f'recorded on {goldens.get("cpu", "a CPU the file does not name")}, checked on '
          f'{workdir.cpu()}: differences up to {atol:g} (float32 rounding) are allowed')
  for name in names:
    bad = compare(name, compute(name), goldens, atol)
    print(f'{name}: {"equal" if not bad else "DIFFERS"}')
    failures += bad
  for line in failures:
    print('  ' + line)
  return 1 if failures else 0


if __name__ == '__main__':
  sys.exit(main())
