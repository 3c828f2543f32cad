"""Feature presence (measure/features.py) and the g_t / g_nt decomposition
(measure/decomposition.py) against oracles: planted orders and Fourier modes, noise, numpy
least squares and DFT sums, two separate losses, an unpadded model, the training loop; and
experiments/fig7_fourier_validation.py's smoke run against a direct recomputation."""
import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn import expt
from rarelearn.core import optim
from rarelearn.measure import decomposition as dc, features as ft
from rarelearn.models import transformer as tf
from rarelearn.population import lm_training
from rarelearn.tasks import tokens as tk

from test_transformer import PADDED, _crop

T = tk.NUM_TASK_TOKENS
# jitted once per shape (eager transformer gradients dispatch thousands of small ops)
representations = jax.jit(ft.token_representations, static_argnums=3)
scores = jax.jit(ft.feature_scores, static_argnums=3)
split_gradient = jax.jit(dc.split_gradient, static_argnums=4)
task_gradient = jax.jit(dc.task_gradient, static_argnums=3)


def _noise(seed, shape):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_order_score_is_one_on_a_planted_order_and_its_direction_is_found():
  rank = np.random.default_rng(0).permutation(T)
  u = _noise(1, 64)
  u /= np.linalg.norm(u)
  x = rank[:, None] * u[None, :] + 0.01 * _noise(2, (T, 64))
  out = ft.order_score(jnp.asarray(x), jnp.asarray(rank))
  assert float(out['score']) == pytest.approx(1.0, abs=1e-4)
  assert abs(float(out['direction'] @ u)) > 0.999
  np.testing.assert_allclose(out['projection'], rank - rank.mean(), atol=0.05)
  assert float(out['direction_r2']) == pytest.approx(1.0, abs=1e-4)


def test_order_score_is_about_zero_on_a_shuffled_order():
  rank = np.arange(T)
  u = _noise(1, 64)
  scores, plain = [], []
  for seed in range(50):
    shuffled = np.random.default_rng(seed).permutation(T)
    x = shuffled[:, None] * u[None, :] + _noise(100 + seed, (T, 64))
    out = ft.order_score(jnp.asarray(x), jnp.asarray(rank))
    scores.append(float(out['score']))
    plain.append(float(out['r2']))
  assert abs(np.mean(scores)) < 0.06 and max(scores) < 0.45
  assert np.mean(plain) > 0.4  # 50 regressors, 100 points: the plain R² of noise


@pytest.mark.parametrize('width', [16, 80])
def test_order_score_equals_numpy_least_squares_on_principal_components(width):
  x = _noise(3, (T, width))
  y = np.random.default_rng(4).permutation(T).astype(np.float64)
  xc = x - x.mean(0)
  _, _, vt = np.linalg.svd(xc, full_matrices=False)
  p = min(50, width)
  design = np.c_[np.ones(T), xc @ vt[:p].T]
  beta, *_ = np.linalg.lstsq(design, y, rcond=None)
  r2 = 1 - np.sum((y - design @ beta) ** 2) / np.sum((y - y.mean()) ** 2)
  out = ft.order_score(jnp.asarray(x), jnp.asarray(y))
  assert int(out['pcs']) == p
  assert float(out['r2']) == pytest.approx(r2, rel=1e-4)
  assert float(out['score']) == pytest.approx(1 - (1 - r2) * (T - 1) / (T - p - 1), abs=1e-4)
  # the drawing direction: the covariance with y; its projection fitted by 1-D least squares
  w = xc.T @ (y - y.mean())
  z = xc @ w
  np.testing.assert_allclose(out['direction'], w / np.linalg.norm(w), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(out['projection'], z * (z @ (y - y.mean())) / (z @ z), atol=1e-3)


def test_fourier_power_equals_a_dft_by_hand():
  x = _noise(5, (T, 6))
  value = np.random.default_rng(6).permutation(T)
  ordered = np.empty_like(x)
  ordered[value] = x
  v = np.arange(T)
  want = [sum(abs(np.sum(ordered[:, d] * np.exp(-2j * np.pi * k * v / T))) ** 2
              for d in range(6)) for k in range(1, T // 2 + 1)]
  np.testing.assert_allclose(ft.fourier_power(jnp.asarray(x), jnp.asarray(value)), want,
                             rtol=1e-4)


def test_fourier_count_recovers_planted_modes_and_finds_none_in_noise():
  value = np.random.default_rng(7).permutation(T)
  v = value[:, None].astype(np.float32)  # token t holds value[t]
  for modes in ([3], [1, 7, 22], [5, 50]):
    basis = np.linalg.qr(_noise(8, (32, 2 * len(modes))))[0].T  # orthonormal directions
    x = 0.3 * _noise(9, (T, 32))
    for i, k in enumerate(modes):
      x = x + np.cos(2 * np.pi * k * v / T) * basis[2 * i] + np.sin(2 * np.pi * k * v / T) * basis[
          2 * i + 1]
    assert int(ft.fourier_count(jnp.asarray(x), jnp.asarray(value))) == len(modes), modes
    power = np.asarray(ft.fourier_power(jnp.asarray(x), jnp.asarray(value)))
    assert sorted(np.argsort(power)[-len(modes):] + 1) == modes
  for width in (8, 16, 64, 128):
    for seed in range(5):
      assert int(ft.fourier_count(jnp.asarray(_noise(seed, (T, width))), jnp.asarray(value))) == 0


def _projection_variance(x, value):
  """The oracle: each frequency's variance as the squared projection of the centred rows,
  ordered by value, on the normalized cos and sin of 2πkv/p (float64)."""
  p = len(value)
  ordered = np.empty(x.shape, np.float64)
  ordered[value] = x
  ordered -= ordered.mean(0)
  v = np.arange(p)
  out = []
  for k in range(1, p // 2 + 1):
    waves = [np.cos(2 * np.pi * k * v / p)] + ([np.sin(2 * np.pi * k * v / p)] if 2 * k < p
                                               else [])
    out.append(sum(np.sum((w / np.linalg.norm(w) @ ordered) ** 2) for w in waves))
  return np.asarray(out), np.sum(ordered ** 2)


@pytest.mark.parametrize('p,width', [(100, 3), (100, 64), (59, 16), (23, 8)])
def test_fourier_share_equals_a_cos_sin_projection_by_hand(p, width):
  x = _noise(10 + p, (p, width)) + 3.0  # an offset: the mean is left out
  value = np.random.default_rng(p).permutation(p)
  want, total = _projection_variance(x, value)
  got = np.asarray(ft.fourier_variance(jnp.asarray(x), jnp.asarray(value)))
  np.testing.assert_allclose(got, want, rtol=2e-4)
  assert got.sum() == pytest.approx(total, rel=1e-4)  # Parseval: all of the variance
  for top in (1, 5, p // 2):
    share = float(ft.fourier_share(jnp.asarray(x), jnp.asarray(value), top))
    assert share == pytest.approx(np.sort(want)[-top:].sum() / total, abs=1e-5)
  assert float(ft.fourier_share(jnp.zeros((p, width)), jnp.asarray(value))) == 0.0


def _planted(seed, width, phi, modes, independent=False):
  """Rows carrying exactly the share ``phi`` of their variance in ``modes`` (one direction
  at p/2, two elsewhere); noise the rest: with the planted frequencies projected out, or
  (``independent``) isotropic noise orthogonal to the planted part as a whole."""
  rng = np.random.default_rng(seed)
  value = rng.permutation(T)
  v = value[:, None].astype(np.float64)
  basis = np.linalg.qr(rng.standard_normal((width, 2 * len(modes))))[0].T
  signal = sum(np.cos(2 * np.pi * k * v / T) * basis[2 * i]
               + (2 * k < T) * np.sin(2 * np.pi * k * v / T) * basis[2 * i + 1]
               for i, k in enumerate(modes))
  noise = rng.standard_normal((T, width))
  noise -= noise.mean(0)
  if not independent:  # remove the planted frequencies from every column
    waves = np.stack([f(2 * np.pi * k * np.arange(T) / T) for k in modes
                      for f in (np.cos, np.sin)])[:, value].T  # [T, 2·modes], by token
    noise -= waves @ np.linalg.lstsq(waves, noise, rcond=None)[0]
  signal /= np.linalg.norm(signal)
  noise -= np.sum(noise * signal) * signal
  noise /= np.linalg.norm(noise)
  return np.sqrt(phi) * signal + np.sqrt(1 - phi) * noise, value


@pytest.mark.parametrize('width', [16, 128])
def test_fourier_share_recovers_the_planted_share(width):
  chance = ft.fourier_chance(T)
  assert chance == pytest.approx(10 / 99)
  for phi in (0.2, 0.5, 0.9, 1.0):
    for modes in ([3, 9, 14, 30, 41], [1, 7, 22, 35, 50]):  # 50 = p/2: the cosine alone
      x, value = _planted(width, width, phi, modes)
      share = float(ft.fourier_share(jnp.asarray(x, jnp.float32), jnp.asarray(value)))
      assert share == pytest.approx(phi, abs=1e-4), (phi, modes)
    # independent noise adds its own share in the planted frequencies: 2K/(p − 1) on average
    shares = [float(ft.fourier_share(*map(jnp.asarray, _planted(
        seed, width, phi, [2, 11, 19, 27, 44], independent=True)))) for seed in range(10)]
    assert np.mean(shares) == pytest.approx(phi + (1 - phi) * chance, abs=0.01), phi


def test_fourier_share_of_noise_is_at_chance():
  value = jnp.asarray(np.random.default_rng(7).permutation(T))
  chance = ft.fourier_chance(T)
  fixed = jnp.array([4, 9, 16, 30, 40])  # 5 frequencies chosen before seeing the noise
  measure = jax.jit(jax.vmap(lambda x: (
      ft.fourier_share(x, value), ft.fourier_share_chance(x, value),
      jnp.sum(ft.fourier_variance(x, value)[fixed]) / jnp.sum(ft.fourier_variance(x, value)))))
  for width, lift in ((8, 1.8), (16, 1.6), (128, 1.25), (1024, 1.08)):
    share, shuffled, in_fixed = (float(np.mean(a)) for a in measure(jnp.asarray(_noise(width, (
        10, T, width)))))
    # K fixed frequencies: 2K/(p − 1); the strongest K: above it, less so the wider
    assert in_fixed == pytest.approx(chance, rel=0.1 if width < 64 else 0.03), width
    assert chance < share < lift * chance, width
    assert share == pytest.approx(shuffled, rel=0.05), width
  # a representation of rank 1 reaches a high share by chance; its shuffled chance follows it
  low_rank = jnp.asarray(_noise(3, (T, 1)) @ _noise(4, (1, 64)))
  share = float(ft.fourier_share(low_rank, value))
  assert share > 2.5 * chance
  assert share == pytest.approx(float(ft.fourier_share_chance(low_rank, value)), rel=0.25)


def test_feature_scores_take_the_share_where_it_stands_out_above_its_chance(monkeypatch):
  task = tk.make_task('add', 300, jax.random.key(5))
  to_task = lambda x, value: x[np.argsort(value)[np.asarray(task.value_T)]]  # the task's values
  rank_one = np.zeros((T, 32))
  rank_one[:, 0] = _noise(6, T)  # a high share by chance
  reps = jnp.asarray(np.stack([rank_one, to_task(*_planted(1, 32, 0.25, [4, 8, 15, 16, 23])),
                               to_task(*_planted(2, 32, 1.0, [5]))]), jnp.float32)
  shares = [float(ft.fourier_share(r, task.value_T)) for r in reps]
  chances = [float(ft.fourier_share_chance(r, task.value_T)) for r in reps]
  assert shares[1] == pytest.approx(0.25, abs=1e-4)
  assert shares[0] > shares[1] and chances[0] > 2 * chances[1]  # the premise
  monkeypatch.setattr(ft, 'token_representations', lambda *_: reps)
  got = ft.feature_scores(None, task, tf.shape_of(32, 4, 64, 1), tf.Dims(300, 32, 4, 8, 64, 2))
  # layer 1, not the rank-1 embedding nor layer 2 (beyond the member's depth)
  assert float(got['fourier_share']) == pytest.approx(shares[1], abs=1e-6)
  assert float(got['fourier_share_chance']) == pytest.approx(chances[1], abs=1e-6)


def _task():
  return tk.make_task('cmp', PADDED.vocab + 100, jax.random.key(3))


def test_feature_scores_of_a_padded_member_equal_its_unpadded_model():
  dims = tf.Dims(PADDED.vocab + 100, *(getattr(PADDED, f) for f in (
      'd_model', 'num_heads', 'head_dim', 'mlp', 'depth')))
  task = _task()
  for depth in (1, 2):
    shape = tf.shape_of(24, 4, 40, depth, head_dim=6)
    params = tf.init_params(jax.random.key(depth), shape, dims)
    solo = _crop(params, shape)
    reps = representations(params, task, shape, dims)
    solo_reps = representations(solo, task, shape, tf.dims_of(shape, dims.vocab))
    np.testing.assert_allclose(reps[:depth + 1, :, :24], solo_reps, rtol=1e-5, atol=1e-6)
    assert float(jnp.max(jnp.abs(reps[..., 24:]))) == 0.0
    got = scores(params, task, shape, dims)
    want = scores(solo, task, shape, tf.dims_of(shape, dims.vocab))
    assert int(got['fourier_count']) == int(want['fourier_count'])
    for key in ('fourier_share', 'fourier_share_chance'):
      assert float(got[key]) == pytest.approx(float(want[key]), abs=1e-4)
    assert float(got['order_score']) == pytest.approx(float(want['order_score']), abs=1e-4)


# ---------------------------------------------------------------------------------------------
# g_t + g_nt = g, task neurons, cosines

def _setup(seed=0, mlp=40):
  task = _task()
  dims = tf.Dims(int(task.tokens_T.max()) + 1, 32, 4, 16, 64, 3)
  shape = tf.shape_of(24, 4, mlp, 2, head_dim=6)
  params = tf.init_params(jax.random.key(seed), shape, dims)
  hp = lm_training.Hyper(dims=dims, seq_len=12, batch_size=6, steps_per_chunk=3,
                         opt=optim.Hyper(name='adamw', b1=0.9, b2=0.95, weight_decay=0.1,
                                decay='matrices', clip=1.0, schedule='cosine', warmup_steps=1,
                                num_steps=3, final_lr_ratio=0.1))
  background = jax.random.randint(jax.random.key(seed + 1), (6, 13), 1, dims.vocab)
  tokens, carriers = tk.inject(jax.random.key(seed + 2), jnp.int32(0), background, task,
                               tk.injection(0.5), 'count')
  return task, dims, shape, params, hp, tokens, carriers


def test_task_and_other_gradients_sum_to_the_batch_gradient():
  task, dims, shape, params, _, tokens, carriers = _setup()
  weights = dc.task_token_weights(carriers, 12)
  assert float(weights.sum()) == 3 * 3  # 3 carriers × TOK2, LABEL, EOD
  loss, g_t, g_nt = split_gradient(params, tokens, weights, shape, dims)
  ones = jnp.ones((6, 12))
  g = jax.jit(jax.grad(lm_training.loss_fn), static_argnums=4)(params, tokens, ones, shape, dims)
  # two separate losses: Σ w ℓ / n and Σ (1 − w) ℓ / n
  part = jax.jit(lambda w: jax.grad(
      lambda p: jnp.sum(lm_training.token_losses(p, tokens, shape, dims) * w) / 72)(params))
  for a, b in zip(jax.tree.leaves(jax.tree.map(jnp.add, g_t, g_nt)), jax.tree.leaves(g)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
  for got, w in ((g_t, weights), (g_nt, 1 - weights)):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(part(w))):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
  assert float(loss) == pytest.approx(float(jax.jit(lm_training.loss_fn, static_argnums=4)(
      params, tokens, ones, shape, dims)), rel=1e-6)


def test_top_k_never_selects_a_padded_neuron():
  task, dims, shape, params, *_ = _setup(mlp=20)
  g_r = task_gradient(params, task, shape, dims)
  for k in (1, 5, 20):
    sel = np.asarray(dc.task_neurons(g_r, shape, dims, k))
    assert sel.sum() == k and sel[20:].sum() == 0
  # even when the padded units carry the largest gradients
  loud = jax.tree.map(lambda g: g, g_r)
  loud['layers']['w_up'] = loud['layers']['w_up'].at[0, :, 20:].set(1e6)
  sel = np.asarray(dc.task_neurons(loud, shape, dims, 20))
  np.testing.assert_array_equal(sel, np.arange(64) < 20)
  # the chosen units are the largest by hand
  norms = np.sqrt(sum(np.sum(np.asarray(a) ** 2, axis=ax) for a, ax in (
      (g_r['layers']['w_gate'][0], 0), (g_r['layers']['w_up'][0], 0),
      (g_r['layers']['w_down'][0], 1))))[:20]
  np.testing.assert_array_equal(np.flatnonzero(dc.task_neurons(g_r, shape, dims, 5)),
                                np.sort(np.argsort(norms)[-5:]))


def test_neuron_cosine_by_hand():
  task, dims, shape, params, *_ = _setup()
  a = task_gradient(params, task, shape, dims)
  b = jax.tree.map(lambda p: p + 0.01 * jnp.sin(jnp.arange(p.size).reshape(p.shape)), a)
  sel = np.zeros(64, np.float32)
  sel[[2, 5, 17]] = 1
  units = [2, 5, 17]
  flat = lambda g: np.concatenate([np.asarray(g['layers'][w][0])[:, units].ravel()
                                   for w in ('w_gate', 'w_up')]
                                  + [np.asarray(g['layers']['w_down'][0])[units].ravel()])
  want = flat(a) @ flat(b) / np.linalg.norm(flat(a)) / np.linalg.norm(flat(b))
  assert float(dc.neuron_cosine(a, b, jnp.asarray(sel))) == pytest.approx(want, rel=1e-5)


def test_probes_inside_the_training_loop_equal_the_direct_computation():
  task, dims, shape, params, hp, *_ = _setup()
  data = lm_training.Data(tk.make_markov(jax.random.key(4), dims.vocab), task)
  member = lm_training.Member(shape, jnp.float32(3e-3), tk.injection(0.5, gap=2))
  probed = lm_training.Hyper(**{**hp.__dict__, 'probe_neurons': 8, 'probe_period': 3,
                                'probe_phases': (0, 1)})
  state = lm_training.init_state(jax.random.key(0), member, hp)
  key = jax.random.key(11)
  run = lambda h: jax.jit(
      lambda s: lm_training.train_chunk(s, key, jnp.int32(0), member, data, h))(state)
  plain, loss, _ = run(hp)
  with_probes, probed_loss, probes = run(probed)
  # the update uses g_t + g_nt at probe steps: the same training to rounding
  for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(with_probes.params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
  assert float(probed_loss) == pytest.approx(float(loss), rel=1e-6)
  probes = np.asarray(probes)
  assert np.isnan(probes[2]).all()  # step 2: no probe
  # step 0 from the initial state; step 1 (no carriers: gap 2) has cos(g_t, g_r) = NaN
  tokens, carriers = lm_training.batch_at(key, jnp.int32(0), data, member, hp)
  direct = jax.jit(dc.probe, static_argnums=(5, 6))(state.params, tokens, carriers, task, shape,
                                                    dims, 8)
  np.testing.assert_allclose(probes[0], [float(direct[k]) for k in lm_training.PROBES], rtol=1e-4)
  assert probes[0, 3] == 6 and probes[1, 3] == 0  # gap 2: round(0.5 · 6) · 2 at step 0
  assert np.isnan(probes[1, 1])  # no instance at step 1: no g_t
  assert np.isfinite(probes[1, [0, 2]]).all()
  assert probes[1, 0] == pytest.approx(probes[1, 2], rel=1e-5)  # g = g_nt without instances


# ---------------------------------------------------------------------------------------------
# experiments/fig7_fourier_validation.py

def test_fourier_validation_smoke_reports_its_own_numbers(tmp_path):
  name = 'fig7_fourier_validation'
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'experiments', f'{name}.py')
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  module.main(['--workdir', str(tmp_path), '--smoke'])
  with open(tmp_path / f'{name}.json') as f:
    res = json.load(f)
  assert (tmp_path / f'{name}.png').stat().st_size > 10_000
  cfg = module.SMOKE
  # (i): the planted rows of seed 1 at φ = 0.5, their share by the cos/sin projection oracle
  x, value = module.planted(np.random.default_rng([1, 16, 500]), 100, 16, 0.5)
  variance, total = _projection_variance(x, value)
  assert res['planted']['share']['16']['0.5'][1] == pytest.approx(
      np.sort(variance)[-ft.FOURIER_TOP:].sum() / total, abs=1e-5)
  # (ii), (iii) at step 0, recomputed from seed 0's task and initial parameters
  k_task, k_init = jax.random.split(jax.random.key(0))
  shape, dims = module.tf_model(cfg)

  def step_zero():
    task = module.addition_task(k_task, cfg['p'], False)
    embed, params = module.mlp_init(k_init, cfg)['embed'], tf.init_params(k_init, shape, dims)
    return (task, ft.fourier_share(embed, task.value_T),
            ft.feature_scores(params, task, shape, dims))
  task, mlp_share, want = jax.jit(step_zero)()
  value = np.asarray(task.value_T)
  assert np.array_equal(task.label_TxT, np.argsort(value)[(value[:, None] + value) % cfg['p']])
  assert res['mlp']['share'][0][0] == pytest.approx(float(mlp_share), rel=1e-5)
  assert res['transformer']['share'][0][0] == pytest.approx(float(want['fourier_share']),
                                                            rel=1e-5)
  assert res['transformer']['chance_shuffled'][0][0] == pytest.approx(
      float(want['fourier_share_chance']), rel=1e-5)
  for part, steps, every in (('mlp', cfg['mlp_steps'], cfg['mlp_every']),
                             ('transformer', cfg['tf_steps'], cfg['tf_every'])):
    assert res[part]['steps'] == list(range(0, steps + 1, every))
    assert np.shape(res[part]['share']) == (cfg['seeds'], len(res[part]['steps']))
  # the claims from the JSON's own numbers (None: undefined, e.g. ρ of a constant accuracy)
  got = {c['name']: np.asarray(c['per_seed'], float) for c in res['claims']}
  assert len(got) == 12
  share, acc = (np.asarray(res['transformer'][k]) for k in ('share', 'test_accuracy'))
  np.testing.assert_allclose(got['transformer_share_when_learned'],
                             share[:, -1] / ft.fourier_chance(cfg['p']), rtol=1e-6)
  np.testing.assert_allclose(got['transformer_share_tracks_accuracy'],
                             [expt.spearman(s, a) for s, a in zip(share, acc)], rtol=1e-6)
  control = {k: np.asarray(res['control'][k]) for k in ('share', 'chance_shuffled')}
  np.testing.assert_allclose(got['control_share_at_chance'],
                             control['share'][:, -1] / control['chance_shuffled'][:, -1])
  assert np.all(np.asarray(res['control']['test_accuracy']) < 0.5)
