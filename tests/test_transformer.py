"""Masked transformer members ≡ unpadded standalone transformers; causality; parameter counts."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rarelearn.core import optim
from rarelearn.models import transformer as tf
from rarelearn.population import lm_training

from test_population import _assert_rel_close

VOCAB, SEQ = 37, 12
# three shapes that differ in width, heads, head_dim, MLP width and depth
SHAPES = [dict(d_model=16, num_heads=2, mlp=24, depth=1),
          dict(d_model=24, num_heads=4, mlp=40, depth=3, head_dim=6),
          dict(d_model=32, num_heads=2, mlp=64, depth=2)]  # head_dim 16
PADDED = tf.Dims(VOCAB, d_model=32, num_heads=4, head_dim=16, mlp=64, depth=3)


def _crop(params, shape: tf.Shape):
  """A padded member's true block: the initial parameters of its standalone model."""
  d, h, e, f, l = (int(v) for v in shape)
  lay = params['layers']
  return {'embed': params['embed'][:, :d],
          'layers': {'attn_norm': lay['attn_norm'][:l, :d], 'mlp_norm': lay['mlp_norm'][:l, :d],
                     'wq': lay['wq'][:l, :d, :h, :e], 'wk': lay['wk'][:l, :d, :h, :e],
                     'wv': lay['wv'][:l, :d, :h, :e], 'wo': lay['wo'][:l, :h, :e, :d],
                     'w_gate': lay['w_gate'][:l, :d, :f], 'w_up': lay['w_up'][:l, :d, :f],
                     'w_down': lay['w_down'][:l, :f, :d]},
          'final_norm': params['final_norm'][:d], 'unembed': params['unembed'][:d]}


def _loss(params, tokens_BxS, shape, dims):
  logits = jax.vmap(lambda t: tf.apply(params, t, shape, dims))(tokens_BxS[:, :-1])
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, tokens_BxS[:, 1:]))


def _train(params, shape, dims, steps=4):
  opt = optax.adamw(3e-3, weight_decay=0.1)
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state, t):
    tokens = jax.random.randint(jax.random.fold_in(jax.random.key(7), t), (4, SEQ + 1), 0, VOCAB)
    loss, grads = jax.value_and_grad(_loss)(params, tokens, shape, dims)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, grads
  losses = []
  for t in range(steps):
    params, opt_state, loss, grads = step(params, opt_state, t)
    losses.append(loss)
  return params, np.asarray(losses), grads


def test_members_equal_unpadded_standalone_transformers():
  with jax.default_matmul_precision('highest'):
    for i, kw in enumerate(SHAPES):
      shape = tf.shape_of(**kw)
      padded = tf.init_params(jax.random.key(i), shape, PADDED)
      solo_dims = tf.dims_of(shape, VOCAB)
      solo = _crop(padded, shape)
      trained_p, losses_p, grads_p = _train(padded, shape, PADDED)
      trained_s, losses_s, _ = _train(solo, shape, solo_dims)
      _assert_rel_close(losses_p, losses_s)
      for a, b in zip(jax.tree.leaves(_crop(trained_p, shape)), jax.tree.leaves(trained_s)):
        _assert_rel_close(a, b)
      # padding: parameters and gradients exactly 0 (every nonzero lies in the true block)
      for tree in (trained_p, grads_p):
        for full, kept in zip(jax.tree.leaves(tree), jax.tree.leaves(_crop(tree, shape))):
          assert np.count_nonzero(full) == np.count_nonzero(kept) > 0, kw


def test_causality_no_gradient_from_future_tokens():
  shape = tf.shape_of(**SHAPES[1])
  params = tf.init_params(jax.random.key(3), shape, PADDED)
  tokens = jax.random.randint(jax.random.key(4), (SEQ,), 0, VOCAB)
  x = params['embed'][tokens]

  for t in (0, 5, SEQ - 2):
    jac = jax.jacrev(lambda x: tf.apply_embedded(params, x, shape, PADDED)[t])(x)  # [V, S, D]
    assert np.all(np.asarray(jac[:, t + 1:]) == 0.0)
    assert np.any(np.asarray(jac[:, :t + 1]) != 0.0)


def test_rope_rotation_by_hand():
  x = jnp.zeros((3, 1, 4)).at[:, 0, 0].set(1.0).at[:, 0, 2].set(1.0)
  out = tf.rope(x, jnp.int32(4), 100.0)
  # pair 0 turns by p rad, pair 1 by p · 100^(-1/2) = p / 10 rad at position p
  for p in range(3):
    np.testing.assert_allclose(out[p, 0], [np.cos(p), np.sin(p), np.cos(p / 10), np.sin(p / 10)],
                               rtol=1e-6, atol=1e-7)


def test_parameter_counts_by_hand():
  c = tf.parameter_counts(d_model=8, num_heads=2, head_dim=4, mlp=12, depth=3, vocab=10)
  per_layer = 4 * 8 * 8 + 3 * 8 * 12 + 2 * 8
  assert c == {'non_embedding': 3 * per_layer + 8, 'embedding': 2 * 10 * 8,
               'total': 3 * per_layer + 8 + 160}
  shape = tf.shape_of(d_model=8, num_heads=2, mlp=12, depth=3)
  solo = tf.init_params(jax.random.key(0), shape, tf.dims_of(shape, 10))
  assert sum(x.size for x in jax.tree.leaves(solo)) == c['total']


def _memory_case(batch=3):
  shape = tf.shape_of(**SHAPES[1])
  params = tf.init_params(jax.random.key(5), shape, PADDED)
  tokens = jax.random.randint(jax.random.key(6), (batch, SEQ + 1), 0, VOCAB)
  return shape, params, tokens


def test_chunked_cross_entropy_and_remat_equal_the_plain_loss():
  """The [B, S] losses and their gradient computed block by block (a block size that divides
  B·S and one that does not) and with each layer rematerialized equal the plain path's
  (``tf.apply`` on each sequence, then optax's cross-entropy: the test's own ``_loss``)."""
  shape, params, tokens = _memory_case()
  want_loss, want_grads = jax.value_and_grad(_loss)(params, tokens, shape, PADDED)
  for memory in (dict(loss_chunk=12), dict(loss_chunk=5), dict(remat='full'),
                 dict(remat='dots', loss_chunk=7)):
    loss, grads = jax.jit(jax.value_and_grad(
        lambda p: jnp.mean(tf.next_token_losses(p, tokens, shape, PADDED, **memory))))(params)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want_grads)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())  # rounding
      assert np.count_nonzero(a) == np.count_nonzero(b)  # padding stays exactly 0


def _gradient(params, tokens, shape, **memory):
  hp = lm_training.Hyper(dims=PADDED, seq_len=SEQ, batch_size=tokens.shape[0], steps_per_chunk=1,
                         opt=optim.Hyper(), **memory)
  member = lm_training.Member(shape, jnp.float32(1e-3), None)
  loss, grads, _ = jax.jit(lambda p: lm_training._gradient(p, tokens, None, jnp.int32(0), member,
                                                           hp, None))(params)
  return loss, grads


def test_microbatches_equal_one_batch():
  """k micro-batches with their gradients averaged give the loss and gradient of the whole
  batch (to float32 rounding)."""
  shape, params, tokens = _memory_case(batch=4)
  want_loss, want_grads = jax.value_and_grad(_loss)(params, tokens, shape, PADDED)
  for k in (2, 4):
    loss, grads = _gradient(params, tokens, shape, microbatch=4 // k)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want_grads)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_bfloat16_compute_keeps_float32_gradients_close_to_float32():
  shape, params, tokens = _memory_case()
  loss32, grads32 = _gradient(params, tokens, shape)
  loss16, grads16 = _gradient(params, tokens, shape, compute_dtype='bfloat16')
  assert abs(float(loss16) - float(loss32)) < 1e-2 * float(loss32)
  flat = lambda tree: np.concatenate([np.ravel(a) for a in jax.tree.leaves(tree)])
  assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(grads16))
  g16, g32 = flat(grads16), flat(grads32)
  assert g16 @ g32 / np.linalg.norm(g16) / np.linalg.norm(g32) > 0.99
  assert np.count_nonzero(g16) <= np.count_nonzero(g32)  # nothing leaks into the padding
