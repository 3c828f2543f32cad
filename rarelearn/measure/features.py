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
- T_ADD, **Fourier share**: the share of the centred representations' variance (Σ_t ‖x_t − x̄‖²)
  carried by the ``FOURIER_TOP`` = 5 strongest frequencies of the hidden values (the few key
  frequencies of a modular-addition solution: 5 in Nanda et al. 2023's one-layer transformer).
  Frequency k = 1…⌊T/2⌋ carries c_k = 2 P_k / T of the variance — the squared norm of the rows'
  projection on the value order's cos(2πkv/T) and sin(2πkv/T) — and P_{T/2} / T for k = T/2 (T
  even: the cosine alone); Σ_k c_k is the total variance (Parseval). Chance: for isotropic noise
  any *fixed* set of K frequencies (not T/2) carries 2K/(T − 1) of the variance in expectation
  (``fourier_chance``: 0.101 for K = 5, T = 100); picking the K strongest lifts noise above it,
  the more the fewer dimensions (K = 5, T = 100: 0.17 at D = 8, 0.15 at 16, 0.12 at 128; a
  representation of low rank more still). ``fourier_share_chance`` is the chance of the
  representation at hand: its share with the values shuffled (``SHUFFLES`` = 16 fixed
  permutations, averaged). The Fourier count misses solutions spread over several key
  frequencies among other variance: 5 key frequencies of 50, with the rest of the variance
  spread evenly, stand out only when they carry more than 10/19 of it.

Shape letters (rarelearn/__init__.py): T task tokens, D d_model, L layers.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rarelearn.models import transformer as tf
from rarelearn.tasks import tokens as tk

ORDER_PCS = 50
FOURIER_THRESHOLD = 10.0
FOURIER_TOP = 5  # frequencies of fourier_share
SHUFFLES = 16  # value shuffles of fourier_share_chance
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


def fourier_variance(x_TxD: jax.Array, value_T: jax.Array) -> jax.Array:
  """[T/2] the variance of the centred rows carried by frequencies k = 1…⌊T/2⌋ of the value
  order: 2 P_k / T (P_{T/2} / T for an even T); they sum to Σ_t ‖x_t − x̄‖²."""
  t = x_TxD.shape[0]
  k = jnp.arange(1, t // 2 + 1)
  return fourier_power(x_TxD, value_T) * jnp.where(2 * k == t, 1.0, 2.0) / t


def fourier_share(x_TxD: jax.Array, value_T: jax.Array, top: int = FOURIER_TOP) -> jax.Array:
  """The share of the centred rows' variance carried by their ``top`` strongest frequencies of
  the value order (0 for rows that are all equal); chance in the module docstring."""
  variance = fourier_variance(x_TxD, value_T)
  return jnp.sum(jax.lax.top_k(variance, top)[0]) / jnp.maximum(jnp.sum(variance), 1e-30)


def fourier_chance(num_values: int, top: int = FOURIER_TOP) -> float:
  """2K/(T − 1): the expected share of K fixed frequencies (not T/2) in isotropic noise."""
  return min(2 * top, num_values - 1) / (num_values - 1)


def fourier_share_chance(x_TxD: jax.Array, value_T: jax.Array, top: int = FOURIER_TOP,
                         shuffles: int = SHUFFLES) -> jax.Array:
  """The mean ``fourier_share`` of the same rows over ``shuffles`` fixed permutations of the
  values: the share this representation reaches with no relation to the value order."""
  keys = jax.random.split(jax.random.key(0), shuffles)
  return jnp.mean(jax.vmap(lambda k: fourier_share(
      x_TxD, jax.random.permutation(k, value_T), top))(keys))


def feature_scores(params: tf.Params, task: tk.TokenTask, shape: tf.Shape,
                   dims: tf.Dims) -> dict:
  """{'order_score': adjusted R² of the hidden order after the first layer, 'fourier_count':
  standing-out frequencies of the hidden values over the embedding and the member's layers,
  'fourier_share' and 'fourier_share_chance': the Fourier share of the values and its
  shuffled-values chance at the representation (embedding or a layer of the member's depth)
  where the share stands out most above its chance, (share − chance) / (1 − chance)}. The key
  frequencies may form in the embedding (a one-layer model) or in a layer's output at the
  token's position; a layer whose representation has low rank reaches a high share by chance,
  hence the choice by excess over chance rather than by the share itself. All are computed
  whatever the task, each the other's control."""
  reps = token_representations(params, task, shape, dims)
  counts = jax.vmap(lambda x: fourier_count(x, task.value_T))(reps)
  shares = jax.vmap(lambda x: fourier_share(x, task.value_T))(reps)
  chances = jax.vmap(lambda x: fourier_share_chance(x, task.value_T))(reps)
  true_layers = jnp.arange(dims.depth + 1) <= shape.depth
  excess = (shares - chances) / jnp.maximum(1.0 - chances, 1e-30)
  best = jnp.argmax(jnp.where(true_layers, excess, -jnp.inf))
  return {'order_score': order_score(reps[1], task.rank_T)['score'],
          'fourier_count': jnp.sum(jnp.where(true_layers, counts, 0)),
          'fourier_share': shares[best], 'fourier_share_chance': chances[best]}
