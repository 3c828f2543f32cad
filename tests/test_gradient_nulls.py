"""The two nulls of the Fig. 9 probe (measure/decomposition.py): the shuffled task's gradient
against ``jax.grad`` of its loss written out, and the random direction against the closed form
of a random cosine's spread (1/√n in n dimensions)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rarelearn.measure import decomposition as dc
from rarelearn.tasks import tokens as tk

from test_features import _setup


def _max_abs(a, b) -> float:
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a),
                                                             jax.tree.leaves(b)))


def test_shuffled_gradient_and_the_probes_nulls_by_hand():
  """g_r and g_s equal ``jax.grad`` of their losses written out (optax's cross-entropy with the
  true and the permuted answers); the probe's two nulls equal the cosines recomputed from
  them."""
  task, dims, shape, params, _, tokens, carriers = _setup()
  pairs = jnp.concatenate([task.train_pairs, task.test_pairs])
  label = tk.instances(task, pairs)[:, 2]
  shuffled = label[jax.random.permutation(jax.random.key(dc.SHUFFLE_SEED), label.shape[0])]
  assert 0 < float(jnp.mean(shuffled != label))  # the answers moved

  @jax.jit
  def by_hand(params, tokens, carriers, task, shape):
    def loss(p, y):
      logits, _ = dc.label_logits(p, task, pairs, shape, dims)
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    g_r, g_s = jax.grad(loss)(params, label), jax.grad(loss)(params, shuffled)
    _, _, g_nt = dc.split_gradient(params, tokens, dc.task_token_weights(carriers, 12), shape,
                                   dims)
    sel = dc.task_neurons(g_r, shape, dims, 8)
    return (g_r, g_s, dc.task_and_shuffled_gradients(params, task, shape, dims),
            dc.probe(params, tokens, carriers, task, shape, dims, 8, jnp.int32(5)),
            dc.neuron_cosine(g_nt, g_s, sel),
            dc.neuron_cosine(g_nt, dc.random_direction(jnp.int32(5), shape, dims), sel))
  want_r, want_s, (g_r, g_s), got, shuffled_cos, random_cos = by_hand(params, tokens, carriers,
                                                                      task, shape)
  scale = max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(want_s))
  assert _max_abs(g_r, want_r) < 1e-6 * scale
  assert _max_abs(g_s, want_s) < 1e-6 * scale
  assert _max_abs(g_s, g_r) > 0.1 * scale  # a different direction
  np.testing.assert_allclose(float(got['cos_gnt_shuffled']), float(shuffled_cos), rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(float(got['cos_gnt_random']), float(random_cos), rtol=1e-4,
                             atol=1e-6)


def test_random_direction_is_isotropic_on_true_coordinates():
  """Zero on padding; a new draw per step; over many steps its cosine with a fixed vector on
  the selected units has mean 0 and standard deviation 1/√n, n = the units' true
  coordinates (3 · d_model each)."""
  task, dims, shape, params, *_ = _setup(mlp=20)  # padded: mlp 20 of 64, d_model 24 of 32
  u0, u1 = (dc.random_direction(jnp.int32(s), shape, dims) for s in (0, 1))
  w = np.asarray(u0['layers']['w_gate'])
  assert np.all(w[:, 24:] == 0) and np.all(w[:, :, 20:] == 0) and np.all(w[2:] == 0)  # 2 layers
  assert np.all(w[0, :24, :20] != 0)
  assert _max_abs(u0, u1) > 0
  g_r = dc.task_gradient(params, task, shape, dims)
  k = 8
  sel = dc.task_neurons(g_r, shape, dims, k)
  cos = jax.jit(jax.vmap(lambda s: dc.neuron_cosine(
      g_r, dc.random_direction(s, shape, dims), sel)))(jnp.arange(2000))
  n = k * 3 * 24
  assert abs(float(jnp.mean(cos))) < 4 / np.sqrt(n * 2000)
  np.testing.assert_allclose(float(jnp.std(cos)), 1 / np.sqrt(n), rtol=0.06)
