"""Measuring competition and interference at one step (one model, no member axis).

``measure(state, batch, step, ...)`` looks at the parameters θ_t after t updates and at the
update u_t that ``mlp_training.train_step`` would apply next on the same batch (θ_{t+1} = θ_t +
u_t),
without applying it: training is bit-for-bit the same with or without measurement. It returns a
dict of metrics reduced on device (no K full gradients ever leave it); the names are those
written to ``metrics.jsonl`` (docs/measuring.md, "Measuring interference"):

  grad_norm          [K]    ||g_k|| on the training batch, g_k = ∇ (1/B) Σ_{b∈k} ℓ_b
  grad_cos           [K,K]  cosines between those task gradients (0 where a task is absent)
  grad_norm_probe    [K]    ||∇ π_k L̂_k|| on a fresh probe batch with equal counts per task
  grad_bound_probe   [K]    the residual bound on grad_norm_probe (gradients.residual_bound)
  grad_cos_probe     [K,K]  cosines between the probe task gradients
  rare_loss          []     L_r: exact for linear models, else on a fresh batch of task r
  ref_cos_batch      []     cos(g, G_r), G_r = ∇L_r, g the whole batch gradient
  ref_cos_task       []     cos(g_t, G_r), g_t the part of g from task r's examples
  ref_cos_other      []     cos(g_nt, G_r), g_nt = g − g_t
  interference       [K]    ∇L_r·u_k, the first-order change of L_r caused by task k's part of
                            this step's update (interference.py; > 0 means overwriting)
  interference_rest  []     the part carried by the optimizer state (momentum, weight decay)
  interference_total []     ∇L_r·u = Σ interference + interference_rest
  lookahead_change   []     L_r(θ + u) − L_r(θ), the realized change that checks it
  units_dominated    [K]    hidden units whose use is > 1/2 task k's (allocation.py)
  unit_share         [W,K]  each unit's use split over tasks
  rowspace_score     [K]    ℓ^row_k, task k's variance in the encoder's row space (linear only,
                            NaN otherwise)
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rarelearn.core import optim
from rarelearn.measure import allocation, gradients, interference
from rarelearn.models import mlp
from rarelearn.population import mlp_training
from rarelearn.tasks import block_regression as br


@dataclasses.dataclass(frozen=True)
class MeasureHyper:
  """Static measurement settings (config ``measure.*``)."""
  every: int  # measure θ_t at every t that is a positive multiple of ``every``; 0 = never
  rare_task: int
  probe_per_task: int
  reference_examples: int  # for L_r of non-linear models


def rare_loss(params: mlp.Params, mask_W: jax.Array, spec: br.BlockRegressionSpec,
              ref_x: jax.Array, rare_task: int, activation: str) -> jax.Array:
  """L_r: closed form for linear models, else the mean loss on ``ref_x`` (examples of task r)."""
  if activation == 'linear':
    w, bias = mlp.affine_map(params, mask_W, spec.dim)
    return br.closed_form_task_losses(w, bias, spec)[rare_task]
  pred = mlp.apply(params, ref_x, mask_W, activation)
  return jnp.mean(jnp.sum((pred - ref_x) ** 2, axis=-1))  # y = x in the block toy


def _cos(dot, sq_a, sq_b):
  denom = jnp.sqrt(jnp.maximum(sq_a, 0.0) * jnp.maximum(sq_b, 0.0))
  return jnp.where(denom > 0, dot / jnp.where(denom > 0, denom, 1.0), 0.0)


def measure(state: mlp_training.TrainState, batch: br.Batch, step: jax.Array,
            member: mlp_training.MemberHparams, spec: br.BlockRegressionSpec,
            measure_key: jax.Array,
            hp: mlp_training.Hyper, mh: MeasureHyper) -> dict[str, jax.Array]:
  """Metrics of θ_t = ``state`` and of the update that step ``step`` on ``batch`` applies."""
  K, r, params = spec.num_tasks, mh.rare_task, state.params
  mask_W = mlp.mask_of(params, member.width)
  weights_B = jnp.full(batch.task_id.shape, 1.0 / batch.task_id.shape[0])
  sig = gradients.signals(params, batch.x, batch.y, weights_B, mask_W, hp.activation)
  new_state, direction = mlp_training.apply_gradients(state, sig.grads, step, member, hp)
  m = {}

  gram = gradients.task_gram(sig, batch.task_id, K)
  m['grad_norm'] = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), 0.0))
  m['grad_cos'] = gradients.cosines(gram)

  key = jax.random.fold_in(measure_key, step)
  probe = br.eval_set(jax.random.fold_in(key, 0), spec, mh.probe_per_task)
  probe_w = jnp.exp(spec.log_freqs_K)[probe.task_id] / mh.probe_per_task
  sig_p = gradients.signals(params, probe.x, probe.y, probe_w, mask_W, hp.activation)
  gram_p = gradients.task_gram(sig_p, probe.task_id, K)
  m['grad_norm_probe'] = jnp.sqrt(jnp.maximum(jnp.diagonal(gram_p), 0.0))
  m['grad_bound_probe'] = gradients.residual_bound(params, sig_p, probe_w, probe.task_id, K,
                                                   hp.activation)
  m['grad_cos_probe'] = gradients.cosines(gram_p)

  ref_x = None
  if hp.activation != 'linear':
    ref_x, _ = br.examples_of_tasks(jax.random.fold_in(key, 1), spec,
                                    jnp.full((mh.reference_examples,), r, jnp.int32))
  def loss_r(p):
    return rare_loss(p, mask_W, spec, ref_x, r, hp.activation)
  m['rare_loss'], g_ref = jax.value_and_grad(loss_r)(params)
  dots = gradients.task_dots(sig, batch.task_id, K, g_ref)
  ref_sq = interference.tree_dot(g_ref, g_ref)
  all_sq, other_dot = jnp.sum(gram), jnp.sum(dots) - dots[r]
  m['ref_cos_batch'] = _cos(jnp.sum(dots), all_sq, ref_sq)
  m['ref_cos_task'] = _cos(dots[r], gram[r, r], ref_sq)
  m['ref_cos_other'] = _cos(other_dot, all_sq - 2 * jnp.sum(gram[r]) + gram[r, r], ref_sq)

  eta = member.lr * optim.lr_multiplier(step, hp.opt)
  scale, rest = interference.split_update(state.opt_state, new_state.opt_state, params, hp.opt)
  m['interference_total'] = -eta * interference.tree_dot(g_ref, direction)
  if scale is None:
    m['interference'] = jnp.full((K,), jnp.nan)
    m['interference_rest'] = jnp.full((), jnp.nan)
  else:
    scaled_ref = jax.tree.map(jnp.multiply, g_ref, scale)
    m['interference'] = -eta * gradients.task_dots(sig, batch.task_id, K, scaled_ref)
    m['interference_rest'] = -eta * interference.tree_dot(g_ref, rest)
  m['lookahead_change'] = loss_r(new_state.params) - m['rare_loss']

  m['unit_share'] = allocation.unit_shares(params, sig_p.inputs[-1], probe.task_id, K)
  m['units_dominated'] = allocation.units_dominated(m['unit_share'])
  m['rowspace_score'] = (allocation.rowspace_scores(params, mask_W, spec)
                         if hp.activation == 'linear' else jnp.full((K,), jnp.nan))
  return m
