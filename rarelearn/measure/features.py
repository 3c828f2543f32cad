"""Is a token task's feature present in a transformer's representations? (paper Fig. 7)

Pure functions of a member's parameters (live inside the jitted evaluation, or on restored
parameters). The representation of a task token is the residual stream at position 0 of the
one-token sequence holding it (causal attention: it depends on that token alone), taken from
the embedding and after every layer (``transformer.residual_streams``).

- T_CMP, **order score**: the hidden rank of each of the 100 task tokens regressed linearly on
  their representations after the first layer, restricted to the top ``ORDER_PCS`` = 50
  principal components (fewer when the representation has fewer non-degenerate directions, e.g.
  d_model 16). The score is the *adjusted* R², 1 − (1 − R²)(n − 1)/(n − p − 1) with n = 100
  tokens and p components: with 50 regressors and 100 points the plain R² of pure noise is about
  p/(n − 1) ≈ 0.5, the adjusted one about 0, so scores of models of different widths compare.
  For drawing, one direction: the covariance of the representations with the rank (the first
  partial-least-squares direction — the full least-squares solution over 50 components chases
  the noise components with small variance), with each token's projection on it scaled to rank
  units and the R² of that single direction.
- T_ADD, **Fourier count**: the representations ordered by hidden value, v = 0…99, projected on
  the discrete Fourier basis over the 100 values; power P_k = Σ_d |X̂_d(k)|² for k = 1…50 (k and
  100 − k carry the same power for real X; the mean, k = 0, is left out). A frequency *stands
  out* when P_k > ``FOURIER_THRESHOLD`` = 10 × the median of P_1…P_50. For noise, P_k/median is a
  χ²-ratio that stays below about 2 at the smallest width of the ladders (2 × 16 degrees of
  freedom, 50 draws); a planted mode is orders of magnitude above it. The score is the number
  of standing-out frequencies summed over the embedding and every layer of the member's true
  depth.

Shape letters (rarelearn/__init__.py): T task tokens, D d_model, L layers.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rarelearn.models import transformer as tf
from rarelearn.tasks import tokens as tk

ORDER_PCS = 50
FOURIER_THRESHOLD = 10.0
_RANK_TOL = 1e-5  # singular values below this fraction of the largest are degenerate


def token_representations(params: tf.Params, task: tk.TokenTask, shape: tf.Shape,
                          dims: tf.Dims) -> jax.Array:
  """[L + 1, T, D]: each task token's embedding and residual stream after each layer."""
  streams = jax.vmap(lambda t: tf.residual_streams(params, t[None], shape, dims))(task.tokens_T)
  return jnp.swapaxes(streams[:, :, 0], 0, 1)


def order_score(x_TxD: jax.Array, rank_T: jax.Array, num_pcs: int = ORDER_PCS) -> dict:
  """Adjusted R² of ``rank_T`` regressed on the top ``num_pcs`` principal components of the
  rows of ``x_TxD``; also the plain ``r2``, the number of components ``pcs``, the drawing
  ``direction`` [D] (unit norm), the tokens' ``projection`` [T] on it (least-squares scaled to
  the centred ranks) and that projection's ``direction_r2``."""
  n = x_TxD.shape[0]
  x = x_TxD - jnp.mean(x_TxD, axis=0)
  y = rank_T.astype(jnp.float32)
  y = y - jnp.mean(y)
  u, s, vt = jnp.linalg.svd(x, full_matrices=False)
  keep = (jnp.arange(s.shape[0]) < num_pcs) & (s > _RANK_TOL * s[0])
  coef = jnp.where(keep, u.T @ y, 0.0)  # y on the orthonormal component scores
  r2 = jnp.sum((u @ coef) ** 2) / jnp.sum(y ** 2)  # the fitted values u @ coef
  p = jnp.sum(keep)
  adjusted = 1.0 - (1.0 - r2) * (n - 1) / jnp.maximum(n - p - 1, 1)
  w = x.T @ y
  w = w / jnp.maximum(jnp.linalg.norm(w), 1e-30)
  z = x @ w
  projection = z * jnp.dot(z, y) / jnp.maximum(jnp.dot(z, z), 1e-30)
  return {'score': adjusted, 'r2': r2, 'pcs': p, 'direction': w, 'projection': projection,
          'direction_r2': jnp.sum(projection ** 2) / jnp.sum(y ** 2)}


def fourier_power(x_TxD: jax.Array, value_T: jax.Array) -> jax.Array:
  """[T/2] power at frequencies k = 1…T/2 of the rows ordered by value."""
  spectrum = jnp.fft.rfft(x_TxD[jnp.argsort(value_T)], axis=0)  # [T/2 + 1, D]
  return jnp.sum(jnp.abs(spectrum[1:]) ** 2, axis=1)


def fourier_count(x_TxD: jax.Array, value_T: jax.Array,
                  threshold: float = FOURIER_THRESHOLD) -> jax.Array:
  """The number of frequencies whose power exceeds ``threshold`` × the median power."""
  power = fourier_power(x_TxD, value_T)
  return jnp.sum(power > threshold * jnp.median(power))


def feature_scores(params: tf.Params, task: tk.TokenTask, shape: tf.Shape,
                   dims: tf.Dims) -> dict:
  """{'order_score': adjusted R² of the hidden order after the first layer, 'fourier_count':
  standing-out frequencies of the hidden values over the embedding and the member's layers}.
  Both are computed whatever the task, each the other's control."""
  reps = token_representations(params, task, shape, dims)
  counts = jax.vmap(lambda x: fourier_count(x, task.value_T))(reps)
  true_layers = jnp.arange(dims.depth + 1) <= shape.depth
  return {'order_score': order_score(reps[1], task.rank_T)['score'],
          'fourier_count': jnp.sum(jnp.where(true_layers, counts, 0))}
