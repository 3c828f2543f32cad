"""Per-task gradient decomposition from per-example signals (one model, no member axis).

Every dense layer l of the MLP computes pre_l = a_l W_lᵀ + b_l, so the gradient of a weighted
sum of per-example losses Σ_b w_b ℓ_b is Σ_b δ_{l,b} ã_{l,b}ᵀ with ã = [a, 1] and
δ_{l,b} = w_b ∂ℓ_b/∂pre_{l,b}. One backward pass with respect to zero perturbations added to
every pre-activation yields all δ at once, beside the ordinary parameter gradient. Task k's
gradient g_k keeps the examples of task k; everything logged about the K task gradients is an
inner product, which never needs them materialized (the per-example Gram trick):

  ⟨g_k, g_k'⟩ = Σ_l Σ_{b∈k, b'∈k'} (δ_b·δ_b')(a_b·a_b' + 1)          (``task_gram``, B²·width)
  ⟨g_k, M⟩    = Σ_l Σ_{b∈k} δ_bᵀ (M_w a_b + M_b)                      (``task_dots``, one matmul)

so the K task gradients cost one backward pass plus contractions about as cheap as another
(benchmarks/measure_cost.py measures it).

Shape letters (rarelearn/__init__.py): B examples, D input/output dimension, W padded hidden width,
K tasks.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rarelearn.models import mlp

# sup |σ'|: how much a hidden layer's backward pass can amplify a signal (residual bound).
_MAX_SLOPE = {'linear': 1.0, 'relu': 1.0, 'gelu': 1.1289}


class Signals(NamedTuple):
  """What a backward pass over a weighted batch leaves behind, per dense layer (input first)."""
  inputs: list[jax.Array]  # a_l [B, in_l]: x for the first layer, hidden activations after
  deltas: list[jax.Array]  # δ_l [B, out_l] = w_b ∂ℓ_b/∂pre_l (already weighted)
  residual_BxD: jax.Array  # ŷ − y
  loss: jax.Array  # Σ_b w_b ℓ_b
  grads: mlp.Params  # its parameter gradient (= Σ_k g_k)


def _layers(params: mlp.Params) -> list[dict]:
  return list(params['hidden']) + [params['out']]


def signals(params: mlp.Params, x_BxD: jax.Array, y_BxD: jax.Array, weights_B: jax.Array,
            mask_W: jax.Array, activation: str) -> Signals:
  """Per-example signals of the weighted squared-error loss Σ_b w_b ||ŷ_b − y_b||²."""
  act = mlp.ACTIVATIONS[activation]

  def loss(params, perturb):
    h, inputs = x_BxD, []
    for layer, eps in zip(params['hidden'], perturb[:-1]):
      inputs.append(h)
      h = act(h @ layer['w'].T + layer['b'] + eps) * mask_W
    inputs.append(h)
    pred = h @ params['out']['w'].T + params['out']['b'] + perturb[-1]
    resid = pred - y_BxD
    return jnp.sum(weights_B * jnp.sum(resid ** 2, axis=-1)), (inputs, resid)

  zeros = [jnp.zeros((x_BxD.shape[0], layer['b'].shape[0])) for layer in _layers(params)]
  (value, (inputs, resid)), (grads, deltas) = jax.value_and_grad(
      loss, argnums=(0, 1), has_aux=True)(params, zeros)
  return Signals(inputs, deltas, resid, value, grads)


def task_gram(sig: Signals, task_B: jax.Array, num_tasks: int) -> jax.Array:
  """[K, K] inner products ⟨g_k, g_k'⟩ of the task gradients (all parameters)."""
  kernel_BxB = sum((d @ d.T) * (a @ a.T + 1.0) for a, d in zip(sig.inputs, sig.deltas))
  onehot_BxK = jax.nn.one_hot(task_B, num_tasks, dtype=kernel_BxB.dtype)
  return onehot_BxK.T @ kernel_BxB @ onehot_BxK


def task_dots(sig: Signals, task_B: jax.Array, num_tasks: int,
              direction: mlp.Params) -> jax.Array:
  """[K] inner products ⟨g_k, direction⟩ with a parameter-shaped direction."""
  per_example_B = sum(jnp.sum(d * (a @ m['w'].T + m['b']), axis=-1)
                      for a, d, m in zip(sig.inputs, sig.deltas, _layers(direction)))
  return jax.ops.segment_sum(per_example_B, task_B, num_segments=num_tasks)


def task_grads(sig: Signals, task_B: jax.Array, num_tasks: int) -> mlp.Params:
  """The K task gradients themselves, leading axis K (for tests and small models only)."""
  onehot_BxK = jax.nn.one_hot(task_B, num_tasks)
  per_layer = [{'w': jnp.einsum('bk,bo,bi->koi', onehot_BxK, d, a),
                'b': jnp.einsum('bk,bo->ko', onehot_BxK, d)}
               for a, d in zip(sig.inputs, sig.deltas)]
  return {'hidden': per_layer[:-1], 'out': per_layer[-1]}


def cosines(gram_KxK: jax.Array) -> jax.Array:
  """Cosine matrix from a Gram matrix; 0 where a task's gradient is 0 (e.g. absent task)."""
  norm_K = jnp.sqrt(jnp.maximum(jnp.diagonal(gram_KxK), 0.0))
  denom = norm_K[:, None] * norm_K[None, :]
  return jnp.where(denom > 0, gram_KxK / jnp.where(denom > 0, denom, 1.0), 0.0)


def spectral_norm_bound(w: jax.Array, squarings: int = 6) -> jax.Array:
  """An upper bound on ||w||₂ from matrix products only (no LAPACK call inside jit).

  For A = wᵀw (or wwᵀ) and p = 2^squarings, λ_max(A)^p ≤ ||A^p||_F ≤ rank^{1/2} λ_max(A)^p, so
  ||A^p||_F^{1/(2p)} bounds ||w||₂ from above and overestimates it by at most rank^{1/(4p)}
  (≤ 2.2% for rank ≤ 256 at the default p = 64). A^p is formed by repeated squaring with
  Frobenius renormalization, tracking the log scale. jnp.linalg.eigh/eigvalsh are avoided on
  purpose: vmapped over members they can deadlock XLA's CPU thread pool on 2-core machines
  (jaxlib 0.10.2, two batched LAPACK calls waiting on the same pool).
  """
  a = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
  norm = jnp.sqrt(jnp.sum(a ** 2))
  m, log_norm = a / jnp.where(norm > 0, norm, 1.0), jnp.log(jnp.where(norm > 0, norm, 1.0))
  for _ in range(squarings):
    m = m @ m
    norm_sq = jnp.sqrt(jnp.sum(m ** 2))
    m, log_norm = m / jnp.where(norm_sq > 0, norm_sq, 1.0), 2.0 * log_norm + jnp.log(
        jnp.where(norm_sq > 0, norm_sq, 1.0))
  return jnp.where(norm > 0, jnp.exp(log_norm / 2.0 ** (squarings + 1)), 0.0)


def residual_bound(params: mlp.Params, sig: Signals, weights_B: jax.Array, task_B: jax.Array,
                   num_tasks: int, activation: str) -> jax.Array:
  """[K] upper bound on ||g_k|| in terms of task k's unexplained (residual) loss (Theorem-4 style).

  With R_k = Σ_{b∈k} w_b ||r_b||² the task's weighted residual (the trace of its unexplained
  covariance) and δ_{l,b} bounded by 2 c_l ||r_b|| (c_out = 1; a hidden layer multiplies by
  sup|σ'| · ||W_next||₂, itself bounded by ``spectral_norm_bound``), Cauchy–Schwarz over
  examples gives, for every batch,

    ||g_k||² ≤ 4 R_k · Σ_l c_l² Σ_{b∈k} w_b ||ã_{l,b}||².

  A task the model fits (R_k → 0) can push the parameters only weakly, whatever its frequency.
  Requires w_b ≥ 0. The population form for the encoder alone is ``theory.encoder_grad_bound``.
  """
  coeffs = [1.0]  # c_l, from the output layer back
  for layer in reversed(_layers(params)[1:]):
    coeffs.insert(0, coeffs[0] * _MAX_SLOPE[activation] * spectral_norm_bound(layer['w']))
  resid_K = jax.ops.segment_sum(weights_B * jnp.sum(sig.residual_BxD ** 2, axis=-1), task_B,
                                num_segments=num_tasks)
  inputs_K = sum(c ** 2 * jax.ops.segment_sum(weights_B * (jnp.sum(a ** 2, axis=-1) + 1.0),
                                               task_B, num_segments=num_tasks)
                 for c, a in zip(coeffs, sig.inputs))
  return 2.0 * jnp.sqrt(resid_K * inputs_K)
