"""The toy model ŷ = V σ(U x + b) + c (one or more hidden layers), with width masking.

One member, no leading axis. Every member is stored at the padded width W (the population's
largest); ``mask_W = arange(W) < width`` with ``width`` a traced scalar. Invariants:
- the mask is applied after the nonlinearity, so a padded unit's output, its incoming gradient
  and its outgoing gradient are exactly 0, and padded parameters that start at 0 stay at 0 under
  any element-wise optimizer;
- initialization uses the true fan-in (D for the first layer, ``width`` after it), and unit i's
  weights come from keys folded with i, so the first w units of a padded member are, bit for
  bit, a standalone width-w model built from the same key.

Shape letters (rarelearn/__init__.py): B batch, D input/output dimension, W padded hidden width.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

Params = dict[str, Any]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'linear': lambda h: h, 'relu': jax.nn.relu, 'gelu': jax.nn.gelu}


def hidden_mask(width: jax.Array, max_width: int) -> jax.Array:
  """1.0 for the member's true units, 0.0 for padding."""
  return (jnp.arange(max_width) < width).astype(jnp.float32)


def mask_of(params: Params, width: jax.Array) -> jax.Array:
  """``hidden_mask`` at the padded width W of ``params`` (read from their shapes)."""
  return hidden_mask(width, params['hidden'][0]['w'].shape[0])


def _rows(key: jax.Array, num_rows: int, row_len: int, bound=None) -> jax.Array:
  """Row i drawn from fold_in(key, i), N(0, 1) or (``bound``) U(−bound, bound): independent of
  how many rows are drawn."""
  draw = jax.random.normal if bound is None else (
      lambda k, shape: jax.random.uniform(k, shape, minval=-bound, maxval=bound))
  return jax.vmap(lambda i: draw(jax.random.fold_in(key, i), (row_len,)))(jnp.arange(num_rows))


def _entries(key: jax.Array, num_rows: int, num_cols: int) -> jax.Array:
  """Entry (i, j) drawn from fold_in(fold_in(key, i), j): independent of the padded shape."""
  def row(i):
    k = jax.random.fold_in(key, i)
    return jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(k, j), ()))(
        jnp.arange(num_cols))
  return jax.vmap(row)(jnp.arange(num_rows))


INITS = ('normal', 'uniform')


def init_params(key: jax.Array, width: jax.Array, max_width: int, dim: int, depth: int,
                init_scale: float, out_dim: int | None = None, init: str = 'normal') -> Params:
  """Parameters of one member, padded to ``max_width``, with ``out_dim`` outputs (default
  ``dim``). ``normal``: weights of std init_scale / sqrt(true fan-in), zero biases;
  ``uniform`` (one hidden layer): PyTorch's ``nn.Linear`` default, U(±1/sqrt(true fan-in)) for
  weights and biases. Either way unit i's draws come from keys folded with i."""
  out_dim = out_dim or dim
  mask_W = hidden_mask(width, max_width)
  fan_w = jnp.asarray(width, jnp.float32)
  if init == 'uniform':
    ks = [jax.random.fold_in(key, i) for i in range(4)]
    hb, ob = 1.0 / math.sqrt(dim), 1.0 / jnp.sqrt(fan_w)
    hidden = {'w': _rows(ks[0], max_width, dim, hb) * mask_W[:, None],
              'b': _rows(ks[1], max_width, 1, hb)[:, 0] * mask_W}
    out_w = _rows(ks[2], max_width, out_dim, ob).T * mask_W[None, :]
    out_b = jax.random.uniform(ks[3], (out_dim,), minval=-ob, maxval=ob)
    return {'hidden': [hidden], 'out': {'w': out_w, 'b': out_b}}
  keys = jax.random.split(key, depth + 1)
  hidden = [{'w': _rows(keys[0], max_width, dim) * (init_scale / jnp.sqrt(dim))
                  * mask_W[:, None],
             'b': jnp.zeros((max_width,))}]
  for layer in range(1, depth):
    w = _entries(keys[layer], max_width, max_width) * (init_scale / jnp.sqrt(fan_w))
    hidden.append({'w': w * mask_W[:, None] * mask_W[None, :], 'b': jnp.zeros((max_width,))})
  out_w = (_rows(keys[depth], max_width, out_dim).T * (init_scale / jnp.sqrt(fan_w))
           * mask_W[None, :])
  return {'hidden': hidden, 'out': {'w': out_w, 'b': jnp.zeros((out_dim,))}}


def apply(params: Params, x_BxD: jax.Array, mask_W: jax.Array, activation: str) -> jax.Array:
  act, h = ACTIVATIONS[activation], x_BxD
  for layer in params['hidden']:
    h = act(h @ layer['w'].T + layer['b']) * mask_W
  return h @ params['out']['w'].T + params['out']['b']


def affine_map(params: Params, mask_W: jax.Array, dim: int) -> tuple[jax.Array, jax.Array]:
  """(W_DxD, bias_D) of a linear-activation model: ŷ = W x + bias exactly."""
  bias_D = apply(params, jnp.zeros((1, dim)), mask_W, 'linear')[0]
  w_DxD = (apply(params, jnp.eye(dim), mask_W, 'linear') - bias_D).T
  return w_DxD, bias_D
