"""Block regression: the paper's toy mixture of linear-regression tasks (BRIEF, §3).

Task k owns ``d_k`` orthonormal input directions b_{k,j} (columns of an orthogonal D×D matrix Q,
grouped in blocks). One example: k ~ Cat(π); z ~ N(0, I); x = Σ_j sqrt(λ_{k,j}) z_j b_{k,j};
y = x (the target map T is the identity). Every task predicts into the same D outputs, which is
what makes tasks compete for hidden units.

Since Σ_j λ_{k,j} = 1, the zero predictor has per-task loss L_k = 1, and the feature presence
ℓ_k = 1 − L_k is the fraction of task k captured.

Shape letters (rarelearn/__init__.py): B batch, D input/output dimension, K tasks, E eval examples
per task.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


class Batch(NamedTuple):
  x: jax.Array  # [B, D]
  y: jax.Array  # [B, D]
  task_id: jax.Array  # [B] int32


@flax.struct.dataclass
class BlockRegressionSpec:
  """Everything a sampler or evaluator needs; a pytree of arrays (static sizes as metadata)."""
  log_freqs_K: jax.Array  # log π_k
  dim_task_D: jax.Array  # int32: which task owns direction d
  sqrt_lambda_D: jax.Array  # sqrt(λ_{k,j}) laid out along the D directions
  basis_DxD: jax.Array  # Q: column d is direction d (b_{k,j} in block order)
  # False when Q is the identity: sampling skips the product with Q (the same numbers, exactly)
  rotated: bool = flax.struct.field(pytree_node=False, default=True)

  @property
  def num_tasks(self) -> int:
    return self.log_freqs_K.shape[0]

  @property
  def dim(self) -> int:
    return self.dim_task_D.shape[0]


def zipf_frequencies(num_tasks: int, zipf: float, offset: float) -> np.ndarray:
  """π_k ∝ (k + offset)^-zipf for k = 1..K, normalized."""
  k = np.arange(1, num_tasks + 1, dtype=np.float64)
  w = (k + offset) ** (-zipf)
  return w / w.sum()


def power_spectra(dims: Sequence[int], decay: Sequence[float]) -> list[np.ndarray]:
  """λ_{k,j} ∝ j^-decay_k, normalized so that Σ_j λ_{k,j} = 1 for every task."""
  lams = [np.arange(1, d + 1, dtype=np.float64) ** (-float(a)) for d, a in zip(dims, decay)]
  return [lam / lam.sum() for lam in lams]


def random_orthogonal(key: jax.Array, dim: int) -> np.ndarray:
  """A Haar-random orthogonal matrix (QR with the sign fix)."""
  g = np.asarray(jax.random.normal(key, (dim, dim)), np.float64)
  q, r = np.linalg.qr(g)
  return q * np.sign(np.diag(r))[None, :]


def make_spec(frequencies: Sequence[float], spectra: Sequence[np.ndarray],
              basis: np.ndarray | None = None) -> BlockRegressionSpec:
  """Builds a spec from per-task frequencies and spectra; ``basis`` defaults to the identity."""
  dims = [len(s) for s in spectra]
  return BlockRegressionSpec(
      log_freqs_K=jnp.log(jnp.asarray(frequencies, jnp.float32)),
      dim_task_D=jnp.asarray(np.repeat(np.arange(len(dims)), dims), jnp.int32),
      sqrt_lambda_D=jnp.asarray(np.sqrt(np.concatenate(spectra)), jnp.float32),
      basis_DxD=jnp.asarray(np.eye(sum(dims)) if basis is None else basis, jnp.float32),
      rotated=basis is not None,
  )


def sample(key: jax.Array, spec: BlockRegressionSpec, batch_size: int) -> Batch:
  """Draws ``batch_size`` i.i.d. examples from the mixture. Pure and jit-able."""
  k_task, k_z = jax.random.split(key)
  task_B = jax.random.categorical(k_task, spec.log_freqs_K, shape=(batch_size,))
  return Batch(*examples_of_tasks(k_z, spec, task_B), task_id=task_B.astype(jnp.int32))


def examples_of_tasks(key: jax.Array, spec: BlockRegressionSpec, task_B: jax.Array):
  """Inputs and targets for given task ids: x = Q (sqrt(λ) ⊙ z) restricted to the task's block."""
  z_BxD = jax.random.normal(key, (task_B.shape[0], spec.dim))
  own_BxD = spec.dim_task_D[None, :] == task_B[:, None]
  coeff_BxD = jnp.where(own_BxD, spec.sqrt_lambda_D * z_BxD, 0.0)
  x_BxD = coeff_BxD @ spec.basis_DxD.T if spec.rotated else coeff_BxD
  return x_BxD, x_BxD


def batch_of_tasks(key: jax.Array, spec: BlockRegressionSpec, task_B: jax.Array) -> Batch:
  return Batch(*examples_of_tasks(key, spec, task_B), task_id=task_B)


def eval_set(key: jax.Array, spec: BlockRegressionSpec, per_task: int) -> Batch:
  """A fixed, task-balanced evaluation set: ``per_task`` examples of every task, task-major."""
  task_B = jnp.repeat(jnp.arange(spec.num_tasks, dtype=jnp.int32), per_task)
  return batch_of_tasks(key, spec, task_B)


def closed_form_task_losses(w_DxD: jax.Array, bias_D: jax.Array,
                            spec: BlockRegressionSpec) -> jax.Array:
  """Exact per-task loss of the affine predictor ŷ = W x + bias.

  L_k = E_{x~k} ||(W − I) x + bias||² = Σ_j λ_{k,j} ||(W − I) b_{k,j}||² + ||bias||², because
  the task's input covariance is Σ_j λ_{k,j} b_{k,j} b_{k,j}ᵀ and its mean is zero.
  """
  resid_DxD = (w_DxD - jnp.eye(spec.dim, dtype=w_DxD.dtype)) @ spec.basis_DxD
  per_dir_D = jnp.sum(resid_DxD ** 2, axis=0) * spec.sqrt_lambda_D ** 2
  return (jax.ops.segment_sum(per_dir_D, spec.dim_task_D, num_segments=spec.num_tasks)
          + jnp.sum(bias_D ** 2))


def monte_carlo_task_losses(pred_BxD: jax.Array, batch: Batch, num_tasks: int) -> jax.Array:
  """Mean squared error per task on a given set of examples (any model)."""
  err_B = jnp.sum((pred_BxD - batch.y) ** 2, axis=-1)
  total_K = jax.ops.segment_sum(err_B, batch.task_id, num_segments=num_tasks)
  count_K = jax.ops.segment_sum(jnp.ones_like(err_B), batch.task_id, num_segments=num_tasks)
  return total_K / jnp.maximum(count_K, 1.0)
