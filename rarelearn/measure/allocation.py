"""Neuron allocation: which task each hidden unit serves (data-induced competition, BRIEF §1).

Unit i's use by task k is its mean squared activation on task k's examples times the squared
norm of its outgoing weights, E_{x~k}[h_i(x)²]·||V_{:,i}||² — the output energy it contributes
to that task. Shares are normalized over tasks per unit; a unit is dominated by task k when its
share exceeds 1/2. Padded units have zero activation, so zero use and zero share. Measured on the
last hidden layer (the one the output reads).

For a linear model, the encoder's row space bounds what the model can represent:
ℓ^row_k = Σ_j λ_{k,j} ||P_U b_{k,j}||² (P_U the projector onto the row space of U, the first
layer) is the fraction of task k's variance the encoder passes on, an upper bound on ℓ_k that
the decoder reaches at its optimum.

Shape letters (rarelearn/__init__.py): B examples, D input dimension, W padded hidden width, K
tasks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.models import mlp
from rarelearn.tasks import block_regression as br

DOMINANCE = 0.5


def unit_shares(params: mlp.Params, hidden_BxW: jax.Array, task_B: jax.Array,
                num_tasks: int) -> jax.Array:
  """[W, K] share of each unit's use that each task takes (rows of padded units are 0)."""
  count_K = jax.ops.segment_sum(jnp.ones_like(task_B, jnp.float32), task_B,
                                num_segments=num_tasks)
  msq_KxW = (jax.ops.segment_sum(hidden_BxW ** 2, task_B, num_segments=num_tasks)
             / jnp.maximum(count_K, 1.0)[:, None])
  use_WxK = (msq_KxW * jnp.sum(params['out']['w'] ** 2, axis=0)[None, :]).T
  total_W = jnp.sum(use_WxK, axis=1, keepdims=True)
  return jnp.where(total_W > 0, use_WxK / jnp.where(total_W > 0, total_W, 1.0), 0.0)


def units_dominated(shares_WxK: jax.Array) -> jax.Array:
  """[K] number of units whose share for task k exceeds 1/2."""
  return jnp.sum(shares_WxK > DOMINANCE, axis=0).astype(jnp.int32)


def _rowspace_host(u_WxD, basis_DxD, lam_D, onehot_DxK):
  """numpy, float64; every argument may carry the same leading batch dimensions."""
  u = np.asarray(u_WxD, np.float64)
  evals_W, evecs_WxW = np.linalg.eigh(u @ np.swapaxes(u, -1, -2))
  keep_W = evals_W > np.maximum(evals_W[..., -1:], 0.0) * 1e-6
  inv_sqrt_W = np.where(keep_W, 1.0 / np.sqrt(np.where(keep_W, evals_W, 1.0)), 0.0)
  # P_U = Uᵀ(UUᵀ)⁺U, so ||P_U b||² = ||diag(s^-1/2) Eᵀ U b||² over the kept eigenpairs.
  coords_WxD = inv_sqrt_W[..., :, None] * (np.swapaxes(evecs_WxW, -1, -2)
                                           @ (u @ np.asarray(basis_DxD, np.float64)))
  captured_D = np.sum(coords_WxD ** 2, axis=-2) * np.asarray(lam_D, np.float64)
  return np.einsum('...d,...dk->...k', captured_D, onehot_DxK).astype(np.float32)


def rowspace_scores(params: mlp.Params, mask_W: jax.Array,
                    spec: br.BlockRegressionSpec) -> jax.Array:
  """[K] ℓ^row_k: task k's variance inside the first layer's row space (linear models).

  The eigendecomposition runs on the host in float64 (``jax.pure_callback``, one call for all
  members under vmap): a batched jnp.linalg.eigh inside the vmapped chunk can deadlock XLA's
  CPU thread pool on 2-core machines (jaxlib 0.10.2).
  """
  u_WxD = params['hidden'][0]['w'] * mask_W[:, None]
  onehot_DxK = jax.nn.one_hot(spec.dim_task_D, spec.num_tasks, dtype=jnp.float32)
  return jax.pure_callback(_rowspace_host,
                           jax.ShapeDtypeStruct((spec.num_tasks,), jnp.float32), u_WxD,
                           spec.basis_DxD, spec.sqrt_lambda_D ** 2, onehot_DxK,
                           vmap_method='expand_dims')
