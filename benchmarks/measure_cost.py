"""Cost of measuring per-task gradients, relative to training (issue targets in docs/measuring.md).

    python benchmarks/measure_cost.py [--config=configs/sweep.py] [--repeats=5]

Prints, for the config's whole population (one jitted, vmapped program, as in a run):
- one training step (a chunk's time / its steps);
- the K task gradients' inner products (signals: one forward + one backward; Gram; dots with a
  direction) in units of one backward pass (value_and_grad of the batch loss), and the naive
  alternative (K backward passes, vmapped over task-weight vectors);
- one full measurement (``measure.step.measure``: training batch, probe batch, G_r, the update
  split, the look-ahead, allocation) in units of one training step;
- the overhead of measuring at the config's cadence: a chunk with measurement against one
  without.
Timings are medians over ``--repeats`` calls after a compile-and-warm-up call.
"""
from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp

from rarelearn import bench, families
from rarelearn.core import configlib
from rarelearn.measure import gradients
from rarelearn.models import mlp
from rarelearn.population import measure_step, mlp_setup, mlp_training, vmapped
from rarelearn.tasks import block_regression as br


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='configs/sweep.py')
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  config = configlib.load_config_file(args.config)
  families.validate(config)
  hp = mlp_setup.hyper(config, families.get(config.family))
  members, mh = mlp_setup.members(config), mlp_setup.measure_hyper(config)
  freqs, spectra, basis = families.get(config.family).task_setup(config)
  spec = br.make_spec(freqs, spectra, basis)
  K, member_hp = spec.num_tasks, members.hparams()
  state = vmapped.init(jax.random.key(0), members, hp)
  data_key, measure_key = jax.random.key(1), jax.random.key(2)
  batch = mlp_training.batch_at(data_key, jnp.int32(0), spec, hp)
  ev = br.eval_set(jax.random.key(3), spec, 1 if hp.activation == 'linear' else 64)
  per_member = lambda f: jax.jit(jax.vmap(f, in_axes=(0, 0)))  # pylint: disable=unnecessary-lambda-assignment

  def backward(state, member):
    mask = mlp.mask_of(state.params, member.width)
    return jax.value_and_grad(mlp_training.loss_fn)(state.params, batch, mask, hp.activation)

  def task_products(state, member):
    mask = mlp.mask_of(state.params, member.width)
    w = jnp.full((hp.batch_size,), 1.0 / hp.batch_size)
    sig = gradients.signals(state.params, batch.x, batch.y, w, mask, hp.activation)
    return (gradients.task_gram(sig, batch.task_id, K),
            gradients.task_dots(sig, batch.task_id, K, sig.grads))

  def naive_task_grads(state, member):
    mask = mlp.mask_of(state.params, member.width)

    def weighted(params, onehot_k):
      pred = mlp.apply(params, batch.x, mask, hp.activation)
      per_example = jnp.sum((pred - batch.y) ** 2, axis=-1)
      return jnp.sum(onehot_k[batch.task_id] * per_example) / hp.batch_size
    grads = jax.vmap(jax.grad(weighted), in_axes=(None, 0))(state.params, jnp.eye(K))
    flat = jnp.concatenate([g.reshape(K, -1) for g in jax.tree.leaves(grads)], axis=1)
    return flat @ flat.T

  def one_measurement(state, member):
    return measure_step.measure(state, batch, jnp.int32(1), member, spec, measure_key, hp, mh)

  t_bwd, t_task, t_naive, t_measure = (
      bench.median_seconds(lambda f=per_member(f): f(state, member_hp), args.repeats)
      for f in (backward, task_products, naive_task_grads, one_measurement))

  spc = hp.steps_per_chunk
  chunks = {}
  for every in (0, mh.every):
    fn = vmapped.make_chunk(hp, dataclasses.replace(mh, every=every))
    holder = {'state': vmapped.init(jax.random.key(0), members, hp)}

    def call(fn=fn, holder=holder):
      holder['state'], loss, tl, m = fn(holder['state'], data_key, jnp.int32(0), member_hp, spec,
                                       ev, measure_key)
      return loss, tl, m
    chunks[every] = bench.median_seconds(call, max(2, args.repeats // 2))
  t_step = chunks[0] / spc

  print(f'device: {jax.devices()[0].device_kind} ({jax.default_backend()}); '
        f'{members.size} members, widths {sorted(set(members.widths))}, K={K}, '
        f'D={hp.dim}, batch {hp.batch_size}')
  print(f'training step (from a {spc}-step chunk):    {1e3 * t_step:8.2f} ms')
  print(f'one backward pass (value_and_grad):      {1e3 * t_bwd:8.2f} ms')
  print(f'all K task gradients (signals+Gram+dots): {1e3 * t_task:8.2f} ms = '
        f'{t_task / t_bwd:.2f} backward passes')
  print(f'naive: K backward passes (vmap over K):  {1e3 * t_naive:8.2f} ms = '
        f'{t_naive / t_bwd:.2f} backward passes')
  print(f'one full measurement:                    {1e3 * t_measure:8.2f} ms = '
        f'{t_measure / t_step:.2f} training steps')
  print(f'chunk of {spc} steps: {chunks[0]:.3f} s without, {chunks[mh.every]:.3f} s with '
        f'measurement every {mh.every} steps: overhead '
        f'{100 * (chunks[mh.every] / chunks[0] - 1):.1f}% of training time')


if __name__ == '__main__':
  main()
