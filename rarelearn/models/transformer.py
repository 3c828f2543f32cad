"""Decoder-only transformer, OLMo-style, maskable along every axis a model ladder varies.

One member, no leading axis. Architecture: token embedding → L × [pre-RMSNorm → causal
multi-head attention with RoPE → residual; pre-RMSNorm → SwiGLU MLP → residual] → RMSNorm →
untied output projection. No biases. Initialization: every weight matrix normal with std
``init_std`` (0.02, OLMo), norm scales 1.

Padding. Every member is stored at the padded shape of the population (``Dims``: d_model D,
heads H, head_dim A, MLP hidden I, layers L) and carries its true shape as traced integers
(``Shape``: d, h, e, f, l). Invariants (tests/test_transformer.py):
- padded parameters are exactly 0 and their gradients are exactly 0, so they stay 0 under any
  element-wise optimizer — the residual stream's padded coordinates are 0 throughout;
- RMSNorm statistics use the true d_model; attention masks whole heads (h < H) *and* the
  coordinates of a head beyond the true head_dim (a < A), since OLMo's ladder changes head_dim
  between rungs; the softmax scale is 1/sqrt(e) of the true head_dim; RoPE rotates interleaved
  pairs (2i, 2i+1) at frequency base^(-2i/e), so the true coordinates of a head see exactly a
  standalone model's rotation;
- layers at index ≥ l add exactly nothing to the residual stream (their parameters are 0 and
  their output is multiplied by 0);
so a member equals a standalone transformer of its true shape, trained on the same batches.

Memory (``next_token_losses``): ``compute_dtype`` bfloat16 (float32 parameters and gradients;
norm statistics, softmax and cross-entropy in float32); ``remat`` per layer ('full': keeps the
layer inputs, 'dots': the matmul outputs too); ``loss_chunk`` tokens of [tokens, V] logits at a
time, recomputed in the backward pass. Remat and chunking change memory, not the numbers.

Shape letters (the package legend, rarelearn/__init__.py): S sequence, V vocabulary, D d_model,
H heads, A head_dim, I MLP hidden, L layers.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

Params = dict[str, Any]
NORM_EPS = 1e-5
REMAT = {'none': None, 'full': jax.checkpoint_policies.nothing_saveable,
         'dots': jax.checkpoint_policies.dots_with_no_batch_dims_saveable}


@dataclasses.dataclass(frozen=True)
class Dims:
  """Static (padded) dimensions shared by the population."""
  vocab: int
  d_model: int
  num_heads: int
  head_dim: int
  mlp: int
  depth: int
  rope_base: float = 10_000.0
  init_std: float = 0.02


class Shape(NamedTuple):
  """A member's true shape: traced int32 scalars (leading member axis in a population)."""
  d_model: jax.Array
  num_heads: jax.Array
  head_dim: jax.Array
  mlp: jax.Array
  depth: jax.Array


def shape_of(d_model: int, num_heads: int, mlp: int, depth: int,
             head_dim: int | None = None) -> Shape:
  head_dim = head_dim or d_model // num_heads
  return Shape(*(jnp.int32(v) for v in (d_model, num_heads, head_dim, mlp, depth)))


def dims_of(shape: Shape, vocab: int, **kw) -> Dims:
  """Dims with no padding at all (a standalone model of ``shape``)."""
  return Dims(vocab, *(int(v) for v in shape), **kw)


def masks(shape: Shape, dims: Dims) -> dict[str, jax.Array]:
  """1.0 on a member's true coordinates, 0.0 on padding."""
  lt = lambda n, size: (jnp.arange(size) < n).astype(jnp.float32)
  return {'D': lt(shape.d_model, dims.d_model),
          'HA': lt(shape.num_heads, dims.num_heads)[:, None] * lt(shape.head_dim,
                                                                   dims.head_dim)[None, :],
          'I': lt(shape.mlp, dims.mlp), 'L': lt(shape.depth, dims.depth)}


def init_params(key: jax.Array, shape: Shape, dims: Dims) -> Params:
  """Normal(0, init_std) weights on the true coordinates, 0 on padding; norm scales 1 (0 on
  padding and in layers beyond the member's depth)."""
  D, H, A, I, L, V = (dims.d_model, dims.num_heads, dims.head_dim, dims.mlp, dims.depth,
                      dims.vocab)
  names = ('embed', 'wq', 'wk', 'wv', 'wo', 'w_gate', 'w_up', 'w_down', 'unembed')
  k = dict(zip(names, jax.random.split(key, len(names))))
  normal = lambda name, s: dims.init_std * jax.random.normal(k[name], s)
  mD, mHA, mI, mL = map(masks(shape, dims).get, ('D', 'HA', 'I', 'L'))
  layer_D = mL[:, None] * mD[None, :]  # [L, D]
  qkv_mask = layer_D[:, :, None, None] * mHA[None, None]  # [L, D, H, A]
  mlp_mask = layer_D[:, :, None] * mI[None, None, :]  # [L, D, I]
  return {
      'embed': normal('embed', (V, D)) * mD,
      'layers': {
          'attn_norm': layer_D, 'mlp_norm': layer_D,
          **{w: normal(w, (L, D, H, A)) * qkv_mask for w in ('wq', 'wk', 'wv')},
          'wo': normal('wo', (L, H, A, D)) * jnp.moveaxis(qkv_mask, 1, 3),
          **{w: normal(w, (L, D, I)) * mlp_mask for w in ('w_gate', 'w_up')},
          'w_down': normal('w_down', (L, I, D)) * jnp.swapaxes(mlp_mask, 1, 2),
      },
      'final_norm': mD,
      'unembed': normal('unembed', (D, V)) * mD[:, None],
  }


def rms_norm(x_SxD: jax.Array, scale_D: jax.Array, shape: Shape, mask_D: jax.Array):
  """x / sqrt(mean over the true d_model of x² + eps) · scale (0 on padding); the statistics in
  float32 whatever x's dtype."""
  x = x_SxD.astype(jnp.float32)
  ms = jnp.sum(jnp.square(x) * mask_D, axis=-1, keepdims=True) / shape.d_model
  return (x * jax.lax.rsqrt(ms + NORM_EPS)).astype(x_SxD.dtype) * scale_D


def rope(x_SxHxA: jax.Array, head_dim: jax.Array, base: float) -> jax.Array:
  """Rotates interleaved pairs (2i, 2i+1) by position · base^(-2i / head_dim)."""
  S, _, A = x_SxHxA.shape
  i = jnp.arange(A // 2, dtype=jnp.float32)
  inv_freq = base ** (-2.0 * i / head_dim.astype(jnp.float32))
  angle = jnp.arange(S, dtype=jnp.float32)[:, None] * inv_freq[None, :]  # [S, A/2]
  cos, sin = (f(angle)[:, None, :].astype(x_SxHxA.dtype) for f in (jnp.cos, jnp.sin))
  x0, x1 = x_SxHxA[..., 0::2], x_SxHxA[..., 1::2]
  out = jnp.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1)
  return out.reshape(x_SxHxA.shape)


def _layer(x_SxD, layer, active, shape: Shape, dims: Dims, m):
  S = x_SxD.shape[0]
  h = rms_norm(x_SxD, layer['attn_norm'], shape, m['D'])
  q, k, v = (jnp.einsum('sd,dhe->she', h, layer[w]) * m['HA'] for w in ('wq', 'wk', 'wv'))
  q, k = rope(q, shape.head_dim, dims.rope_base), rope(k, shape.head_dim, dims.rope_base)
  scores = jnp.einsum('she,the->hst', q, k) / jnp.sqrt(shape.head_dim.astype(q.dtype))
  causal = jnp.tril(jnp.ones((S, S), bool))
  probs = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1).astype(v.dtype)
  attn = jnp.einsum('hst,the->she', probs, v) * m['HA']
  x_SxD = x_SxD + active * jnp.einsum('she,hed->sd', attn, layer['wo'])
  h = rms_norm(x_SxD, layer['mlp_norm'], shape, m['D'])
  hidden = jax.nn.silu(h @ layer['w_gate']) * (h @ layer['w_up']) * m['I']
  return x_SxD + active * (hidden @ layer['w_down'])


def apply(params: Params, tokens_S: jax.Array, shape: Shape, dims: Dims) -> jax.Array:
  """Next-token logits [S, V] of one sequence."""
  return apply_embedded(params, params['embed'][tokens_S], shape, dims)


def apply_embedded(params: Params, x: jax.Array, shape: Shape, dims: Dims) -> jax.Array:
  """Logits [S, V] from the input embeddings x [S, D]."""
  return _final(params, _layers(params, x, shape, dims), shape, dims) @ params['unembed']


def _final(params: Params, x_SxD: jax.Array, shape: Shape, dims: Dims) -> jax.Array:
  return rms_norm(x_SxD, params['final_norm'], shape, masks(shape, dims)['D'].astype(x_SxD.dtype))


def _layers(params: Params, x_SxD: jax.Array, shape: Shape, dims: Dims, remat: str = 'none',
            every_layer: bool = False) -> jax.Array:
  """The residual stream leaving the last layer [S, D] (``every_layer``: [L + 1, S, D], the
  stream entering the first layer and leaving each layer)."""
  m = {k: v.astype(x_SxD.dtype) for k, v in masks(shape, dims).items()}
  layer = _layer if remat == 'none' else jax.checkpoint(_layer, policy=REMAT[remat],
                                                        static_argnums=(4,))

  def body(x, layer_and_active):
    x = layer(x, *layer_and_active, shape, dims, m)
    return x, x if every_layer else None
  x, xs = jax.lax.scan(body, x_SxD, (params['layers'], m['L']))
  return jnp.concatenate([x_SxD[None], xs]) if every_layer else x


def residual_streams(params: Params, tokens_S: jax.Array, shape: Shape, dims: Dims) -> jax.Array:
  """[L + 1, S, D]: the token embeddings (index 0) and the residual stream after each layer
  (index l); entries beyond the member's depth repeat its last layer's output."""
  return _layers(params, params['embed'][tokens_S], shape, dims, every_layer=True)


def next_token_losses(params: Params, tokens_BxS1: jax.Array, shape: Shape, dims: Dims,
                      compute_dtype: str = 'float32', remat: str = 'none',
                      loss_chunk: int = 0, split=None) -> jax.Array:
  """[B, S] next-token cross-entropies (nats, float32) of sequences of S + 1 tokens, with the
  memory options of the module docstring; ``split`` (e.g. a sharding constraint) is applied to
  the input embeddings [B, S, D]."""
  params = jax.tree.map(lambda p: p.astype(compute_dtype), params)
  x_BxSxD = params['embed'][tokens_BxS1[:, :-1]]
  x_BxSxD = x_BxSxD if split is None else split(x_BxSxD)
  h_BxSxD = jax.vmap(lambda x: _final(params, _layers(params, x, shape, dims, remat), shape,
                                      dims))(x_BxSxD)
  cross_entropy = lambda h, t: optax.softmax_cross_entropy_with_integer_labels(
      (h @ params['unembed']).astype(jnp.float32), t)
  if not loss_chunk:
    return cross_entropy(h_BxSxD, tokens_BxS1[:, 1:])
  B, S, D = h_BxSxD.shape
  n = -(-B * S // loss_chunk)  # blocks; the last one padded (its extra losses dropped)
  pad = n * loss_chunk - B * S
  blocks = (jnp.pad(h_BxSxD.reshape(B * S, D), ((0, pad), (0, 0))).reshape(n, loss_chunk, D),
            jnp.pad(tokens_BxS1[:, 1:].reshape(B * S), (0, pad)).reshape(n, loss_chunk))
  losses = jax.lax.map(jax.checkpoint(lambda block: cross_entropy(*block)), blocks)
  return losses.reshape(-1)[:B * S].reshape(B, S)


def parameter_counts(d_model: int, num_heads: int, head_dim: int, mlp: int, depth: int,
                     vocab: int) -> dict[str, int]:
  """Exact counts of a standalone model: non-embedding (attention, MLP, norms) and embedding
  (input embedding + untied output projection)."""
  per_layer = 4 * d_model * num_heads * head_dim + 3 * d_model * mlp + 2 * d_model
  non_embedding = depth * per_layer + d_model
  embedding = 2 * vocab * d_model
  return {'non_embedding': non_embedding, 'embedding': embedding,
          'total': non_embedding + embedding}
