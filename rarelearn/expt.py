"""What every experiment script shares: its command line and where its results go.

A script ``experiments/<name>.py`` runs as ``python experiments/<name>.py --workdir=DIR
[--smoke]`` and writes ``DIR/<name>.json`` (the numbers it reports) and ``DIR/<name>.png`` (its
figure). ``--smoke`` is a seconds-long variant for the test suite; its numbers are not the
figure's.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any, Sequence

import numpy as np


def parse_args(name: str, doc: str | None, argv: Sequence[str] | None = None) -> argparse.Namespace:
  """``--workdir`` (default /tmp/rarelearn/experiments/<name>) and ``--smoke``."""
  parser = argparse.ArgumentParser(prog=f'experiments/{name}.py', description=(doc or '').split('\n')[0])
  parser.add_argument('--workdir', default=os.path.join('/tmp/rarelearn/experiments', name),
                      help='where <name>.json and <name>.png are written')
  parser.add_argument('--smoke', action='store_true',
                      help='a tiny, seconds-long variant (for tests; not the figure)')
  args = parser.parse_args(argv)
  os.makedirs(args.workdir, exist_ok=True)
  return args


def _plain(obj: Any) -> Any:
  if isinstance(obj, dict):
    return {str(k): _plain(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_plain(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return _plain(obj.tolist())
  if isinstance(obj, np.generic):
    return _plain(obj.item())
  if isinstance(obj, float) and not math.isfinite(obj):
    return None  # JSON has no NaN: "not defined" (e.g. no burst to measure retention on)
  return obj


def write_results(workdir: str, name: str, results: dict, figure=None) -> str:
  """Writes ``<name>.json`` (and ``<name>.png`` from a matplotlib figure); returns the JSON path."""
  path = os.path.join(workdir, f'{name}.json')
  with open(path, 'w') as f:
    json.dump(_plain(results), f, indent=1)
  if figure is not None:
    figure.savefig(os.path.join(workdir, f'{name}.png'), dpi=120, bbox_inches='tight')
  print(f'{name}: wrote {path}' + (' and .png' if figure is not None else ''))
  return path
