"""The superposition family (rarelearn/families/superposition.py): its loss split and gradient
against a numpy oracle, a padded member against its size alone, and Elhage et al.'s result at
smoke scale through ``rarelearn.main`` and ``rarelearn.inspect`` (the SIGKILL resume is
tests/test_run.py's, with every family)."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn import families, inspect, main
from rarelearn.core import configlib
from rarelearn.runtime import loop
from conftest import REPO

SPEC = os.path.join(REPO, 'configs', 'superposition.py')


def _family(spec=':smoke', **changes):
  config = configlib.load_config_file(SPEC + spec)
  for field, value in changes.items():
    section, key = field.split('__')
    config[section][key] = value
  families.validate(config)
  return families.get('superposition').Family(config)


def test_split_loss_and_gradient_equal_a_numpy_oracle():
  """Member of m = 3 padded to 5 hidden units: the per-feature losses I_k mean_b (x − x')², their
  sum's gradient (worked by hand: dL/dW = hᵀG + W GᵀX, dL/db = Σ_b G, G = 2 I (x' − x) / B
  where x Wᵀ W + b > 0) on its own rows, and exactly zero on the padding."""
  fam = _family(model__hidden=(3, 5), model__features=6)
  member = fam.member_values([{'hidden': 3, 'density': 0.4, 'seed': 0}])
  member = jax.tree.map(lambda a: a[0], member)
  rng = np.random.default_rng(0)
  params = fam.init(jax.random.key(1), member)._replace(
      W=jnp.asarray(rng.normal(size=(5, 6)), jnp.float32),
      b=jnp.asarray(rng.normal(size=6) * 0.3, jnp.float32))
  x = np.asarray(fam.batch_at(jax.random.key(2), 5, member), np.float64)
  w, b = np.asarray(params.W, np.float64)[:3], np.asarray(params.b, np.float64)
  pre = x @ w.T @ w + b
  r = np.maximum(pre, 0) - x
  imp = 0.7 ** np.arange(6)
  np.testing.assert_allclose(fam.split_loss(params, jnp.asarray(x, jnp.float32), member),
                             imp * np.mean(r ** 2, axis=0), rtol=1e-5)
  g = 2 * imp * r / x.shape[0] * (pre > 0)
  grad = jax.grad(lambda p: jnp.sum(fam.split_loss(p, jnp.asarray(x, jnp.float32), member)))(
      params)
  np.testing.assert_allclose(grad.W[:3], (x @ w.T).T @ g + w @ g.T @ x, rtol=1e-4, atol=1e-6)
  np.testing.assert_array_equal(grad.W[3:], 0.0)
  np.testing.assert_allclose(grad.b, g.sum(0), rtol=1e-4, atol=1e-6)
  # the batch: each feature present with its probability, uniform on [0, 1] where present
  big = np.asarray(fam.batch_at(jax.random.key(3), 0, member, size=20_000))
  assert abs((big > 0).mean() - 0.4) < 0.01 and abs(big[big > 0].mean() - 0.5) < 0.01
  assert fam.num_params({'hidden': 3}) == 3 * 6 + 6
  up = _family(model__hidden=(3, 5), model__features=6, data__upweight_feature=1,
               data__upweight_factor=2.0)
  probs = up.member_values([{'hidden': 3, 'density': 0.4, 'seed': 0}]).probs[0]
  np.testing.assert_allclose(probs, [0.4, 0.8, 0.4, 0.4, 0.4, 0.4])
  assert fam.flops_per_step({'hidden': 3}) == 12 * 256 * 3 * 6


def test_a_padded_member_trains_as_its_size_alone():
  """m = 2 beside m = 4 (padded to 4 rows) against m = 2 alone: the same W on its rows to float
  rounding (the shapes of the matmuls differ), exactly zero on the padding."""
  grid = dict(data__density=(0.3,), model__seeds=1, train__num_steps=200,
              train__steps_per_chunk=100)
  both = families.population(_family(model__hidden=(2, 4), **grid).config)
  alone = families.population(_family(model__hidden=(2,), **grid).config)
  w_both, w_alone = (np.asarray(loop.run(p, None, progress=False).state.params.W)
                     for p in (both, alone))
  np.testing.assert_allclose(w_both[0, :2], w_alone[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(w_both[0, 2:], 0.0)


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('superposition'))
  return main.train(configlib.load_config_file(SPEC + ':smoke'), workdir, progress=False), workdir


def test_dense_features_keep_the_top_m_and_sparse_ones_more(smoke_run):
  """Elhage et al.'s result at smoke scale (n = 6, I_i = 0.7^i, 600 steps): at density 1 a model
  of m hidden units represents exactly features 0 … m − 1; at density 0.05 more than m."""
  summary, _ = smoke_run
  for row, learned, count in zip(summary['members'], summary['final']['learned'],
                                 summary['represented']):
    if row['density'] == 1.0:
      assert learned == [k < row['hidden'] for k in range(6)], row
    else:
      assert count > row['hidden'], row


def test_inspect_opens_the_run(smoke_run, capsys):
  summary, workdir = smoke_run
  ins = inspect.load(workdir)
  assert ins.step == 600 and ins.summary['final'] == summary['final']
  assert inspect.main(['--workdir', workdir, '--member', '0']) == 0
  table = capsys.readouterr().out.splitlines()
  assert '8 members × 6 tasks (superposition)' in table[0]
  assert table[2].split()[:4] == ['0', '2', '1', '0'] and table[2].count('*') == 2
