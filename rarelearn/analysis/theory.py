"""Theory: the utility ranking of the block-regression toy (BRIEF, "Definitions").

For the linear model ŷ = W x with W of rank ≤ N, the mixture loss is ||(W − I) Σ^{1/2}||_F² with
Σ = Σ_k π_k Σ_j λ_{k,j} b_{k,j} b_{k,j}ᵀ. By Eckart–Young the optimum projects onto the N
directions of largest utility u_{k,j} = π_k λ_{k,j}, so the predicted feature presence of task k
at width N is ℓ*_k(N) = Σ of task k's λ_{k,j} among the top N utilities.

Exact ties between utilities at the cut make the optimum non-unique; they are broken here by
task index, then direction index (a documented convention, not a prediction).
"""
from __future__ import annotations

import dataclasses
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
    np.add.at(out[row], task[order[:width]], lam[order[:width]])
  return out


def frequency_only_scores(freqs, spectra, widths: Sequence[int]) -> np.ndarray:
  """The prediction frequency rank alone makes: ℓ*_k(N) as if every task had the mean spectrum.

  The baseline that utility must beat when tasks differ in complexity (paper, Fig. 2 appendix):
  it ranks tasks by π_k only, ignoring how each task's signal is spread over its directions.
  Requires tasks of equal dimension.
  """
  if len({len(s) for s in spectra}) != 1:
    raise ValueError('frequency_only_scores needs tasks of equal dimension')
  mean = np.mean([np.asarray(s, np.float64) for s in spectra], axis=0)
  return predicted_scores(freqs, [mean] * len(spectra), widths)


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


def learning_order(freqs, spectra, threshold: float) -> list[int]:
  """Tasks in the order width learns them: by critical width (ties by task index); tasks that
  even the full width does not learn come last."""
  crit = critical_widths(freqs, spectra, threshold)
  never = len(np.concatenate(spectra)) + 1
  return sorted(range(len(crit)), key=lambda k: (never if crit[k] is None else crit[k], k))


def encoder_grad_bound(u_WxD, v_DxW, freqs, spectra, basis_DxD, in_set) -> float:
  """Residual bound (Theorem-4 style) on the encoder gradient of a task set S, linear toy.

  For ŷ = V(Ux + b) + c and L_S = Σ_{k∈S} π_k L_k, ∇_U L_S = 2 Vᵀ(W − I)Σ_S with W = VU and
  Σ_S = Σ_{k∈S} π_k Σ_j λ_{k,j} b_{k,j} b_{k,j}ᵀ (the biases drop out: inputs have mean 0).
  Writing (W − I)Σ_S = [(W − I)Σ_S^{1/2}] Σ_S^{1/2},

    ||∇_U L_S||_F ≤ 2 ||V||₂ · sqrt(tr R_S) · sqrt(λ_max(Σ_S)),
    R_S = (W − I) Σ_S (W − I)ᵀ, the covariance S leaves unexplained,

  so a task set the model fits (tr R_S → 0) exerts a vanishing pull on the encoder, however
  frequent it is. Equality holds when S's unexplained variance sits in one direction that V
  reads. ``in_set`` is a boolean per task.
  """
  u, v = np.asarray(u_WxD, np.float64), np.asarray(v_DxW, np.float64)
  utility_D, task, _ = utilities(np.asarray(freqs, np.float64), spectra)
  chosen_D = np.asarray(in_set, bool)[task]
  resid_DxD = (v @ u - np.eye(len(utility_D))) @ np.asarray(basis_DxD, np.float64)
  unexplained = np.sum(utility_D[chosen_D] * np.sum(resid_DxD[:, chosen_D] ** 2, axis=0))
  return float(2.0 * np.linalg.norm(v, 2) * np.sqrt(unexplained)
               * np.sqrt(np.max(utility_D[chosen_D], initial=0.0)))


# ---------------------------------------------------------------------------------------------
# Scaling-law argument (paper Fig. 1)
#
# A model of N parameters reaches L_C(N) with compute-optimal data and L_∞(N) with unlimited
# data. Given a large model N_l and a tolerance ε ≥ 0, N_s*(ε, N_l) is the smallest size whose
# infinite-data loss still reaches the large model's compute-optimal loss within ε:
#   L_∞(N_s*) = L_C(N_l) + ε.
# Smaller models cannot reach it with any amount of data ("needs a larger model"); models in
# [N_s*, N_l) can, by adding data ("fixable by data"). Two forms side by side: the paper's stated
# power laws (PaperScaling) and the form derived from a parametric L(N, D) (ParametricScaling).
# ---------------------------------------------------------------------------------------------

NEEDS_LARGER_MODEL = 'needs a larger model'
FIXABLE_BY_DATA = 'fixable by data'
AT_LEAST_AS_LARGE = 'at least as large'


class _TwoCurves:
  """N_s* and the region labels, from L_C and the inverse of L_∞ (defined by each form)."""

  def n_s_star(self, n_l, eps=0.0):
    """N_s*(ε, N_l) = L_∞⁻¹(L_C(N_l) + ε); vectorized over N_l and ε."""
    return self.n_at_infinite_data_loss(self.loss_compute_optimal(n_l) + np.asarray(eps, float))

  def region(self, n, n_l, eps=0.0):
    """Per N: NEEDS_LARGER_MODEL if N < N_s*, FIXABLE_BY_DATA if N_s* ≤ N < N_l, else
    AT_LEAST_AS_LARGE. A str for scalar N, else an array of str."""
    n = np.asarray(n, float)
    labels = np.where(n >= n_l, AT_LEAST_AS_LARGE,
                      np.where(n < self.n_s_star(n_l, eps), NEEDS_LARGER_MODEL, FIXABLE_BY_DATA))
    return labels.item() if labels.ndim == 0 else labels


@dataclasses.dataclass(frozen=True)
class PaperScaling(_TwoCurves):
  """The paper's stated form: L_C(N) = a_C N^-γ and L_∞(N) = a_∞ N^-α (γ ≈ 0.34, α ≈ 0.46).

  Then N_s* = ((a_C N_l^-γ + ε)/a_∞)^(-1/α); at ε = 0, N_s* = (a_C/a_∞)^(-1/α) N_l^(γ/α) ∝
  N_l^0.74, so the ratio N_s*/N_l shrinks as N_l grows. Defaults a_C = a_∞ = 1 [ours]: the paper
  gives no prefactors; with equal ones the curves meet at N = 1 (L_∞ < L_C for every N > 1), loss
  and ε are in units of that meeting value, and at ε = 0 N_s* = N_l^(γ/α) exactly.
  """
  a_c: float = 1.0
  gamma: float = 0.34
  a_inf: float = 1.0
  alpha: float = 0.46

  def loss_compute_optimal(self, n):
    return self.a_c * np.asarray(n, float) ** -self.gamma

  def loss_infinite_data(self, n):
    return self.a_inf * np.asarray(n, float) ** -self.alpha

  def n_at_infinite_data_loss(self, loss):
    """L_∞⁻¹(L) = (L/a_∞)^(-1/α)."""
    return (np.asarray(loss, float) / self.a_inf) ** (-1.0 / self.alpha)


@dataclasses.dataclass(frozen=True)
class ParametricScaling(_TwoCurves):
  """L(N, D) = E + A/N^α + B/D^β under compute C = 6ND (defaults: Hoffmann et al. 2022,
  Approach 3).

  At fixed C, ∂L/∂N along D = C/(6N) vanishes where α A N^-α = β B D^-β, so the compute-optimal
  data for size N is D_opt(N) = (βB/(αA))^(1/β) N^(α/β), and
    L_C(N) = L(N, D_opt(N)) = E + A (1 + α/β) N^-α,    L_∞(N) = E + A N^-α.
  The reducible loss at fixed N differs only by the constant factor 1 + α/β, so at ε = 0
  N_s*/N_l = (1 + α/β)^(-1/α) ≈ 0.0965 for every N_l: a constant ratio, not the paper's
  N_l^(γ/α) (both curves share the exponent α). With ε > 0,
  N_s* = (A / (A (1 + α/β) N_l^-α + ε))^(1/α), and the ratio falls as N_l grows.
  """
  E: float = 1.69
  A: float = 406.4
  B: float = 410.7
  alpha: float = 0.34
  beta: float = 0.28

  def loss(self, n, d):
    n, d = np.asarray(n, float), np.asarray(d, float)
    return self.E + self.A * n ** -self.alpha + self.B * d ** -self.beta

  def d_opt(self, n):
    coef = (self.beta * self.B / (self.alpha * self.A)) ** (1.0 / self.beta)
    return coef * np.asarray(n, float) ** (self.alpha / self.beta)

  def loss_compute_optimal(self, n):
    return self.E + self.A * (1.0 + self.alpha / self.beta) * np.asarray(n, float) ** -self.alpha

  def loss_infinite_data(self, n):
    return self.E + self.A * np.asarray(n, float) ** -self.alpha

  def n_at_infinite_data_loss(self, loss):
    """L_∞⁻¹(L) = (A/(L − E))^(1/α); requires L > E."""
    return (self.A / (np.asarray(loss, float) - self.E)) ** (1.0 / self.alpha)


PAPER = PaperScaling()
CHINCHILLA = ParametricScaling()
