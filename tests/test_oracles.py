"""Oracles independent of the code under test: a numpy reference, finite differences, scipy.

- ``_np_logits``: a float64 numpy forward pass of the decoder written from the textbook
  definitions (RMSNorm x / sqrt(mean x² + eps) · g; causal multi-head attention, softmax scale
  1/sqrt(head_dim); RoFormer rotary embeddings as a complex multiplication
  (x_2i + i·x_2i+1) · exp(i·p·base^(-2i/head_dim)); SwiGLU (silu(h W_gate) ⊙ h W_up) W_down;
  pre-norm residuals; final RMSNorm; untied output projection). It shares no code with
  rarelearn/models/transformer.py, only the parameter layout (``init_params``'s leaves, read
  with np.asarray) and the constants NORM_EPS / rope_base, which it takes as arguments.
  Mutated references (half-split RoPE, no RoPE, a wrong base, eps 0, no causal mask) show that
  the comparison's tolerance separates the right convention from the wrong ones.
- Gradients: the training gradient (``lm_training._gradient``, float32, the path
``lm_training.train_step``
  takes) against central finite differences of the numpy reference's float64 loss.
- Accuracy: ``lm_training.evaluate``'s test accuracy, task loss and background loss against the
  numpy model run on the full instances TOK1 TOK2 LABEL EOD, the answer recomputed from the task's
  hidden order (not from its label table).
- Rank statistics: the trend claims' vectorized Spearman ρ (``claims.rank_correlation``) against
  ``scipy.stats.spearmanr`` on tied data.
"""
import dataclasses
import functools
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from rarelearn.analysis import claims
from rarelearn.core import configlib
from rarelearn.models import transformer as tf
from rarelearn.population import ladder, lm_training
from rarelearn.tasks import tokens as tk

from conftest import REPO

CONFIG = os.path.join(REPO, 'configs', 'olmo_tiny.py') + ':smoke'  # vocab 160, seq_len 16


@functools.cache
def _setup():
  """(rungs, the d16 rung's Hyper: d_model 16, 2 heads of 8, MLP 64, 2 layers, and the run's
  Data: Markov chain and T_CMP task)."""
  config = configlib.load_config_file(CONFIG)
  rungs = ladder.rungs(config)
  return rungs, ladder.hyper(config, rungs[1]), ladder.data_of(config)


def _shape(rung) -> tf.Shape:
  return tf.shape_of(rung.d_model, rung.num_heads, rung.mlp, rung.depth)


# ---------------------------------------------------------------------------------------------
# The numpy reference (float64).

def _np_params(params) -> dict:
  return jax.tree.map(lambda a: np.asarray(a, np.float64), params)


def _np_rms_norm(x, g, eps):
  return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def _np_rope(x_BxSxHxE, base, rope='interleaved'):
  """RoFormer: the pair (x_2i, x_2i+1) of position p turned by p · base^(-2i/E) radians;
  'half': the pair (x_i, x_i+E/2) instead (GPT-NeoX); 'none': no rotation."""
  if rope == 'none':
    return x_BxSxHxE
  S, E = x_BxSxHxE.shape[1], x_BxSxHxE.shape[-1]
  theta = base ** (-np.arange(0, E, 2) / E)  # [E/2]
  turn = np.exp(1j * np.arange(S)[:, None] * theta[None, :])[None, :, None, :]  # [1, S, 1, E/2]
  if rope == 'half':
    z = (x_BxSxHxE[..., :E // 2] + 1j * x_BxSxHxE[..., E // 2:]) * turn
    return np.concatenate([z.real, z.imag], axis=-1)
  z = (x_BxSxHxE[..., 0::2] + 1j * x_BxSxHxE[..., 1::2]) * turn
  return np.stack([z.real, z.imag], axis=-1).reshape(x_BxSxHxE.shape)


def _np_logits(p, tokens_BxS, base, eps=tf.NORM_EPS, rope='interleaved', causal=True):
  """[B, S, V] logits of the textbook decoder with the parameters ``p`` (numpy float64)."""
  x = p['embed'][tokens_BxS]  # [B, S, D]
  S = x.shape[1]
  lay = p['layers']
  for l in range(lay['wq'].shape[0]):
    h = _np_rms_norm(x, lay['attn_norm'][l], eps)
    q, k, v = (np.einsum('bsd,dhe->bshe', h, lay[w][l]) for w in ('wq', 'wk', 'wv'))
    q, k = _np_rope(q, base, rope), _np_rope(k, base, rope)
    scores = np.einsum('bshe,bthe->bhst', q, k) / np.sqrt(q.shape[-1])
    if causal:
      scores = np.where(np.tril(np.ones((S, S), bool)), scores, -np.inf)
    w = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    heads = np.einsum('bhst,bthe->bshe', w, v)
    x = x + np.einsum('bshe,hed->bsd', heads, lay['wo'][l])
    h = _np_rms_norm(x, lay['mlp_norm'][l], eps)
    gate, up = h @ lay['w_gate'][l], h @ lay['w_up'][l]
    x = x + (gate / (1.0 + np.exp(-gate)) * up) @ lay['w_down'][l]
  return _np_rms_norm(x, p['final_norm'], eps) @ p['unembed']


def _np_cross_entropy(logits, targets):
  top = logits.max(axis=-1, keepdims=True)
  lse = top[..., 0] + np.log(np.sum(np.exp(logits - top), axis=-1))
  return lse - np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]


def _np_loss(p, tokens_BxS1, base):
  """The mean next-token cross-entropy (nats) over the B × S targets."""
  logits = _np_logits(p, tokens_BxS1[:, :-1], base)
  return np.mean(_np_cross_entropy(logits, tokens_BxS1[:, 1:]))


def _model_logits(params, tokens_BxS, shape, dims):
  return np.asarray(jax.jit(jax.vmap(lambda t: tf.apply(params, t, shape, dims)))(tokens_BxS),
                    np.float64)


# ---------------------------------------------------------------------------------------------
# 1. Forward pass.

def _scaled(params, factor):
  """The weight matrices (every leaf of rank ≥ 2 but the norm scales) times ``factor``: an
  initialization at ``factor`` × init_std, whose attention is far from uniform."""
  scale = lambda path, a: a if 'norm' in jax.tree_util.keystr(path) else a * factor
  return jax.tree_util.tree_map_with_path(scale, params)


def _crop(p, d, h, e, f, l):
  lay = p['layers']
  return {'embed': p['embed'][:, :d],
          'layers': {'attn_norm': lay['attn_norm'][:l, :d], 'mlp_norm': lay['mlp_norm'][:l, :d],
                     **{w: lay[w][:l, :d, :h, :e] for w in ('wq', 'wk', 'wv')},
                     'wo': lay['wo'][:l, :h, :e, :d],
                     'w_gate': lay['w_gate'][:l, :d, :f], 'w_up': lay['w_up'][:l, :d, :f],
                     'w_down': lay['w_down'][:l, :f, :d]},
          'final_norm': p['final_norm'][:d], 'unembed': p['unembed'][:d]}


# wrong conventions: GPT-NeoX's half-split pairs, no rotation, a base 10× too small, no eps
# inside the square root, attention to future tokens
MUTATIONS = (dict(rope='half'), dict(rope='none'), dict(base=1000.0), dict(eps=0.0),
             dict(causal=False))


def test_forward_matches_numpy_textbook_decoder():
  """Logits of the model (float32, its own initialization) equal the float64 numpy decoder's
  to 1e-5 of the largest |logit|: float32's unit roundoff is 6e-8, and two layers of sums of
  at most 64 terms accumulate O(1e-6) relative error, so 1e-5 leaves about 10× headroom. A
  wrong convention moves the logits by far more (checked on mutated references below).

  Cases: the d16 rung of the smoke ladder at its initialization (std 0.02: the residual
  stream's mean square is ≈ 4e-4, so the norm's eps = 1e-5 matters at the 1% level), the same
  at init std 0.5 (sharp attention, so RoPE and the causal mask matter), and the d8 rung
  (head_dim 4, 1 layer) as a member padded into Dims of width 16, 3 heads of 8, MLP 64, 2
  layers, against the numpy decoder at its true size (the true block of its parameters)."""
  rungs, hp, _ = _setup()
  base = hp.dims.rope_base
  tokens = np.asarray(jax.random.randint(jax.random.key(1), (2, 8), 0, hp.dims.vocab))
  d16, d8 = _shape(rungs[1]), _shape(rungs[0])
  padded = tf.Dims(hp.dims.vocab, d_model=16, num_heads=3, head_dim=8, mlp=64, depth=2)
  true8 = dict(d=8, h=2, e=4, f=32, l=1)
  assert tuple(int(v) for v in d8) == tuple(true8.values())
  init16 = tf.init_params(jax.random.key(10), d16, hp.dims)
  cases = {'init': (d16, hp.dims, init16, lambda p: p),
           'std0.5': (d16, hp.dims, _scaled(init16, 25.0), lambda p: p),
           'padded': (d8, padded, _scaled(tf.init_params(jax.random.key(11), d8, padded), 25.0),
                      lambda p: _crop(p, **true8))}
  worst = {}
  for name, (shape, dims, params, true_block) in cases.items():
    got = _model_logits(params, tokens, shape, dims)
    p = true_block(_np_params(params))
    want = _np_logits(p, tokens, base)
    scale = np.abs(want).max()
    err = np.abs(got - want).max() / scale
    assert err < 1e-5, (name, err)
    for mutation in MUTATIONS:
      wrong = np.abs(got - _np_logits(p, tokens, **{'base': base, **mutation})).max() / scale
      key = ' '.join(f'{k}={v}' for k, v in mutation.items())
      worst[key] = max(worst.get(key, 0.0), wrong)
  # every wrong convention is rejected by at least two orders of magnitude in some case
  assert all(v > 1e-3 for v in worst.values()), worst


# ---------------------------------------------------------------------------------------------
# 2. Gradients.

def test_training_gradient_matches_finite_differences_of_numpy_loss():
  """The float32 gradient the optimizer receives (``lm_training._gradient``: ``loss_fn`` with the
  rung's memory settings) against central differences (step 1e-5) of the float64 numpy loss on one
  training batch (``lm_training.batch_at``, 2 sequences of 8 + 1 tokens, one carrying a task
  instance).

  The differences are accurate to ≈ 1e-10 (truncation h² · f''' and rounding 1e-16 / h), so the
  error is float32's (unit roundoff 6e-8, accumulated over the backward pass): measured ≤ 1e-6
  relative on a leaf's large coordinates, up to 7e-4 on coordinates 1000× below the leaf's
  largest (their absolute error is that of the large ones). Tolerances, per leaf:
  - 4 random coordinates: |g − fd| ≤ 1e-4 · |fd| + 1e-6 · (the largest of the 4 |fd|);
  - a random unit direction u (every coordinate at once): |⟨g, u⟩ − fd_u| ≤ 1e-4 · |fd_u| +
    1e-6 · ‖g‖ (rounding errors δg of relative size 1e-6 move ⟨g, u⟩ by at most 1e-6 · ‖g‖).
  Both at the model's initialization (std 0.02) and at 15× its weights (std 0.3: sharp
  attention, so the RoPE and softmax backward passes carry real gradients). JAX in float64
  would not tighten this much: the model computes its norm statistics, RoPE angles and
  cross-entropy in float32 whatever the parameters' dtype."""
  rungs, hp, data = _setup()
  hp = dataclasses.replace(hp, batch_size=2, seq_len=8)
  shape = _shape(rungs[1])
  member = lm_training.Member(shape, jnp.float32(1e-2), tk.injection(0.5))
  tokens, carriers = jax.jit(lambda d: lm_training.batch_at(jax.random.key(2), jnp.int32(0), d,
                                                            member, hp))(data)
  assert int(jnp.sum(carriers)) == 1
  t = np.asarray(tokens)
  gradient = jax.jit(
      lambda p: lm_training._gradient(p, tokens, None, jnp.int32(0), member, hp, None))
  init = tf.init_params(jax.random.key(3), shape, hp.dims)  # as lm_training.init_state
  rng = np.random.default_rng(0)
  for factor in (1.0, 15.0):
    params = _scaled(init, factor)
    loss, grads, _ = gradient(params)
    p = _np_params(params)
    f = lambda: _np_loss(p, t, hp.dims.rope_base)
    np.testing.assert_allclose(float(loss), f(), rtol=1e-6)
    paths = jax.tree.flatten_with_path(p)[0]
    for (path, leaf), g in zip(paths, jax.tree.leaves(grads)):
      g = np.asarray(g, np.float64)
      name = jax.tree_util.keystr(path)

      def fd(direction, h=1e-5, leaf=leaf):  # the central difference along ``direction``
        orig = leaf.copy()
        leaf[...] = orig + h * direction
        up = f()
        leaf[...] = orig - h * direction
        down = f()
        leaf[...] = orig
        return (up - down) / (2 * h)
      # 4 random coordinates (embedding rows: of tokens the batch reads, the others get 0)
      rows = t[:, :-1].ravel() if name == "['embed']" else None
      coords = [tuple(rng.choice(rows) if (i == 0 and rows is not None) else rng.integers(n)
                      for i, n in enumerate(leaf.shape)) for _ in range(4)]
      want = []
      for c in coords:
        e = np.zeros_like(leaf)
        e[c] = 1.0
        want.append(fd(e))
      want, got = np.array(want), np.array([g[c] for c in coords])
      scale = np.abs(want).max()
      err = np.abs(got - want)
      assert np.all(err <= 1e-4 * np.abs(want) + 1e-6 * scale), (factor, name, got, want)
      # along a random unit direction: every coordinate of the leaf at once
      u = rng.normal(size=leaf.shape)
      u /= np.linalg.norm(u)
      along = fd(u)
      assert abs(np.sum(g * u) - along) <= 1e-4 * abs(along) + 1e-6 * np.linalg.norm(g), (
          factor, name, np.sum(g * u), along)


# ---------------------------------------------------------------------------------------------
# 3. Task accuracy and losses of ``lm_training.evaluate``.

def _copy_head(params, sharpness=50.0):
  """The model's initialization with the output projection set to ``sharpness`` × the input
  embedding's transpose: the logits at a position favour the token read there, so on T_CMP
  the LABEL-predicting position (reading TOK2) is right on about half the pairs — an accuracy
  far from 0 and 1 whose hits depend on the pair (a random model scores ≈ 1/V)."""
  return {**params, 'unembed': sharpness * params['embed'].T}


def test_evaluate_accuracy_and_losses_match_numpy_model():
  """``lm_training.evaluate``'s train/test accuracy equals the fraction of held-out instances on
  which the numpy model's argmax at position 1 (the one that predicts LABEL, after TOK1 TOK2) is the
  answer the task's hidden order gives (T_CMP: a if rank(a) ≥ rank(b) else b), the numpy model
  reading the whole instance TOK1 TOK2 LABEL EOD; exactly, except that a pair whose top two
  numpy logits are within 1e-5 of the largest |logit| could have its float32 argmax flipped by
  rounding (the model's logits are within 4e-7 of it in test_forward_...) and may go either
  way. There are none with this seed (the closest margin is 2.2e-5), so the counts (2,325 of
  5,000 train pairs, 2,339 of 5,000 test pairs; 2,271 and 2,259 at the wrong position 0) must
  be equal. The task losses (cross-entropy at that position) and the background loss
  (mean next-token loss on 4 held-out Markov sequences) agree to 1e-5 relative (float32)."""
  rungs, hp, data = _setup()
  shape = _shape(rungs[1])
  member = lm_training.Member(shape, jnp.float32(1e-2), tk.injection(0.5))
  params = _copy_head(tf.init_params(jax.random.key(4), shape, hp.dims))
  background = jax.jit(lambda c: tk.markov_sequences(jax.random.key(5), c, 4, hp.seq_len + 1))(
      data.chain)
  out = jax.jit(lambda p: lm_training.evaluate(p, member, data, background, hp))(params)
  p, task = _np_params(params), jax.tree.map(np.asarray, data.task)
  np.testing.assert_allclose(float(out['background_loss']),
                             _np_loss(p, np.asarray(background), hp.dims.rope_base), rtol=1e-5)
  for split in ('train', 'test'):
    a, b = getattr(task, f'{split}_pairs').T
    answer = task.tokens_T[np.where(task.rank_T[a] >= task.rank_T[b], a, b)]
    seqs = np.stack([task.tokens_T[a], task.tokens_T[b], answer, np.full_like(a, tk.EOD)], 1)
    logits = _np_logits(p, seqs, hp.dims.rope_base)[:, 1]  # [P, V]
    top2 = np.sort(logits, axis=-1)[:, -2:]
    unsure = top2[:, 1] - top2[:, 0] < 1e-5 * np.abs(logits).max()
    hits = np.argmax(logits, axis=-1) == answer
    n = len(a)
    reported = float(out[f'{split}_accuracy']) * n
    assert abs(reported - round(reported)) < 1e-3  # a whole number of pairs
    assert 0.2 < hits.mean() < 0.8  # the copy head makes the comparison informative
    assert np.sum(hits & ~unsure) <= round(reported) <= np.sum(hits | unsure), split
    assert not unsure.any()
    np.testing.assert_allclose(float(out[f'task_{split}_loss']),
                               np.mean(_np_cross_entropy(logits, answer)), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# 4. Rank correlation.

def test_rank_correlation_matches_scipy_with_ties():
  """``claims.rank_correlation`` (the trend claims' vectorized Spearman ρ, one per row) equals
  ``scipy.stats.spearmanr`` (average ranks for ties, then Pearson) to 1e-12 on data with ties
  in one, the other or both variables, with whole tied blocks, and (NaN both) on a constant
  variable; without ties also the closed form 1 − 6 Σ d² / (n (n² − 1))."""
  rho = lambda a, b: float(claims.rank_correlation(a, np.asarray(b, np.float64)[None])[0])
  rng = np.random.default_rng(0)
  x = rng.normal(size=30)
  cases = [
      (np.round(x, 0), x),  # a few large tie groups in a
      (x, rng.integers(0, 5, 30)),  # 5 groups in b
      (rng.integers(0, 3, 30), rng.integers(0, 4, 30)),  # ties in both
      ([1, 1, 1, 1, 2, 2, 2, 2], [5, 5, 5, 5, 4, 4, 4, 4]),  # two tied blocks: −1
      ([1, 1, 1, 1, 2, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]),  # ties in a against a strict order
      ([3, 1, 2, 2, 3, 1, 2, 5, 5, 5], [1, 2, 2, 2, 2, 3, 9, 9, 0, 1]),
      ([0.1, 0.1, 0.2, 0.3, 0.3, 0.3], [6, 5, 4, 3, 2, 1]),
  ]
  for a, b in cases:
    want = stats.spearmanr(a, b).statistic
    assert abs(rho(a, b) - want) < 1e-12, (a, b, rho(a, b), want)
  rows = rng.integers(0, 4, (5, 9)).astype(float)  # several rows at once, each with ties
  np.testing.assert_allclose(claims.rank_correlation(np.arange(9), rows),
                             [stats.spearmanr(np.arange(9), r).statistic for r in rows],
                             rtol=0, atol=1e-12)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    assert np.isnan(rho([1, 2, 3, 4], [2, 2, 2, 2]))
    assert np.isnan(stats.spearmanr([1, 2, 3, 4], [2, 2, 2, 2]).statistic)
  a, b = rng.permutation(12), rng.permutation(12)
  closed = 1 - 6 * np.sum((a - b) ** 2) / (12 * (12 ** 2 - 1))
  assert abs(rho(a, b) - closed) < 1e-12
