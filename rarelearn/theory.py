"""Theory: the utility ranking of the block-regression toy (BRIEF, "Definitions").

For the linear model ŷ = W x with W of rank ≤ N, the mixture loss is ||(W − I) Σ^{1/2}||_F² with
Σ = Σ_k π_k Σ_j λ_{k,j} b_{k,j} b_{k,j}ᵀ. By Eckart–Young the optimum projects onto the N
directions of largest utility u_{k,j} = π_k λ_{k,j}, so the predicted feature presence of task k
at width N is ℓ*_k(N) = Σ of task k's λ_{k,j} among the top N utilities.

Exact ties between utilities at the cut make the optimum non-unique; they are broken here by
task index, then direction index (a documented convention, not a prediction).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

_TOL = 1e-9


def utilities(freqs: Sequence[float], spectra: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
  """(u, task, j): every direction's utility π_k λ_{k,j}, its task and its index in the task."""
  u = np.concatenate([f * np.asarray(s, np.float64) for f, s in zip(freqs, spectra)])
  task = np.concatenate([np.full(len(s), k) for k, s in enumerate(spectra)])
  j = np.concatenate([np.arange(len(s)) for s in spectra])
  return u, task, j


def utility_order(freqs, spectra) -> np.ndarray:
  """Direction indices sorted by decreasing utility (ties: lower task, then lower j, first)."""
  u, task, j = utilities(freqs, spectra)
  rounded = np.round(u / u.max(), 12)  # exact ties survive float rounding noise
  return np.lexsort((j, task, -rounded))


def predicted_scores(freqs, spectra, widths: Sequence[int]) -> np.ndarray:
  """ℓ*_k(N) for each width N (rows) and task k (columns)."""
  order = utility_order(freqs, spectra)
  lam = np.concatenate([np.asarray(s, np.float64) for s in spectra])
  _, task, _ = utilities(freqs, spectra)
  out = np.zeros((len(widths), len(spectra)))
  for row, width in enumerate(widths):
    kept = order[:width]
    np.add.at(out[row], task[kept], lam[kept])
  return out


def is_learned(scores: np.ndarray, threshold: float) -> np.ndarray:
  return np.asarray(scores) >= threshold - _TOL


def critical_widths(freqs, spectra, threshold: float) -> list[int | None]:
  """Smallest width N with ℓ*_k(N) ≥ threshold, per task (None if even full width fails)."""
  order = utility_order(freqs, spectra)
  lam = np.concatenate([np.asarray(s, np.float64) for s in spectra])
  _, task, _ = utilities(freqs, spectra)
  captured = np.zeros(len(spectra))
  crit: list[int | None] = [None] * len(spectra)
  for rank, d in enumerate(order, start=1):
    captured[task[d]] += lam[d]
    if crit[task[d]] is None and captured[task[d]] >= threshold - _TOL:
      crit[task[d]] = rank
  return crit
