"""Retention of an injected task between bursts (paper Fig. 4 and Fig. 8; host-side, numpy).

Under matched-frequency injection (``tasks.mixture.injection``) burst i occupies the steps
[s_i, e_i), e_i = s_i + burst_steps, and the next burst starts at s_{i+1} = s_i + gap. From a
trajectory ℓ_r(t) evaluated at (at least) those steps:

  gain_i      = ℓ_r(e_i) − ℓ_r(s_i)                   what the burst taught
  retained_i  = (ℓ_r(s_{i+1}) − ℓ_r(s_i)) / gain_i     the fraction of it still there just
                                                        before the next burst (1: all kept,
                                                        0: back to where it started, < 0: lower)

Bursts whose gain is below ``min_gain`` (e.g. a task already learned) have no meaningful ratio
and are left out of the means: the plain mean of retained_i, and the gain-weighted mean
Σ kept_i / Σ gain_i (kept_i = gain_i · retained_i), which a burst that taught little cannot
swing.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def retention(steps: Sequence[int], score: Sequence[float], gap: int, burst_steps: int,
              offset: int, min_gain: float = 0.05) -> dict:
  """Per-burst gain and retained fraction of ℓ_r, for every burst followed by another.

  ``steps``/``score``: the evaluated trajectory; it must contain s_i, e_i and s_{i+1}.
  Returns {'starts', 'gain', 'retained' (NaN where gain < min_gain), 'mean_gain',
  'mean_retained', 'weighted_retained' (NaN if no burst counts)}.
  """
  at = {int(t): float(v) for t, v in zip(steps, score)}
  starts = [s for s in range(offset, max(at) + 1, gap) if s + gap in at]  # s_i = offset + i·gap
  missing = [t for s in starts for t in (s, s + burst_steps) if t not in at]
  if missing:
    raise ValueError(f'retention: the trajectory lacks steps {missing[:5]}; evaluate at every '
                     'burst start and end')
  gain = np.array([at[s + burst_steps] - at[s] for s in starts])
  kept = np.array([at[s + gap] - at[s] for s in starts])
  counted = gain >= min_gain
  retained = np.where(counted, kept / np.where(counted, gain, 1.0), np.nan)
  return {'starts': starts, 'gain': gain.tolist(), 'retained': retained.tolist(),
          'mean_gain': float(np.mean(gain)) if starts else float('nan'),
          'mean_retained': float(np.mean(retained[counted])) if counted.any() else float('nan'),
          'weighted_retained': (float(np.sum(kept[counted]) / np.sum(gain[counted]))
                                if counted.any() else float('nan'))}


def burst_aligned(steps: Sequence[int], values: Sequence[float], gap: int,
                  offset: int) -> dict[int, float]:
  """The mean of a trace (e.g. cos(g, G_r)) at each position in the injection cycle: phase
  p = (t − offset) mod gap → mean of values at steps t ≥ offset with that phase (phase 0 is a
  burst's first step). NaNs are left out."""
  sums: dict[int, list[float]] = {}
  for t, v in zip(steps, values):
    if t >= offset and v is not None and np.isfinite(v):
      sums.setdefault(int((t - offset) % gap), []).append(float(v))
  return {p: float(np.mean(v)) for p, v in sorted(sums.items())}
