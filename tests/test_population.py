"""Width masking: every member of a padded population equals its unpadded standalone model."""
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn.core import optim
from rarelearn.models import mlp
from rarelearn.population import mlp_training, vmapped
from rarelearn.tasks import block_regression as br

WIDTHS = (3, 8, 13)


def _hyper(**kw):
  base = dict(dim=12, depth=1, activation='linear', init_scale=1.0,
              batch_size=16, steps_per_chunk=10)
  return train_hyper(base, dict(name='adam', schedule='cosine', warmup_steps=2, num_steps=30),
                     kw)


def train_hyper(base: dict, opt: dict, overrides: dict) -> mlp_training.Hyper:
  """``mlp_training.Hyper(**base)`` with ``opt`` as its optimizer; ``overrides`` go to either (the
  optimizer's name as ``optimizer``)."""
  fields = {f.name for f in dataclasses.fields(optim.Hyper)}
  for key, value in overrides.items():
    key = 'name' if key == 'optimizer' else key
    (opt if key in fields else base)[key] = value
  return mlp_training.Hyper(**base, opt=optim.Hyper(**opt))


def _spec():
  return br.make_spec(br.zipf_frequencies(4, 1.0, 0.0), br.power_spectra([3] * 4, [1.0] * 4),
                      br.random_orthogonal(jax.random.key(1), 12))


def _trained_population(hp, lr=0.02, chunks=3):
  members = vmapped.make_members(WIDTHS, 2, lr)
  state = vmapped.init(jax.random.key(0), members, hp)
  chunk = vmapped.make_chunk(hp)
  spec = _spec()
  ev = br.eval_set(jax.random.key(2), spec, 8)
  for c in range(chunks):
    state, _, task_loss, _ = chunk(state, jax.random.key(9), jnp.int32(c * hp.steps_per_chunk),
                                   members.hparams(), spec, ev, jax.random.key(5))
  return members, state, task_loss, spec, ev, chunk


def _assert_rel_close(got, want, rtol=1e-5):
  """Relative error of the whole tensor: ||got − want|| ≤ rtol·||want|| (0 only if exact)."""
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  assert got.shape == want.shape
  assert np.linalg.norm(got - want) <= rtol * np.linalg.norm(want), (
      np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


CASES = [dict(optimizer='adam'), dict(optimizer='sgd'), dict(optimizer='lion', weight_decay=0.1),
         dict(optimizer='adamw', weight_decay=0.1, activation='relu', depth=2),
         dict(optimizer='adam', activation='gelu', depth=3, schedule='constant')]


@pytest.mark.parametrize('case', CASES, ids=lambda c: '-'.join(map(str, c.values())))
def test_member_equals_unpadded_standalone_model(case):
  with jax.default_matmul_precision('highest'):
    hp = _hyper(**case)
    members, state, task_loss, spec, ev, _ = _trained_population(hp)
    for m, (width, seed) in enumerate(zip(members.widths, members.seeds)):
      solo_member = mlp_training.MemberHparams(jnp.int32(width), jnp.float32(members.lrs[m]))
      solo = mlp_training.init_state(jax.random.fold_in(jax.random.key(0), seed), jnp.int32(width),
                                     hp, width)  # no padding at all
      run = jax.jit(lambda s, t: mlp_training.train_chunk(s, jax.random.key(9), t, solo_member,
                                                          spec, hp))
      for c in range(3):
        solo, _ = run(solo, jnp.int32(c * hp.steps_per_chunk))
      padded = vmapped.select(state.params, m)
      for p_layer, s_layer in zip(padded['hidden'], solo.params['hidden']):
        _assert_rel_close(p_layer['w'][:width, :s_layer['w'].shape[1]], s_layer['w'])
        _assert_rel_close(p_layer['b'][:width], s_layer['b'])
      _assert_rel_close(padded['out']['w'][:, :width], solo.params['out']['w'])
      _assert_rel_close(padded['out']['b'], solo.params['out']['b'])
      solo_loss = mlp_training.task_losses(solo.params, solo_member, spec, ev, hp)
      _assert_rel_close(task_loss[m], solo_loss)


def _padded_entries(tree, width):
  """All entries of a params-shaped tree that belong to padded units."""
  out = []
  for layer_i, layer in enumerate(tree['hidden']):
    out += [layer['w'][width:], layer['b'][width:]]
    if layer_i > 0:
      out.append(layer['w'][:, width:])
  out.append(tree['out']['w'][:, width:])
  return out


@pytest.mark.parametrize('optimizer', ['adam', 'adamw', 'lion', 'sgd'])
def test_padded_parameters_gradients_and_moments_stay_exactly_zero(optimizer):
  hp = _hyper(optimizer=optimizer, activation='relu', depth=2, weight_decay=0.1)
  members, state, _, spec, _, _ = _trained_population(hp)
  batch = br.sample(jax.random.key(11), spec, 32)
  for m, width in enumerate(members.widths):
    params = vmapped.select(state.params, m)
    grads = jax.grad(mlp_training.loss_fn)(params, batch, mlp.mask_of(params, width),
                                           hp.activation)
    moments = [t for t in jax.tree.leaves(vmapped.select(state.opt_state, m),
                                          is_leaf=lambda x: isinstance(x, dict))
               if isinstance(t, dict)]
    assert optimizer == 'sgd' or moments
    for tree in [params, grads] + moments:
      for entry in _padded_entries(tree, width):
        assert np.all(np.asarray(entry) == 0.0)
    # The true units did train.
    assert np.any(np.asarray(params['hidden'][0]['w'][:width]) != 0.0)


def test_initialization_follows_true_width():
  scale = 0.7
  width, max_width, dim = 64, 512, 40
  p = mlp.init_params(jax.random.key(3), jnp.int32(width), max_width, dim, 2, scale)
  u, h, v = (np.asarray(p['hidden'][0]['w']), np.asarray(p['hidden'][1]['w']),
             np.asarray(p['out']['w']))
  # Standard errors of a std estimate from n samples: std/sqrt(2n); allow 5 of them.
  np.testing.assert_allclose(u[:width].std(), scale / np.sqrt(dim), rtol=5 / np.sqrt(2 * u[:width].size))
  np.testing.assert_allclose(h[:width, :width].std(), scale / np.sqrt(width),
                             rtol=5 / np.sqrt(2 * width * width))
  np.testing.assert_allclose(v[:, :width].std(), scale / np.sqrt(width),
                             rtol=5 / np.sqrt(2 * dim * width))
  assert np.all(u[width:] == 0) and np.all(h[width:] == 0) and np.all(h[:, width:] == 0)
  assert np.all(v[:, width:] == 0)
  # Nested: the first units equal a standalone draw of the true width.
  solo = mlp.init_params(jax.random.key(3), jnp.int32(width), width, dim, 2, scale)
  np.testing.assert_array_equal(u[:width], solo['hidden'][0]['w'])
  np.testing.assert_array_equal(h[:width, :width], solo['hidden'][1]['w'])
  np.testing.assert_array_equal(v[:, :width], solo['out']['w'])


def test_affine_map_of_linear_model():
  p = mlp.init_params(jax.random.key(4), jnp.int32(5), 7, 6, 2, 1.0)
  p['out']['b'] = jnp.arange(6.0)
  p['hidden'][0]['b'] = p['hidden'][0]['b'].at[:5].set(0.5)
  mask = mlp.hidden_mask(5, 7)
  with jax.default_matmul_precision('highest'):
    w, bias = mlp.affine_map(p, mask, 6)
  u0, u1 = (np.asarray(p['hidden'][i]['w'], np.float64) for i in (0, 1))
  vo = np.asarray(p['out']['w'], np.float64)
  b0 = np.asarray(p['hidden'][0]['b'], np.float64) * np.asarray(mask)
  np.testing.assert_allclose(w, vo @ u1 @ u0, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(bias, vo @ (u1 @ b0) + np.arange(6.0), rtol=1e-5, atol=1e-6)


def test_chunks_compile_once():
  hp = _hyper()
  members = vmapped.make_members(WIDTHS, 1, 0.01)
  state = vmapped.init(jax.random.key(0), members, hp)
  spec = _spec()
  ev = br.eval_set(jax.random.key(2), spec, 4)
  counted = chex.assert_max_traces(n=1)(
      lambda *a: mlp_training.train_chunk(*a, hp))
  chunk = jax.jit(jax.vmap(counted, in_axes=(0, None, None, 0, None)))
  real = vmapped.make_chunk(hp)
  for c in range(3):
    state, _ = chunk(state, jax.random.key(9), jnp.int32(c * 10), members.hparams(), spec)
    state, _, _, _ = real(state, jax.random.key(9), jnp.int32(c * 10 + 30), members.hparams(),
                          spec, ev, jax.random.key(5))
  assert real._cache_size() == 1  # pylint: disable=protected-access


def test_members_with_their_own_schedule_equal_standalone_runs():
  """One member per schedule (two up-weightings and an injection), trained in one program,
  equals each schedule trained alone; an i.i.d. schedule draws exactly the default batches."""
  from rarelearn.tasks import mixture  # pylint: disable=g-import-not-at-top
  hp, spec = _hyper(), _spec()
  freqs = np.exp(np.asarray(spec.log_freqs_K, np.float64))
  mixes = [mixture.iid(mixture.upweight(freqs, 3, 1.0)), mixture.iid(mixture.upweight(freqs, 3, 5.0)),
           mixture.injection(freqs, 3, gap=7, burst_steps=2, batch_size=hp.batch_size, offset=3)]
  members = vmapped.make_members((8,), 3, 0.02)  # same width and lr; seeds 0, 1, 2
  ev = br.eval_set(jax.random.key(2), spec, 8)
  data_key, start = jax.random.key(9), jnp.int32(0)
  stacked = jax.tree.map(lambda *a: jnp.stack(a), *mixes)
  state = vmapped.init(jax.random.key(0), members, hp)
  # with a schedule per member the spec is per member too (here each the same π)
  per_member = spec.replace(log_freqs_K=jnp.stack([spec.log_freqs_K] * len(mixes)))
  state, _, _, _ = vmapped.make_chunk(hp, mixture_axis=0)(
      state, data_key, start, members.hparams(), per_member, ev, jax.random.key(5), stacked)
  for m, mix in enumerate(mixes):
    solo = mlp_training.init_state(jax.random.fold_in(jax.random.key(0), m), jnp.int32(8), hp, 8)
    solo_member = mlp_training.MemberHparams(jnp.int32(8), jnp.float32(0.02))
    solo, _ = jax.jit(lambda s, mix=mix, member=solo_member: mlp_training.train_chunk(
        s, data_key, start, member, spec, hp, mix=mix))(solo)
    _assert_rel_close(vmapped.select(state.params, m)['out']['w'], solo.params['out']['w'])
    _assert_rel_close(vmapped.select(state.params, m)['hidden'][0]['w'],
                      solo.params['hidden'][0]['w'])
  for t in (0, 5):
    plain = mlp_training.batch_at(data_key, jnp.int32(t), spec, hp)
    scheduled = mlp_training.batch_at(data_key, jnp.int32(t), spec, hp, mixture.iid(freqs))
    for a, b in zip(plain, scheduled):
      np.testing.assert_array_equal(a, b)
  injected = mlp_training.batch_at(data_key, jnp.int32(3), spec, hp, mixes[2])  # a burst step
  assert int(np.sum(np.asarray(injected.task_id) == 3)) == int(mixture.rare_count(jnp.int32(3),
                                                                                   mixes[2]))
