"""Layouts: bucketed and packed populations give every member exactly the padded member's run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn.core import optim
from rarelearn.population import layout, measure_step, vmapped
from rarelearn.tasks import block_regression as br, mixture

from test_population import _assert_rel_close, _hyper, _spec

WIDTHS = (3, 8, 13, 5)
MH = measure_step.MeasureHyper(every=5, rare_task=3, probe_per_task=4, reference_examples=16)


def _run(hp, members, chosen, mixture_axis=None, mix=None, spec=None, chunks=2, mh=MH):
  spec = spec or _spec()
  ev = br.eval_set(jax.random.key(2), spec, 8)
  state = vmapped.init(jax.random.key(0), members, hp)
  chunk = vmapped.make_chunk(hp, mh, mixture_axis, widths=members.widths, layout=chosen)
  outs = []
  for c in range(chunks):
    state, loss, task_loss, metrics = chunk(state, jax.random.key(9),
                                            jnp.int32(c * hp.steps_per_chunk),
                                            members.hparams(), spec, ev, jax.random.key(5), mix)
    outs.append((loss, task_loss, metrics))
  return state, outs


def _assert_same_runs(a, b):
  (state_a, outs_a), (state_b, outs_b) = a, b
  np.testing.assert_array_equal(state_a.diverged_at, state_b.diverged_at)
  for x, y in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    assert x.shape == y.shape
    if np.issubdtype(x.dtype, np.integer):
      np.testing.assert_array_equal(x, y)
      continue
    for m in range(x.shape[0]):  # member by member
      _assert_rel_close(y[m], x[m])
  for (loss_a, tl_a, met_a), (loss_b, tl_b, met_b) in zip(outs_a, outs_b):
    for x, y in ((loss_a, loss_b), (tl_a, tl_b)):  # a frozen member's loss may be inf or nan
      finite = np.isfinite(np.asarray(x))
      np.testing.assert_array_equal(finite, np.isfinite(np.asarray(y)))
      _assert_rel_close(np.asarray(y)[finite], np.asarray(x)[finite])
    assert met_a.keys() == met_b.keys()
    for key in met_a:
      finite = np.isfinite(np.asarray(met_a[key]))
      np.testing.assert_array_equal(finite, np.isfinite(np.asarray(met_b[key])))
      _assert_rel_close(np.asarray(met_b[key])[finite], np.asarray(met_a[key])[finite], 1e-4)


PACKED_CASES = [dict(optimizer='adam'),
                dict(optimizer='lion', weight_decay=0.1, activation='gelu', schedule='constant')]


@pytest.mark.parametrize('case', PACKED_CASES, ids=lambda c: '-'.join(map(str, c.values())))
def test_packed_equals_padded_member_by_member(case):
  with jax.default_matmul_precision('highest'):
    hp = _hyper(**case)
    # two seeds per width and two learning rates
    members = vmapped.make_members(WIDTHS, 2, 0.02, [{'lr': 0.02}, {'lr': 0.05}])
    _assert_same_runs(_run(hp, members, 'padded'), _run(hp, members, 'packed'))


def test_bucketed_equals_padded_member_by_member():
  with jax.default_matmul_precision('highest'):
    hp = _hyper(optimizer='adamw', weight_decay=0.1, activation='relu', depth=2)
    members = vmapped.make_members(WIDTHS, 2, 0.02)
    _assert_same_runs(_run(hp, members, 'padded'), _run(hp, members, 'bucketed'))


def test_bucketed_members_with_their_own_batches():
  with jax.default_matmul_precision('highest'):
    hp, spec = _hyper(), _spec()
    freqs = np.exp(np.asarray(spec.log_freqs_K, np.float64))
    members = vmapped.make_members(WIDTHS, 1, 0.02)
    mixes = [mixture.iid(mixture.upweight(freqs, 3, f)) for f in (1.0, 3.0, 5.0, 9.0)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *mixes)
    per_member = spec.replace(log_freqs_K=stacked.log_freqs_K)
    runs = [_run(hp, members, chosen, 0, stacked, per_member) for chosen in ('padded', 'auto')]
    _assert_same_runs(*runs)


def test_packed_divergence_freezes_the_same_member_at_the_same_step():
  with jax.default_matmul_precision('highest'):
    hp = _hyper(optimizer='sgd', schedule='constant', warmup_steps=0)
    members = vmapped.make_members(WIDTHS, 1, 0.02, [{'lr': 0.02}, {'lr': 40.0}])
    padded, packed = _run(hp, members, 'padded', mh=None), _run(hp, members, 'packed', mh=None)
    diverged = np.asarray(padded[0].diverged_at)
    assert np.all(diverged[1::2] >= 0) and np.all(diverged[::2] == -1), diverged
    _assert_same_runs(padded, packed)
    hp = _hyper(optimizer='adam', schedule='constant', warmup_steps=0)
    members = vmapped.make_members(WIDTHS, 1, 0.02, [{'lr': 0.02}, {'lr': 1e30}])
    _assert_same_runs(_run(hp, members, 'padded', mh=None), _run(hp, members, 'packed', mh=None))


def test_buckets_and_costs_by_hand():
  widths = (8, 3, 13, 3, 5, 64)
  groups = [g.tolist() for g in layout.buckets(widths, 2.0)]
  assert groups == [[1, 3, 4], [0, 2], [5]]  # {3, 5}, {8, 13}, {64}
  assert layout.padded_units(widths, 'padded', 2.0) == 6 * 64
  assert layout.padded_units(widths, 'bucketed', 2.0) == 3 * 5 + 2 * 13 + 64
  assert layout.padded_units(widths, 'packed', 2.0) == 96
  assert [g.tolist() for g in layout.buckets(widths, 1.0)] == [[1, 3], [4], [0], [2], [5]]
  p = layout.Packing((2, 2, 3))
  assert p.offsets.tolist() == [0, 2, 4]


def test_layout_choice():
  assert layout.resolve('auto', 1, True) == 'packed'
  assert layout.resolve('auto', 2, True) == 'bucketed'
  assert layout.resolve('auto', 1, False) == 'bucketed'
  with pytest.raises(ValueError, match='one hidden layer'):
    layout.resolve('packed', 2, True)


@pytest.mark.parametrize('chosen', ['padded', 'packed'])
def test_bfloat16_compute_keeps_float32_state_and_close_losses(chosen):
  members = vmapped.make_members(WIDTHS, 1, 0.02)
  hp32 = _hyper()
  hp16 = _hyper(compute_dtype='bfloat16')
  (s32, o32), (s16, o16) = (_run(hp, members, chosen, mh=None) for hp in (hp32, hp16))
  assert all(x.dtype == np.float32 for x in jax.tree.leaves(s16.params))
  for m, width in enumerate(members.widths):  # padding stays exactly zero in bfloat16 too
    assert np.all(np.asarray(s16.params['hidden'][0]['w'][m, width:]) == 0.0)
  rel = np.abs(np.asarray(o16[-1][1]) / np.asarray(o32[-1][1]) - 1)
  # bfloat16 keeps 8 significant bits (relative rounding 2^-9 ≈ 2e-3 per operation)
  assert 1e-5 < rel.max() < 5e-2, rel.max()


def test_packed_loss_by_hand_with_shared_and_solo_matmuls():
  """Members narrower than SOLO_UNITS share a hidden matmul, wider ones have their own; either
  way each member's loss is its own model's (numpy by hand)."""
  p = layout.Packing((8, 600, 16, 24, 512))
  assert layout.SOLO_UNITS == 512 and p.runs() == [[0], [1], [2, 3], [4]]
  rng = np.random.default_rng(0)
  U, D, B = sum(p.widths), 6, 5
  params = {'hidden': [{'w': rng.standard_normal((U, D)), 'b': rng.standard_normal(U)}],
            'out': {'w': rng.standard_normal((U, D)) / 10, 'b': rng.standard_normal((5, D))}}
  x, y = rng.standard_normal((B, D)), rng.standard_normal((B, D))
  f32 = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), t)
  total, loss_M = layout.packed_loss(f32(params), br.Batch(*f32((x, y)), None), p, 'relu')
  want = []
  for o, w, m in zip(p.offsets, p.widths, range(5)):
    h = np.maximum(x @ params['hidden'][0]['w'][o:o + w].T + params['hidden'][0]['b'][o:o + w], 0)
    pred = h @ params['out']['w'][o:o + w] + params['out']['b'][m]
    want.append(np.mean(np.sum((pred - y) ** 2, axis=-1)))
  np.testing.assert_allclose(loss_M, want, rtol=2e-5)
  assert float(total) == pytest.approx(sum(want), rel=2e-5)


@pytest.mark.parametrize('loss', ['squared', 'cross_entropy'])
def test_block_output_losses_and_gradients_by_hand(loss):
  """One block-diagonal output matmul for all members: each member's loss is its own model's
  (numpy by hand) and its gradient the per-member products'; a member with non-finite
  activations gets a non-finite loss and leaves the others' losses and gradients as they were."""
  widths, D, O, B = (3, 5, 2), 8, 2, 7
  block, plain = layout.Packing(widths, block=True), layout.Packing(widths)
  assert block.runs() == [[0, 1, 2]] and plain.runs() == [[0, 1, 2]]
  rng = np.random.default_rng(1)
  U = sum(widths)
  params = {'hidden': [{'w': rng.standard_normal((U, D)), 'b': rng.standard_normal(U)}],
            'out': {'w': rng.standard_normal((U, O)), 'b': rng.standard_normal((3, O))}}
  x = rng.standard_normal((B, D))
  y = rng.integers(0, O, B) if loss == 'cross_entropy' else rng.standard_normal((B, O))
  f32 = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), t)
  batch = br.Batch(jnp.asarray(x, jnp.float32), jnp.asarray(y), None)
  want = []
  for o, w, m in zip(block.offsets, widths, range(3)):
    h = np.maximum(x @ params['hidden'][0]['w'][o:o + w].T + params['hidden'][0]['b'][o:o + w], 0)
    pred = h @ params['out']['w'][o:o + w] + params['out']['b'][m]
    if loss == 'cross_entropy':
      logp = pred - np.log(np.exp(pred).sum(-1, keepdims=True))
      want.append(-np.mean(logp[np.arange(B), y]))
    else:
      want.append(np.mean(np.sum((pred - y) ** 2, axis=-1)))
  grad = lambda p, packing: jax.grad(layout.packed_loss, has_aux=True)(
      p, batch, packing, 'relu', loss=loss)
  (g_block, loss_block), (g_plain, _) = grad(f32(params), block), grad(f32(params), plain)
  np.testing.assert_allclose(loss_block, want, rtol=2e-5)
  for a, b in zip(jax.tree.leaves(g_block), jax.tree.leaves(g_plain)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
  params['hidden'][0]['w'][3] = 1e38  # member 1's first unit overflows to inf
  params['hidden'][0]['b'][3] = 1e38
  g_bad, loss_bad = grad(f32(params), block)
  assert not np.isfinite(loss_bad[1])
  np.testing.assert_allclose(np.asarray(loss_bad)[[0, 2]], np.asarray(want)[[0, 2]], rtol=2e-5)
  leaves = lambda tree: [np.asarray(a) for a in jax.tree.leaves(tree)]
  for a, b in zip(leaves(g_bad), leaves(g_plain)):
    for rows in (slice(0, 3), slice(8, 10)):  # members 0 and 2: units, and output biases
      got, ref = (a[rows], b[rows]) if a.shape[0] == U else (a[::2], b[::2])
      np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)


def test_packed_update_equals_each_members_own_update():
  """One element-wise update of the packed tree gives every member exactly what
  ``optim.update`` gives it alone (parameters, moments, counter, divergence step): a healthy
  member, one frozen earlier (an older counter), one whose loss is not finite, one whose new
  parameters are not (learning rate inf)."""
  widths, D, W, step = (3, 5, 2, 4), 7, 5, 5
  oh, rng = optim.Hyper(name='adam'), np.random.default_rng(4)
  f32 = lambda *shape: jnp.asarray(rng.standard_normal(shape), jnp.float32)
  tree = lambda w: {'hidden': [{'w': f32(w, D), 'b': f32(w)}], 'out': {'w': f32(D, w), 'b': f32(D)}}
  params, grads = [tree(w) for w in widths], [tree(w) for w in widths]
  opts = [optim.init(p, oh) for p in params]
  for m in range(4):  # two earlier steps (one for member 1, frozen since step 1)
    for t in range(1 if m == 1 else 2):
      params[m], opts[m], _ = optim.update(params[m], opts[m], jnp.int32(-1), tree(widths[m]),
                                           jnp.float32(1), jnp.int32(t), 0.01, oh)
  diverged, loss = jnp.asarray([-1, 1, -1, -1]), jnp.asarray([1.0, 1.0, np.nan, 1.0])
  lr = jnp.asarray([0.01, 0.01, 0.01, np.inf])
  want = [optim.update(params[m], opts[m], diverged[m], grads[m], loss[m], jnp.int32(step), lr[m],
                       oh) for m in range(4)]
  pad = lambda a, w: jnp.pad(a, [(0, W - n if n == w else 0) for n in a.shape]) if a.ndim else a
  stack = lambda trees: jax.tree.map(lambda *a: jnp.stack([pad(x, w) for x, w in zip(a, widths)]),
                                     *trees)
  p = layout.Packing(widths)
  got = layout.packed_update(layout.pack(stack(params), p), layout.pack(stack(opts), p), diverged,
                             layout.pack(stack(grads), p), loss, jnp.int32(step), lr, oh, p)
  got_params, got_opt = (layout.unpack(t, stack(like), p) for t, like in zip(got, (params, opts)))
  np.testing.assert_array_equal(got[2], [-1, 1, step, step])
  for m in range(4):
    crop = lambda a, ref: np.asarray(a[m][tuple(slice(0, n) for n in ref.shape)])
    for tree_got, tree_want in ((got_params, want[m][0]), (got_opt, want[m][1])):
      for a, b in zip(jax.tree.leaves(tree_got), jax.tree.leaves(tree_want)):
        np.testing.assert_array_equal(crop(a, b), b)
    assert (m == 0) != all(np.array_equal(a, b) for a, b in
                           zip(jax.tree.leaves(want[m][0]), jax.tree.leaves(params[m])))
