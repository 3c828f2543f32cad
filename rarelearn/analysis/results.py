"""A run's results, the same for every family: the history of its evaluations and the analyses
the experiments, ``inspect``, the bench and the lever read off it: the ONE learned-step rule
(``learning_step``) and the ONE frontier (``frontier``, with ``frontier_cells`` its place on the
grid, ``is_monotone``); every tool and experiment calls these, none re-derives them.

A run's rows as arrays: ``runtime.history.History``.

Shape letters (the package legend, rarelearn/__init__.py): M members, P evaluations, N sizes,
F frequencies.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np



def learning_step(steps: Sequence[int], score: Sequence[float], threshold: float,
                  margin: float = 0.0) -> int | None:
  """The learned-step rule, the one every tool and experiment reads "learned" by: the first
  evaluated step at which ``score`` ≥ ``threshold`` and after which it never falls below
  ``threshold − margin`` (None if there is none; a missing evaluation, NaN, counts as below).

  ``margin=0`` (the experiments' learning steps and frontiers: fig5, fig6, ladder_controls,
  peer_michaud_msp): the first step from which the score stays ≥ the threshold to the end.
  ``margin > 0`` (the lever, 0.05 unless ``--margin``): the first sustained crossing — a score
  hovering at the threshold is learned once, at its first crossing, as long as it never falls
  more than the margin below it. The score is compared in its own dtype (a float32 accuracy as
  numpy compares it with a Python float), as the committed results were."""
  score = np.asarray(score)
  if not np.issubdtype(score.dtype, np.floating):
    score = score.astype(np.float64)
  score = np.where(np.isnan(score), -np.inf, score)
  stays = np.flip(np.minimum.accumulate(np.flip(score))) >= threshold - margin
  ok = np.flatnonzero((score >= threshold) & stays)
  return int(steps[ok[0]]) if ok.size else None


def _lowest(values: Sequence, learned: np.ndarray, closed_upwards: bool):
  """The lowest of ``values`` (ascending) at which ``learned`` (1, 0 or NaN: absent) holds:
  any, or the lowest from which every later present entry is learned too; None if none."""
  present = np.flatnonzero(~np.isnan(learned))
  if not closed_upwards:
    return min((v for v, ok in zip(values, learned) if ok == 1), default=None)
  if not present.size or learned[present[-1]] != 1:
    return None
  misses = present[learned[present] == 0]
  return values[present[present > misses[-1]][0] if misses.size else present[0]]


def frontier(learned_NxF, sizes: Sequence, freqs: Sequence,
             closed_upwards: bool = False) -> tuple[dict, dict]:
  """The frontier both ways, the one every tool and experiment reads: (size → the lowest
  frequency it learned, frequency → the smallest size that learned it); None where there is
  none. ``learned_NxF``: True/1 learned, False/0 not, NaN where no member was trained (skipped,
  neither learned nor missed).

  ``closed_upwards=False`` (fig5's heatmap and claims, ladder_controls, ``ladder.summary``): the
  lowest learned frequency (smallest learning size) of the grid, wherever the others lie.
  ``closed_upwards=True`` (the lever): the lowest frequency from which every higher frequency
  the size was trained at is learned too (likewise the smallest size from which every larger
  one learns), so a fluke below a miss is not the frontier; ``sizes`` and ``freqs`` ascending.
  On a learned set closed upwards (``is_monotone``) the two agree."""
  grid = np.asarray(learned_NxF, np.float64)
  by_size = {s: _lowest(freqs, row, closed_upwards) for s, row in zip(sizes, grid)}
  by_freq = {f: _lowest(sizes, col, closed_upwards) for f, col in zip(freqs, grid.T)}
  return by_size, by_freq


def frontier_cells(learned_NxF, freqs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
  """([N] low, [N] high): where each size's frontier (closed upwards) lies on the grid — in
  (low, high], ``high`` its lowest learned frequency and ``low`` the next lower frequency the
  size was trained at. Learned at every frequency: (0, lowest]; at none: (highest, inf); nothing
  trained: (NaN, inf). ``learned_NxF`` as ``frontier``'s."""
  freqs, grid = np.asarray(freqs, np.float64), np.asarray(learned_NxF, np.float64)
  by_size, _ = frontier(grid, range(len(grid)), range(len(freqs)), closed_upwards=True)
  low, high = np.zeros(len(grid)), np.full(len(grid), np.inf)
  for i, j in by_size.items():
    present = np.flatnonzero(~np.isnan(grid[i]))
    if j is None:
      low[i] = freqs[present[-1]] if present.size else np.nan
    else:
      below = present[present < j]
      low[i], high[i] = (freqs[below[-1]] if below.size else 0.0), freqs[j]
  return low, high


def is_monotone(learned_NxF) -> bool:
  """The learned set is closed upwards (sizes and frequencies ascending): learned at (N, f) ⇒
  learned at every larger size and higher frequency."""
  grid = np.asarray(learned_NxF, int)
  return bool(np.all(np.diff(grid, axis=0) >= 0) and np.all(np.diff(grid, axis=1) >= 0))
