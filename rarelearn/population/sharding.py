"""The member axis over many devices, and big members over a second mesh axis.

A mesh of all devices with two axes: ``members`` (the population's leading axis is split over
it) and ``model`` (each member's hidden units — and with them its parameters and optimizer
state — are split over it, FSDP-style, for members too large for one device; size
``population.model_shards``, default 1). jit's partitioner does the rest: the program is the
same as on one device, and so are the numbers (tests/test_sharding.py).

A member count that is not a multiple of the ``members`` axis is padded with copies of the last
member, which are trained like the others and dropped from every output, so files and metrics
hold exactly the requested members.

Several processes (TPU pods, several GPU hosts: ``python -m rarelearn.main --distributed``,
``hosts.py``): the mesh spans every process's devices.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from rarelearn.population import mlp_training
from rarelearn.runtime import hosts

MEMBERS, MODEL = 'members', 'model'


def make_mesh(model_shards: int = 1) -> Mesh:
  devices = jax.devices()
  if model_shards < 1 or len(devices) % model_shards:
    raise ValueError(f'model_shards={model_shards} must divide the {len(devices)} devices')
  grid = np.asarray(devices).reshape(len(devices) // model_shards, model_shards)
  return Mesh(grid, (MEMBERS, MODEL), axis_types=(AxisType.Auto, AxisType.Auto))


def pad_members(tree, count: int):
  """Leading member axis extended to ``count`` with copies of the last member."""
  def pad(a):
    a = jnp.asarray(a)
    extra = count - a.shape[0]
    return a if extra == 0 else jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])
  return jax.tree.map(pad, tree)


def width_axes(single_shapes, wider_shapes):
  """Per leaf (no member axis), the axes that grow with the padded width W: found by comparing
  the state's shapes at widths W and W + 1, so no layer has to be named."""
  return jax.tree.map(lambda a, b: tuple(i for i, (x, y) in enumerate(zip(a.shape, b.shape))
                                         if x != y), single_shapes, wider_shapes)


def _split_leaf(mesh: Mesh, shape, axes) -> NamedSharding:
  """A state leaf [M, …]: members over ``members``; the first of ``axes`` (of one member's
  shape) that the ``model`` axis divides over ``model``, when that axis has more than one
  device."""
  k, parts = mesh.shape[MODEL], [None] * len(shape.shape)
  usable = [i for i in axes if k > 1 and shape.shape[i] % k == 0]
  if usable:
    parts[usable[0]] = MODEL
  return NamedSharding(mesh, P(MEMBERS, *parts))


def state_shardings(mesh: Mesh, single_shapes, wider_shapes):
  """NamedSharding per state leaf [M, …]: members over ``members``; the first width axis over
  ``model`` when that axis has more than one device and divides it."""
  return jax.tree.map(lambda shape, axes: _split_leaf(mesh, shape, axes), single_shapes,
                      width_axes(single_shapes, wider_shapes))


def member_sharding(mesh: Mesh) -> NamedSharding:
  """For any array whose leading axis is the member axis (hyperparameters, schedules)."""
  return NamedSharding(mesh, P(MEMBERS))


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where a run's population lives: ``mesh`` None keeps everything on the default device."""
  num_members: int
  mesh: Mesh | None = None
  shardings: Any = None  # of the state [M, …]: a tree of them, or one for every leaf

  @property
  def count(self) -> int:
    """Members actually trained: the requested ones padded to a multiple of ``members``."""
    n = self.mesh.shape[MEMBERS] if self.mesh else 1
    return math.ceil(self.num_members / n) * n

  def widths(self, widths) -> tuple[int, ...]:
    return tuple(widths) + (widths[-1],) * (self.count - self.num_members)

  def state(self, state):
    """Requested members → padded and placed on the mesh (without one: the default device)."""
    if self.mesh is None:
      return jax.device_put(state)
    if hosts.many():  # arrays on this process's devices (restored, say) go by the host
      state = jax.tree.map(lambda a: a if isinstance(a, jax.Array) and not a.is_fully_addressable
                           else np.asarray(a), state)
    return jax.device_put(pad_members(state, self.count), self.shardings)

  def per_member(self, tree):
    """Per-member inputs (hyperparameters, schedules) → padded and split over ``members``."""
    if self.mesh is None or tree is None:
      return tree
    return jax.device_put(pad_members(tree, self.count), member_sharding(self.mesh))

  @property
  def batch_sharding(self) -> NamedSharding | None:
    """A member's batch split over ``model`` (None without a model axis)."""
    return NamedSharding(self.mesh, P(MODEL)) if self.mesh and self.mesh.shape[MODEL] > 1 else None

  def requested(self, tree):
    """Outputs with a leading member axis → the requested members only (one program for the
    whole tree: eager slices of arrays spread over several processes each cost a round of
    collectives); host arrays (an offloaded state) stay on the host."""
    n = self.num_members
    if self.count == n:
      return tree
    if all(isinstance(a, np.ndarray) for a in jax.tree.leaves(tree)):
      return jax.tree.map(lambda a: a[:n], tree)
    return _first(n)(tree)


@functools.cache
def _first(n: int):
  return jax.jit(lambda tree: jax.tree.map(lambda a: a[:n], tree))


def member_placement(num_members: int, model_shards: int = 1, single_shapes=None) -> Placement:
  """Members over every device (a state whose leaves all lead with the member axis, e.g. a
  ladder rung's); ``model_shards`` > 1 also splits each leaf of a member (``single_shapes``)
  over ``model`` along its largest axis that divides (FSDP), and its batch (``batch_sharding``)."""
  if jax.device_count() == 1 and model_shards == 1:
    return Placement(num_members)
  mesh = make_mesh(model_shards)
  if model_shards == 1:
    return Placement(num_members, mesh, member_sharding(mesh))
  largest_first = lambda leaf: sorted(range(len(leaf.shape)), key=lambda i: -leaf.shape[i])
  return Placement(num_members, mesh, jax.tree.map(
      lambda leaf: _split_leaf(mesh, leaf, largest_first(leaf)), single_shapes))


def placement(num_members: int, hp: mlp_training.Hyper, max_width: int, model_shards: int = 1
              ) -> Placement:
  """The mesh over all devices when there is more than one or ``model_shards`` > 1; else the
  single default device. ``max_width``: the padded width."""
  if jax.device_count() == 1 and model_shards == 1:
    return Placement(num_members)
  mesh = make_mesh(model_shards)
  shapes = [jax.eval_shape(lambda w=w: mlp_training.init_state(jax.random.key(0), 1, hp, w))
            for w in (max_width, max_width + 1)]
  return Placement(num_members, mesh, state_shardings(mesh, *shapes))
