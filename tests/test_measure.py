"""Per-task gradient decomposition, interference and allocation against naive oracles.

Oracles: a loop of ``jax.grad`` over single-task losses (materialized gradients), optax's own
update, the realized change of the rare-task loss, and hand-built models.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn.analysis import theory
from rarelearn.population import mlp_training
from test_population import train_hyper
from rarelearn.measure import allocation, gradients, interference
from rarelearn.models import mlp
from rarelearn.population import measure_step
from rarelearn.tasks import block_regression as br

K, DIMS, MAX_W, WIDTH, B = 3, 2, 5, 4, 24


def _spec():
  return br.make_spec(br.zipf_frequencies(K, 1.0, 0.0), br.power_spectra([DIMS] * K, [1.0] * K),
                      br.random_orthogonal(jax.random.key(1), K * DIMS))


def _hyper(**kw):
  base = dict(dim=K * DIMS, depth=1, activation='linear', init_scale=1.0,
              batch_size=B, steps_per_chunk=10)
  return train_hyper(base, dict(name='sgd', num_steps=100), kw)


def _member(lr=0.05):
  return mlp_training.MemberHparams(width=jnp.int32(WIDTH), lr=jnp.float32(lr))


def _params(hp, key=0):
  """Random parameters with non-zero biases (initialization leaves them at 0)."""
  params = mlp.init_params(jax.random.key(key), jnp.int32(WIDTH), MAX_W, hp.dim, hp.depth, 1.0)
  mask = mlp.hidden_mask(jnp.int32(WIDTH), MAX_W)
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(key + 100), len(leaves))
  leaves = [l + 0.1 * jax.random.normal(k, l.shape) * (l != 0) if l.ndim == 2 else
            0.1 * jax.random.normal(k, l.shape) * (mask if l.shape[0] == MAX_W else 1.0)
            for l, k in zip(leaves, keys)]
  return jax.tree.unflatten(tree, leaves)


def _naive_task_grads(params, batch, hp, weights):
  """g_k by jax.grad of Σ_{b∈k} w_b ℓ_b, one task at a time."""
  mask = mlp.hidden_mask(jnp.int32(WIDTH), MAX_W)

  def task_loss(p, k):
    pred = mlp.apply(p, batch.x, mask, hp.activation)
    per_example = jnp.sum((pred - batch.y) ** 2, axis=-1)
    return jnp.sum(jnp.where(batch.task_id == k, weights * per_example, 0.0))
  return [jax.grad(task_loss)(params, k) for k in range(K)]


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(l, np.float64)) for l in jax.tree.leaves(tree)])


CASES = [dict(activation='linear', depth=1), dict(activation='relu', depth=1),
         dict(activation='gelu', depth=2)]


@pytest.mark.parametrize('case', CASES, ids=lambda c: f'{c["activation"]}-d{c["depth"]}')
def test_task_gradients_equal_naive_loop(case):
  hp, spec = _hyper(**case), _spec()
  params, mask = _params(hp), mlp.hidden_mask(jnp.int32(WIDTH), MAX_W)
  batch = br.sample(jax.random.key(3), spec, B)
  weights = jnp.full((B,), 1.0 / B)
  with jax.default_matmul_precision('highest'):
    sig = gradients.signals(params, batch.x, batch.y, weights, mask, hp.activation)
    naive = np.stack([_flat(g) for g in _naive_task_grads(params, batch, hp, weights)])
    ours = gradients.task_grads(sig, batch.task_id, K)
    ours = np.stack([_flat(jax.tree.map(lambda a, k=k: a[k], ours)) for k in range(K)])
    np.testing.assert_allclose(ours, naive, rtol=1e-5, atol=1e-6)
    # The count-weighted sum of the task gradients is the batch gradient of mlp_training.loss_fn.
    batch_grad = _flat(jax.grad(mlp_training.loss_fn)(params, batch, mask, hp.activation))
    np.testing.assert_allclose(naive.sum(0), batch_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_flat(sig.grads), batch_grad, rtol=1e-5, atol=1e-6)
    # Inner products without materializing: Gram and dots against the naive vectors.
    np.testing.assert_allclose(gradients.task_gram(sig, batch.task_id, K), naive @ naive.T,
                               rtol=1e-4, atol=1e-6)
    direction = jax.tree.map(lambda a: jax.random.normal(jax.random.key(7), a.shape), params)
    np.testing.assert_allclose(gradients.task_dots(sig, batch.task_id, K, direction),
                               naive @ _flat(direction), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('case', CASES, ids=lambda c: f'{c["activation"]}-d{c["depth"]}')
def test_residual_bound_holds_and_vanishes_when_fitted(case):
  hp, spec = _hyper(**case), _spec()
  mask = mlp.hidden_mask(jnp.int32(WIDTH), MAX_W)
  probe = br.eval_set(jax.random.key(4), spec, 6)
  weights = jnp.exp(spec.log_freqs_K)[probe.task_id] / 6
  for seed in range(5):
    params = _params(hp, seed)
    sig = gradients.signals(params, probe.x, probe.y, weights, mask, hp.activation)
    naive = np.stack([_flat(g) for g in _naive_task_grads(params, probe, hp, weights)])
    bound = gradients.residual_bound(params, sig, weights, probe.task_id, K, hp.activation)
    assert np.all(np.linalg.norm(naive, axis=1) <= np.asarray(bound) * (1 + 1e-5))
  # Zero residual (targets replaced by the model's own predictions): bound and gradient are 0.
  own = mlp.apply(params, probe.x, mask, hp.activation)
  sig = gradients.signals(params, probe.x, own, weights, mask, hp.activation)
  np.testing.assert_array_equal(
      gradients.residual_bound(params, sig, weights, probe.task_id, K, hp.activation), 0.0)


@pytest.mark.parametrize('shape', [(7, 5), (5, 9), (32, 32)])
def test_spectral_norm_bound_is_a_tight_upper_bound(shape):
  """Against numpy's SVD: never below ||w||₂, above it by at most rank^(1/256)."""
  w = np.array(jax.random.normal(jax.random.key(shape[0]), shape))
  w[:, 0] *= 5.0  # a dominant direction plus a bulk of similar singular values
  exact = np.linalg.norm(w, 2)
  got = float(gradients.spectral_norm_bound(jnp.asarray(w)))
  assert exact * (1 - 1e-5) <= got <= exact * min(shape) ** (1 / 256) * (1 + 1e-5)
  flat = np.eye(*shape)  # all singular values equal: the worst case, rank^(1/256) exactly
  np.testing.assert_allclose(float(gradients.spectral_norm_bound(jnp.asarray(flat))),
                             min(shape) ** (1 / 256), rtol=1e-5)
  assert float(gradients.spectral_norm_bound(jnp.zeros(shape))) == 0.0


def test_encoder_bound_hand_example():
  """D = 2, two one-direction tasks, one hidden unit reading e1: U = [[a, 0]], V = [[v], [0]].

  ∇_U π_0 L_0 = 2π_0 [v(va − 1), 0] and the bound 2|v|·sqrt(π_0 (va − 1)²)·sqrt(π_0) is tight;
  task 1's direction is never read, its encoder gradient is 0 and its bound 2 π_1 |v|.
  """
  a, v, pi = 0.7, 1.5, np.array([0.8, 0.2])
  u, dec = np.array([[a, 0.0]]), np.array([[v], [0.0]])
  spectra = [np.array([1.0]), np.array([1.0])]
  b0 = theory.encoder_grad_bound(u, dec, pi, spectra, np.eye(2), [True, False])
  b1 = theory.encoder_grad_bound(u, dec, pi, spectra, np.eye(2), [False, True])
  np.testing.assert_allclose(b0, 2 * pi[0] * v * abs(v * a - 1), rtol=1e-12)
  np.testing.assert_allclose(b1, 2 * pi[1] * v, rtol=1e-12)


def test_encoder_bound_on_random_linear_models():
  spec, hp = _spec(), _hyper()
  freqs, spectra = np.exp(np.asarray(spec.log_freqs_K)), br.power_spectra([DIMS] * K, [1.0] * K)
  mask = mlp.hidden_mask(jnp.int32(WIDTH), MAX_W)
  for seed in range(5):
    params = _params(hp, seed)
    for in_set in ([True, False, False], [False, True, True], [True, True, True]):
      def loss(u, in_set=in_set):
        p = {**params, 'hidden': [{**params['hidden'][0], 'w': u}]}
        w, bias = mlp.affine_map(p, mask, hp.dim)
        return jnp.sum(jnp.asarray(in_set) * jnp.asarray(freqs)
                       * br.closed_form_task_losses(w, bias, spec))
      with jax.default_matmul_precision('highest'):
        grad = np.linalg.norm(jax.grad(loss)(params['hidden'][0]['w']))
      bound = theory.encoder_grad_bound(params['hidden'][0]['w'], params['out']['w'], freqs,
                                        spectra, spec.basis_DxD, in_set)
      assert grad <= bound * (1 + 1e-5)


@pytest.mark.parametrize('optimizer', ['sgd', 'adam', 'adamw'])
def test_update_split_reconstructs_optax_update(optimizer):
  hp, spec = _hyper(optimizer=optimizer, weight_decay=0.1), _spec()
  state, member = mlp_training.init_state(jax.random.key(0), jnp.int32(WIDTH), hp, MAX_W), _member()
  for t in range(3):  # non-zero momentum
    state, _ = mlp_training.train_step(state, br.sample(jax.random.key(t), spec, B), jnp.int32(t),
                                       member, hp)
  grads = jax.grad(mlp_training.loss_fn)(state.params, br.sample(jax.random.key(9), spec, B),
                                         mlp.hidden_mask(member.width, MAX_W), hp.activation)
  new_state, direction = mlp_training.apply_gradients(state, grads, jnp.int32(3), member, hp)
  scale, rest = interference.split_update(state.opt_state, new_state.opt_state, state.params,
                                          hp.opt)
  rebuilt = jax.tree.map(lambda s, g, r: s * g + r, scale, grads, rest)
  np.testing.assert_allclose(_flat(rebuilt), _flat(direction), rtol=1e-5, atol=1e-7)


def _measure_setup(optimizer, lr, activation='linear'):
  hp = _hyper(optimizer=optimizer, activation=activation)
  spec, member = _spec(), _member(lr)
  mh = measure_step.MeasureHyper(every=1, rare_task=K - 1, probe_per_task=8,
                                 reference_examples=512)
  state = mlp_training.init_state(jax.random.key(0), jnp.int32(WIDTH), hp, MAX_W)
  for t in range(5):
    state, _ = mlp_training.train_step(state, br.sample(jax.random.key(t), spec, B), jnp.int32(t),
                                       member, hp)
  return hp, spec, member, mh, state, br.sample(jax.random.key(11), spec, B)


@pytest.mark.parametrize('optimizer', ['sgd', 'adam'])
def test_first_order_interference_matches_lookahead(optimizer):
  """Σ_k I_k + I_rest = ∇L_r·u exactly; and ∇L_r·u ≈ L_r(θ+u) − L_r(θ) within 1% at small lr."""
  lr = 1e-3 if optimizer == 'sgd' else 1e-4
  hp, spec, member, mh, state, batch = _measure_setup(optimizer, lr)
  with jax.default_matmul_precision('highest'):
    m = measure_step.measure(state, batch, jnp.int32(5), member, spec, jax.random.key(2), hp, mh)
  total = float(m['interference_total'])
  np.testing.assert_allclose(float(np.sum(m['interference']) + m['interference_rest']), total,
                             rtol=1e-4)
  assert abs(total) > 1e-6
  np.testing.assert_allclose(float(m['lookahead_change']), total, rtol=1e-2)


def test_measure_matches_naive_quantities():
  """grad norms/cosines, the reference cosines and SGD interference from materialized grads."""
  hp, spec, member, mh, state, batch = _measure_setup('sgd', 0.05)
  r, mask = mh.rare_task, mlp.hidden_mask(member.width, MAX_W)
  with jax.default_matmul_precision('highest'):
    m = measure_step.measure(state, batch, jnp.int32(5), member, spec, jax.random.key(2), hp, mh)
    g = np.stack([_flat(x) for x in _naive_task_grads(state.params, batch, hp,
                                                       jnp.full((B,), 1.0 / B))])
    g_ref = _flat(jax.grad(lambda p: measure_step.rare_loss(p, mask, spec, None, r, 'linear'))(
        state.params))
  cos = lambda a, b: a @ b / (np.linalg.norm(a) * np.linalg.norm(b))  # pylint: disable=unnecessary-lambda-assignment
  np.testing.assert_allclose(m['grad_norm'], np.linalg.norm(g, axis=1), rtol=1e-4, atol=1e-7)
  present = np.linalg.norm(g, axis=1) > 0
  want_cos = np.array([[cos(a, b) if p and q else 0.0 for b, q in zip(g, present)]
                       for a, p in zip(g, present)])
  np.testing.assert_allclose(m['grad_cos'], want_cos, atol=1e-4)
  np.testing.assert_allclose(m['ref_cos_batch'], cos(g.sum(0), g_ref), atol=1e-4)
  np.testing.assert_allclose(m['ref_cos_task'], cos(g[r], g_ref) if present[r] else 0.0,
                             atol=1e-4)
  np.testing.assert_allclose(m['ref_cos_other'], cos(g.sum(0) - g[r], g_ref), atol=1e-4)
  np.testing.assert_allclose(m['interference'], -0.05 * g @ g_ref, rtol=1e-4, atol=1e-8)


def test_allocation_hand_example():
  """Two tasks on e1 / e2 (D = 2), padded width 3, true width 2: unit 0 reads e1 only, unit 1
  reads e1 and e2 equally with an outgoing weight twice as large."""
  spec = br.make_spec([0.5, 0.5], [np.array([1.0]), np.array([1.0])])
  params = {'hidden': [{'w': jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]),
                        'b': jnp.zeros(3)}],
            'out': {'w': jnp.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]]), 'b': jnp.zeros(2)}}
  mask = mlp.hidden_mask(jnp.int32(2), 3)
  x = jnp.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])  # task 0: mean x1² = 2.5; task 1: x2² = 9
  task = jnp.array([0, 0, 1])
  h = mlp.apply({'hidden': params['hidden'], 'out': {'w': jnp.eye(3), 'b': jnp.zeros(3)}},
                x, mask, 'linear')
  shares = np.asarray(allocation.unit_shares(params, h, task, 2))
  # unit 0: task 0 only. unit 1: use ∝ (2.5·4, 9·4) → shares 2.5/11.5, 9/11.5. unit 2: padded.
  np.testing.assert_allclose(shares, [[1.0, 0.0], [2.5 / 11.5, 9 / 11.5], [0.0, 0.0]],
                             rtol=1e-6)
  np.testing.assert_array_equal(allocation.units_dominated(shares), [1, 1])
  # Row space of U = span(e1, e1 + e2) = everything: both tasks fully passed on.
  np.testing.assert_allclose(allocation.rowspace_scores(params, mask, spec), [1.0, 1.0],
                             rtol=1e-5)
  one_unit = mlp.hidden_mask(jnp.int32(1), 3)  # width 1: only e1 is read
  np.testing.assert_allclose(allocation.rowspace_scores(params, one_unit, spec), [1.0, 0.0],
                             atol=1e-6)


def test_padded_units_get_zero_allocation():
  hp, spec, member, mh, state, batch = _measure_setup('adam', 0.01, activation='relu')
  m = measure_step.measure(state, batch, jnp.int32(5), member, spec, jax.random.key(2), hp, mh)
  share = np.asarray(m['unit_share'])
  np.testing.assert_array_equal(share[WIDTH:], 0.0)
  np.testing.assert_allclose(share[:WIDTH].sum(1), 1.0, rtol=1e-5)


def test_rowspace_score_of_projection_is_feature_presence():
  """Encoder = the top directions of task 0 and one of task 1: ℓ^row equals their λ sums."""
  spec = _spec()
  basis, lam = np.asarray(spec.basis_DxD), np.asarray(spec.sqrt_lambda_D) ** 2
  keep = [0, 1, 2]  # task 0's two directions, task 1's first
  u = np.zeros((MAX_W, K * DIMS))
  u[:3] = 2.0 * basis[:, keep].T
  params = {'hidden': [{'w': jnp.asarray(u), 'b': jnp.zeros(MAX_W)}],
            'out': {'w': jnp.zeros((K * DIMS, MAX_W)), 'b': jnp.zeros(K * DIMS)}}
  got = allocation.rowspace_scores(params, mlp.hidden_mask(jnp.int32(WIDTH), MAX_W), spec)
  np.testing.assert_allclose(got, [lam[0] + lam[1], lam[2], 0.0], atol=1e-5)


def test_measurement_leaves_training_unchanged():
  from rarelearn.population import vmapped  # pylint: disable=g-import-not-at-top
  hp = dataclasses.replace(_hyper(optimizer='adam'), steps_per_chunk=6)
  spec = _spec()
  members = vmapped.make_members((2, WIDTH), 1, 0.01)
  ev = br.eval_set(jax.random.key(2), spec, 1)
  mh = measure_step.MeasureHyper(every=3, rare_task=2, probe_per_task=4, reference_examples=8)
  outs = []
  for m in (None, mh):
    state = vmapped.init(jax.random.key(0), members, hp)
    chunk = vmapped.make_chunk(hp, m)
    for c in range(2):
      state, _, _, metrics = chunk(state, jax.random.key(9), jnp.int32(6 * c), members.hparams(),
                                   spec, ev, jax.random.key(5))
    outs.append((state, metrics))
  # two programs: the suite's XLA flags (conftest) may fuse them differently, so float32
  # rounding (2e-7 relative here); a measurement that touched the batches or the update would
  # move the parameters by the learning rate's scale, 1e-3 relative after these steps
  for a, b in zip(jax.tree.leaves(outs[0][0]), jax.tree.leaves(outs[1][0])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
  assert outs[0][1] == {}
  assert outs[1][1]['grad_norm'].shape == (2, 2, K)  # [M, P, K]
