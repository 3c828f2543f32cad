"""The batch gradient split into its task-token and other-token parts, compared with the
task's own direction on the neurons that matter for the task (paper Fig. 9).

At a training step with parameters θ and batch tokens:
- g = ∇θ of the training loss (the mean next-token loss over the B × S targets);
- g_t and g_nt: the same gradient with the targets' weights restricted to the *task tokens*
  (the targets TOK2, LABEL and EOD of the carrier sequences: every token an instance wrote
  after TOK1) and to all other targets. Both come from **one** backward pass: the per-target
  losses are pulled back once with two cotangents stacked (weights w_t / (B·S) and
  (1 − w_t) / (B·S)), so g_t + g_nt = g up to float rounding;
- g_r = ∇θ of the task loss (cross-entropy at the LABEL position) over all 10,000 ordered
  pairs of the task, train and test;
- task neurons: the top-K hidden units of the first layer's SwiGLU MLP by the norm of g_r over
  the unit's parameters (its column of w_gate and w_up, its row of w_down); units beyond the
  member's true MLP width are never chosen (K ≤ that width);
- cos(g, g_r), cos(g_t, g_r), cos(g_nt, g_r) over those units' parameters. cos(g_t, g_r) is
  NaN on a batch with no instance (g_t = 0).

Two nulls for cos(g_nt, g_r), over the same units' parameters: ``cos_gnt_random``, the cosine of
g_nt with a random direction (i.i.d. normal on the member's true coordinates, a new one at every
step) — what any cosine in that many dimensions does, so its spread shrinks with width by
dimension alone; and ``cos_gnt_shuffled``, with g_s, the gradient of the same LABEL-position loss
over the same pairs with the answers permuted among them (one fixed permutation): a task of the
same form and the same inputs whose answers mean nothing. g_r and g_s come from one forward
pass and two pullbacks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rarelearn.models import transformer as tf
from rarelearn.tasks import tokens as tk

INSTANCE_TARGETS = 3  # targets 0, 1, 2 of a carrier sequence: TOK2, LABEL, EOD
SHUFFLE_SEED, RANDOM_SEED = 17, 23  # the shuffled task's permutation; the random directions


def task_token_weights(carriers_B: jax.Array, seq_len: int) -> jax.Array:
  """[B, S] 1.0 on the targets an instance wrote, 0.0 elsewhere."""
  first = jnp.arange(seq_len) < INSTANCE_TARGETS
  return (carriers_B[:, None] & first[None, :]).astype(jnp.float32)


def split_gradient(params: tf.Params, tokens_BxS1: jax.Array, task_weights_BxS: jax.Array,
                   shape: tf.Shape, dims: tf.Dims):
  """(loss, g_t, g_nt) of the mean next-token loss, in one backward pass."""
  per_target, pullback = jax.vjp(
      lambda p: tf.next_token_losses(p, tokens_BxS1, shape, dims), params)
  cotangents = jnp.stack([task_weights_BxS, 1.0 - task_weights_BxS]) / per_target.size
  (grads,) = jax.vmap(pullback)(cotangents)
  g_t, g_nt = (jax.tree.map(lambda g: g[i], grads) for i in range(2))
  return jnp.mean(per_target), g_t, g_nt


def label_logits(params: tf.Params, task: tk.TokenTask, pairs_Px2: jax.Array, shape: tf.Shape,
                 dims: tf.Dims) -> tuple[jax.Array, jax.Array]:
  """(logits [P, V] at the position that predicts LABEL, the LABEL ids [P]). The model is
  causal, so they depend on TOK1 TOK2 only: two-token prompts suffice."""
  inst = tk.instances(task, pairs_Px2)
  logits = jax.vmap(lambda t: tf.apply(params, t, shape, dims))(inst[:, :2])[:, 1]
  return logits, inst[:, 2]


def task_gradient(params: tf.Params, task: tk.TokenTask, shape: tf.Shape,
                  dims: tf.Dims) -> tf.Params:
  """g_r: the gradient of the LABEL-position loss over every ordered pair of the task."""
  pairs = jnp.concatenate([task.train_pairs, task.test_pairs])

  def loss(p):
    logits, label = label_logits(p, task, pairs, shape, dims)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, label))
  return jax.grad(loss)(params)


def task_and_shuffled_gradients(params: tf.Params, task: tk.TokenTask, shape: tf.Shape,
                                dims: tf.Dims) -> tuple[tf.Params, tf.Params]:
  """(g_r, g_s): ``task_gradient`` and the same with the LABELs permuted among the pairs (a
  fixed permutation, ``SHUFFLE_SEED``), from one forward pass and two pullbacks. (Not one
  vmapped pullback of the two cotangents stacked: on jax 0.10.2 / CPU that returned the second
  gradient off by up to 30% of its scale, where each pullback alone matches ``jax.grad``.)"""
  pairs = jnp.concatenate([task.train_pairs, task.test_pairs])
  label = tk.instances(task, pairs)[:, 2]
  shuffled = label[jax.random.permutation(jax.random.key(SHUFFLE_SEED), label.shape[0])]
  logits, pullback = jax.vjp(lambda p: label_logits(p, task, pairs, shape, dims)[0], params)
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return tuple(pullback(((probs - jax.nn.one_hot(y, logits.shape[-1])) / y.shape[0]
                         ).astype(logits.dtype))[0] for y in (label, shuffled))


def random_direction(step: jax.Array, shape: tf.Shape, dims: tf.Dims) -> tf.Params:
  """An isotropic random direction on the member's true coordinates (new at every step)."""
  return tf.init_params(jax.random.fold_in(jax.random.key(RANDOM_SEED), step), shape, dims)


def _neuron_parts(g: tf.Params) -> list[jax.Array]:
  """The first layer's MLP gradients as [F, ·] blocks, one row per hidden unit."""
  layer = g['layers']
  return [layer['w_gate'][0].T, layer['w_up'][0].T, layer['w_down'][0]]


def task_neurons(g_r: tf.Params, shape: tf.Shape, dims: tf.Dims, k: int) -> jax.Array:
  """[F] 1.0 on the top-k first-layer MLP units by ‖g_r‖ over their parameters; padded units
  (index ≥ the true MLP width) are never chosen."""
  norms = jnp.sqrt(sum(jnp.sum(part ** 2, axis=1) for part in _neuron_parts(g_r)))
  norms = jnp.where(jnp.arange(dims.mlp) < shape.mlp, norms, -jnp.inf)
  _, top = jax.lax.top_k(norms, k)
  return jnp.zeros((dims.mlp,), jnp.float32).at[top].set(1.0)


def neuron_cosine(a: tf.Params, b: tf.Params, selected_I: jax.Array) -> jax.Array:
  """cos(a, b) over the parameters of the selected first-layer MLP units."""
  def dot(p, q):
    return sum(jnp.sum(selected_I[:, None] * x * y)
               for x, y in zip(_neuron_parts(p), _neuron_parts(q)))
  return dot(a, b) / jnp.sqrt(dot(a, a) * dot(b, b))


def probe(params: tf.Params, tokens_BxS1: jax.Array, carriers_B: jax.Array,
          task: tk.TokenTask, shape: tf.Shape, dims: tf.Dims, k: int,
          step: jax.Array | int = 0) -> dict:
  """Everything of one step: the loss, g (= g_t + g_nt), the three cosines on the task
  neurons (``cos_g``, ``cos_gt``, ``cos_gnt``), the two nulls (``cos_gnt_random``,
  ``cos_gnt_shuffled``; the random direction drawn for ``step``) and ``instances``
  (carriers in the batch)."""
  weights = task_token_weights(carriers_B, tokens_BxS1.shape[1] - 1)
  loss, g_t, g_nt = split_gradient(params, tokens_BxS1, weights, shape, dims)
  g = jax.tree.map(jnp.add, g_t, g_nt)
  g_r, g_s = task_and_shuffled_gradients(params, task, shape, dims)
  sel = task_neurons(g_r, shape, dims, k)
  return {'loss': loss, 'grads': g,
          'cos_g': neuron_cosine(g, g_r, sel), 'cos_gt': neuron_cosine(g_t, g_r, sel),
          'cos_gnt': neuron_cosine(g_nt, g_r, sel),
          'cos_gnt_random': neuron_cosine(g_nt, random_direction(step, shape, dims), sel),
          'cos_gnt_shuffled': neuron_cosine(g_nt, g_s, sel),
          'instances': jnp.sum(carriers_B).astype(jnp.float32)}
