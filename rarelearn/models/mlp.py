"""The toy model ŷ = V σ(U x + b) + c (one or more hidden layers), with width masking.

One member, no leading axis. Every member is stored at the padded width W (the population's
largest); ``mask_W = arange(W) < width`` with ``width`` a traced scalar. Invariants:
- the mask is applied after the nonlinearity, so a padded unit's output, its incoming gradient
  and its outgoing gradient are exactly 0, and padded parameters that start at 0 stay at 0 under
  any element-wise optimizer;
- initialization uses the true fan-in (D for the first layer, ``width`` after it), and unit i's
  weights come from keys folded with i, so the first w units of a padded member are, bit for
  bit, a standalone width-w model built from the same key.

Shape letters: B batch, D input/output dimension, W padded hidden width.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Params = dict[str, Any]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'linear': lambda h: h,
    'relu': jax.nn.relu,
    'gelu': jax.nn.gelu,
}


def hidden_mask(width: jax.Array, max_width: int) -> jax.Array:
  """1.0 for the member's true units, 0.0 for padding."""
  return (jnp.arange(max_width) < width).astype(jnp.float32)


def _rows(key: jax.Array, num_rows: int, row_len: int) -> jax.Array:
  """Row i drawn from fold_in(key, i): independent of how many rows are drawn."""
  return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (row_len,)))(
      jnp.arange(num_rows))


def _entries(key: jax.Array, num_rows: int, num_cols: int) -> jax.Array:
  """Entry (i, j) drawn from fold_in(fold_in(key, i), j): independent of the padded shape."""
  def row(i):
    k = jax.random.fold_in(key, i)
    return jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(k, j), ()))(
        jnp.arange(num_cols))
  return jax.vmap(row)(jnp.arange(num_rows))


def init_params(key: jax.Array, width: jax.Array, max_width: int, dim: int, depth: int,
                init_scale: float) -> Params:
  """Parameters of one member, padded to ``max_width``; std = init_scale / sqrt(true fan-in)."""
  mask_W = hidden_mask(width, max_width)
  fan_w = jnp.asarray(width, jnp.float32)
  keys = jax.random.split(key, depth + 1)
  hidden = [{'w': _rows(keys[0], max_width, dim) * (init_scale / jnp.sqrt(dim))
                  * mask_W[:, None],
             'b': jnp.zeros((max_width,))}]
  for layer in range(1, depth):
    w = _entries(keys[layer], max_width, max_width) * (init_scale / jnp.sqrt(fan_w))
    hidden.append({'w': w * mask_W[:, None] * mask_W[None, :], 'b': jnp.zeros((max_width,))})
  out_w = _rows(keys[depth], max_width, dim).T * (init_scale / jnp.sqrt(fan_w)) * mask_W[None, :]
  return {'hidden': hidden, 'out': {'w': out_w, 'b': jnp.zeros((dim,))}}


def apply(params: Params, x_BxD: jax.Array, mask_W: jax.Array, activation: str) -> jax.Array:
  act = ACTIVATIONS[activation]
  h = x_BxD
  for layer in params['hidden']:
    h = act(h @ layer['w'].T + layer['b']) * mask_W
  return h @ params['out']['w'].T + params['out']['b']


def affine_map(params: Params, mask_W: jax.Array, dim: int) -> tuple[jax.Array, jax.Array]:
  """(W_DxD, bias_D) of a linear-activation model: ŷ = W x + bias exactly."""
  bias_D = apply(params, jnp.zeros((1, dim)), mask_W, 'linear')[0]
  w_DxD = (apply(params, jnp.eye(dim), mask_W, 'linear') - bias_D).T
  return w_DxD, bias_D
