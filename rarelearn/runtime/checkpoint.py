"""Orbax checkpoints of the population state (the only module that imports orbax).

Layout: ``<workdir>/checkpoints/<step>/{state,meta}``: ``state`` is the population's TrainState
(every leaf with the leading member axis M), ``meta`` a JSON dict (step, members, versions) that
a user can read without JAX; a checkpoint taken inside an evaluation interval (a signal stopped
the run there, ``loop.py``) also holds ``partial``: what the interval's steps so far produced
for its evaluation (their training losses and measurements). Saves are atomic (orbax writes to a
temporary directory and renames),
so an interrupted save never shadows the previous checkpoint.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


def directory(workdir: str, step: int | None = None) -> str:
  """``<workdir>/checkpoints`` (or one step's folder in it), absolute."""
  path = os.path.abspath(os.path.join(workdir, 'checkpoints'))
  return path if step is None else os.path.join(path, str(step))


def manager(workdir: str, keep: int, create: bool = True) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      directory(workdir), options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=create),
      item_names=('state', 'meta', 'partial'))


def save(mngr: ocp.CheckpointManager, step: int, state: Any, meta: dict,
         partial: Any = None) -> None:
  items = dict(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
  if partial is not None:
    items['partial'] = ocp.args.StandardSave({'partial': partial})  # a tree, not an array
  mngr.save(step, args=ocp.args.Composite(**items))


def restore_partial(mngr: ocp.CheckpointManager, step: int, like: Any) -> Any:
  """The ``partial`` item of checkpoint ``step``, shaped like ``like``."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {'partial': like})
  out = mngr.restore(step, args=ocp.args.Composite(
      partial=ocp.args.StandardRestore(abstract)))['partial']['partial']
  # several processes: orbax restores each value whole on one local device; as host values the
  # next piece's program takes them (like the replicated zeros they stand for)
  return out if jax.process_count() == 1 else jax.tree.map(np.asarray, out)


def restore(mngr: ocp.CheckpointManager, step: int, like: Any) -> tuple[Any, dict]:
  """Restores ``step`` into the structure, shapes and dtypes of ``like``."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  out = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                   meta=ocp.args.JsonRestore()))
  return out['state'], out['meta']


def restore_step(workdir: str, keep: int, like: Any, step: int | None = None
                 ) -> tuple[int, list[int], Any, dict]:
  """(step, every saved step, state, meta) of checkpoint ``step`` (default: the newest) of a
  workdir; FileNotFoundError if there is none."""
  mngr = manager(workdir, keep, create=False)
  try:
    steps = sorted(int(s) for s in mngr.all_steps())
    if not steps:
      raise FileNotFoundError(f'{workdir} has no checkpoint yet')
    step = steps[-1] if step is None else step
    if step not in steps:
      raise FileNotFoundError(f'{workdir} has no checkpoint at step {step} (saved: '
                              f'{", ".join(map(str, steps))})')
    state, meta = restore(mngr, step, like)
  finally:
    mngr.close()
  return step, steps, state, meta
