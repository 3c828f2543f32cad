"""The member axis: members = widths × seeds, one leading axis M, one compiled program.

This is the only module (with ``run.py``) that knows about more than one model. It vmaps the
single-member functions of ``train.py`` over M and jits them once. Members share the data key and
the task spec (unbatched under the vmap), so each step's batch is drawn once and seen by all —
unless each member carries its own task schedule (``make_chunk(..., mixture_axis=0)``).

Shape letters (rarelearn/__init__.py): M members, K tasks.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn import layout as layout_lib
from rarelearn import lm
from rarelearn import sharding
from rarelearn import train
from rarelearn.measure import step as measure_step


@dataclasses.dataclass(frozen=True)
class Members:
  """Host-side description of the member axis: width-major, then swept settings, then seeds
  (all seeds of a width and setting together). ``settings[m]`` holds member m's swept scalars
  (e.g. {'rare_frequency': 0.02}; {} when nothing is swept)."""
  widths: tuple[int, ...]
  seeds: tuple[int, ...]
  lrs: tuple[float, ...]
  settings: tuple[dict, ...]

  @property
  def size(self) -> int:
    return len(self.widths)

  @property
  def max_width(self) -> int:
    return max(self.widths)

  def hparams(self) -> train.MemberHparams:
    return train.MemberHparams(width=jnp.asarray(self.widths, jnp.int32),
                               lr=jnp.asarray(self.lrs, jnp.float32))

  def rows(self) -> list[dict]:
    return [{'index': i, 'width': w, 'seed': s, **setting}
            for i, (w, s, setting) in enumerate(zip(self.widths, self.seeds, self.settings))]


class Population:
  """A family's members as the host loop (``loop.run``) drives them: the defaults of what the
  loop asks (see ``loop.py``); a family's population overrides ``init``, ``chunk``,
  ``evaluate``, ``rows``, ``summary`` and ``result`` (the one line ``rarelearn.main`` prints of
  a summary) and, where it has them, the others."""
  evaluates_at_start = False  # the loop evaluates (and writes rows of) step 0 too
  num_tasks = 1
  placement = None  # sharding.Placement over the mesh; None: one device
  banner = ()  # lines printed once the workdir is ready (with progress output)

  def __init__(self, config, members: list[dict]):
    self.config, self.members = config, members
    t = config.train
    self.num_steps, self.steps_per_chunk = int(t.num_steps), int(t.steps_per_chunk)
    self.checkpoint_every = int(t.checkpoint_every_chunks)
    self.keep_checkpoints = int(t.keep_checkpoints)
    self.description = f'{len(members)} members'

  def place(self, state):
    return state if self.placement is None else self.placement.state(state)

  def requested(self, tree):
    return tree if self.placement is None else self.placement.requested(tree)

  def diverged(self, state) -> jax.Array:
    """[M] each member's ``diverged_at`` (a copy: the state is donated to the next chunk)."""
    return jnp.array(self.requested(state.diverged_at), copy=True)

  def observe(self, workdir, step: int, out) -> None:
    """Extra outputs of one evaluation (files beside the metrics, in-memory records)."""

  def drop_after(self, workdir: str, step: int) -> None:
    """Removes extra files written after ``step`` (a resumed run writes them again)."""

  def postfix(self, out) -> dict:
    return {'loss': f'{float(np.mean(out["loss"])):.4f}'} if 'loss' in out else {}

  def estimated_bytes(self, state) -> int:
    """A generous estimate of what a run writes: the kept checkpoints (plus one being
    written), ``written_bytes`` and the figures."""
    return int(1.2 * ((self.keep_checkpoints + 1) * tree_bytes(state) + self.written_bytes())
               + 2 * 2**20)

  def written_bytes(self) -> int:
    """The metrics rows (about 600 bytes each) and any files beside them."""
    return 600 * (self.num_steps // self.steps_per_chunk + 1) * len(self.members)

  figure_files: dict[str, Callable] = {}  # file name → plot(summary, rows, path)

  def figures(self, summary: dict, rows: list[dict], folder: str) -> list[str]:
    """``figure_files`` of a summary and the metric rows up to it, written to ``folder`` (the
    run's ``figures/``, or ``inspect/<step>/``); their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, name) for name in self.figure_files]
    for path, plot in zip(paths, self.figure_files.values()):
      plot(summary, rows, path)
    return paths

  def results(self, summary: dict) -> list[dict]:
    """One dict per member: its row and its final numbers (``rarelearn.inspect``)."""
    return [dict(row, **{k: v[m] for k, v in summary['final'].items()})
            for m, row in enumerate(summary['members'])]

  def table(self, results: list[dict], members: list[int], tasks: list[int]) -> str:
    """The members' results as the text table ``rarelearn.inspect`` prints."""
    raise NotImplementedError


def tree_bytes(tree) -> int:
  """Bytes of a pytree's arrays (or of their shapes)."""
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def make_members(widths, num_seeds: int, lr: float,
                 settings: Sequence[dict] = ({},)) -> Members:
  """widths × settings × seeds; a setting's 'lr' replaces ``lr`` for its members."""
  grid = [(int(w), dict(st), s) for w in widths for st in settings for s in range(num_seeds)]
  return Members(widths=tuple(w for w, _, _ in grid), seeds=tuple(s for _, _, s in grid),
                 lrs=tuple(float(st.get('lr', lr)) for _, st, _ in grid),
                 settings=tuple(st for _, st, _ in grid))


def init(init_key: jax.Array, members: Members, hp: train.Hyper) -> train.TrainState:
  """All members' initial states; a member's init key depends on its seed only, so members of
  one seed are nested (a narrower member's units are the first units of a wider one)."""
  keys = jax.vmap(lambda s: jax.random.fold_in(init_key, s))(jnp.asarray(members.seeds))
  init_fn = jax.vmap(lambda k, w: train.init_state(k, w, hp, members.max_width))
  return jax.jit(init_fn)(keys, jnp.asarray(members.widths, jnp.int32))


def make_chunk(hp: train.Hyper, mh: measure_step.MeasureHyper | None = None,
               mixture_axis: int | None = None, widths=None, layout: str = 'padded',
               bucket_factor: float = 2.0, state_sharding=None) -> Callable:
  """jit(train chunk + task_losses [+ measurements]) over members; the state is donated.

  Signature: (state, data_key, start_step, member_hparams, spec, eval_batch, measure_key,
  mix=None) -> (state, train_loss_M, task_loss_MxK, metrics). ``start_step`` is traced: one
  compile per run. ``mix`` is the task schedule (``tasks.mixture.Mixture``; None: i.i.d. from
  the spec's π): shared by all members (``mixture_axis`` None, one batch per step for everyone)
  or one per member along a leading axis (``mixture_axis`` 0, each member its own batches,
  and the spec's ``log_freqs_K`` [M, K] each member's own π: the probe gradients of the
  measurements weight tasks by it). ``layout`` (with the members' ``widths``) chooses how the
  members are trained — ``layout.py``; the state in and out is the padded one whatever the
  layout; ``state_sharding`` (``sharding.Placement``) keeps the state split over the mesh from
  call to call. With measurement (``mh.every`` > 0) the chunk runs as periods of ``mh.every``
  steps, each followed by ``measure_step.measure`` of the state it reached; ``metrics`` holds
  arrays [M, P, ...] for the P = steps_per_chunk / every measurements (empty dict without).
  """
  every = mh.every if mh is not None else 0
  args = (layout, hp, mixture_axis, widths, bucket_factor, state_sharding is not None)
  trainer, evaluate = layout_lib.trainer(*args), layout_lib.evaluator(*args)

  def batched(state, data_key, start_step, member, spec, eval_batch, measure_key, mix=None):
    spec_axes, mix_axis = layout_lib.member_axes(spec, mixture_axis)
    if every == 0:
      state, loss = trainer(state, data_key, start_step, member, spec, mix, hp.steps_per_chunk)
      metrics = {}
    else:
      def measure(state, t, member, spec, mix):
        return measure_step.measure(state, train.batch_at(data_key, t, spec, hp, mix), t,
                                    member, spec, measure_key, hp, mh)
      measure_all = jax.vmap(measure, in_axes=(0, None, 0, spec_axes, mix_axis))

      def period(state, first):
        state, loss = trainer(state, data_key, first, member, spec, mix, every)
        return state, (loss, measure_all(state, first + every, member, spec, mix))
      firsts = start_step + every * jnp.arange(hp.steps_per_chunk // every, dtype=jnp.int32)
      state, (losses, metrics) = jax.lax.scan(period, state, firsts)
      loss = jnp.mean(losses, axis=0)
      metrics = jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), metrics)  # [P, M, …] → [M, P, …]
    if state_sharding is not None:
      state = jax.lax.with_sharding_constraint(state, state_sharding)
    task_loss = evaluate(state, member, spec, eval_batch)
    return state, loss, task_loss, metrics
  return jax.jit(batched, donate_argnums=(0,))


def make_evaluate(hp: train.Hyper) -> Callable:
  """jit(vmap(task_losses)) at the padded width: (state, member_hparams, spec, eval_batch) ->
  task_loss_MxK."""
  return jax.jit(layout_lib.evaluator('padded', hp, None, None))


def select(tree, index: int):
  """One member's slice of a population pytree (host-side convenience for tests/analysis)."""
  return jax.tree.map(lambda a: np.asarray(a[index]), tree)


# ---------------------------------------------------------------------------------------------
# The transformer track (rarelearn/lm.py): the same idea — one vmap over members, jitted once.

def init_lm(init_key: jax.Array, seeds, members: lm.Member, hp: lm.Hyper,
            shardings=None) -> lm.State:
  """Initial states of members [M] (a member's init key depends on its seed only), created
  with ``shardings`` (of the state) when given."""
  keys = jax.vmap(lambda s: jax.random.fold_in(init_key, s))(jnp.asarray(seeds))
  if shardings is None:
    return _lm_init(hp)(keys, members)
  return jax.jit(_lm_init_fn(hp), out_shardings=shardings)(keys, members)


# The transformer track's programs are cached per Hyper, so that a second run in one process
# (a resumed run, an inspection, a test) reuses the compiled executables.
@functools.lru_cache(maxsize=None)
def _lm_init(hp: lm.Hyper) -> Callable:
  return jax.jit(_lm_init_fn(hp))


def _lm_init_fn(hp: lm.Hyper) -> Callable:
  return jax.vmap(lambda k, m: lm.init_state(k, m, hp))


@functools.lru_cache(maxsize=None)
def make_lm_evaluate(hp: lm.Hyper) -> Callable:
  """jit(vmap(lm.evaluate)): (params, members, data, eval_background) → dict of [M]."""
  return jax.jit(jax.vmap(lambda p, m, data, bg: lm.evaluate(p, m, data, bg, hp),
                          in_axes=(0, 0, None, None)))


@functools.lru_cache(maxsize=None)
def make_lm_chunk(hp: lm.Hyper) -> Callable:
  """jit(vmap(lm.train_chunk + lm.evaluate)); the state is donated.

  (state, data_key, start_step, members, data, eval_background, background=None) → (state,
  train_loss_M, probes [M, steps, len(lm.PROBES)], ``lm.evaluate``'s dict of [M]). The
  background batch depends on the step only (or is given: ``background`` [steps, B, S + 1]),
  so it is drawn once for all members.
  """
  def batched(state, data_key, start, member, data, eval_background, background=None):
    def chunk(state, member):  # one member; the other arguments are shared
      state, loss, probes = lm.train_chunk(state, data_key, start, member, data, hp, background)
      return state, loss, probes, lm.evaluate(state.params, member, data, eval_background, hp)
    spmd = sharding.MEMBERS if hp.batch_sharding else None
    return jax.vmap(chunk, spmd_axis_name=spmd)(state, member)
  return jax.jit(batched, donate_argnums=(0,))
