"""The member axis: members = widths × seeds, one leading axis M, one compiled program.

This is the only module (with ``mlp_sweep.py``) that knows about more than one model. It vmaps the
single-member functions of ``mlp_training.py`` over M and jits them once. Members share the data key
and the task spec (unbatched under the vmap), so each step's batch is drawn once and seen by all —
unless each member carries its own task schedule (``make_chunk(..., mixture_axis=0)``).

Shape letters (rarelearn/__init__.py): M members, K tasks.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.population import layout as layout_lib
from rarelearn.population import lm_training
from rarelearn.population import measure_step
from rarelearn.population import mlp_training
from rarelearn.population import sharding


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

  def hparams(self) -> mlp_training.MemberHparams:
    return mlp_training.MemberHparams(width=jnp.asarray(self.widths, jnp.int32),
                                      lr=jnp.asarray(self.lrs, jnp.float32))

  def rows(self) -> list[dict]:
    return [{'member': i, 'width': w, 'seed': s, **setting}
            for i, (w, s, setting) in enumerate(zip(self.widths, self.seeds, self.settings))]


class Population:
  """A family's members as the host loop (``loop.run``) drives them: the defaults of what the
  loop asks (see ``loop.py``); a family's population overrides ``init``, ``evaluate``,
  ``begin``, ``piece``, ``finish``, ``rows``, ``summary`` and ``result`` (the one line
  ``rarelearn.main`` prints of a summary) and, where it has them, the others."""
  # the loop evaluates (and writes rows of) step 0 too, with ``evaluate`` running ``finish``'s
  # program (so it is compiled before training, as the loop needs)
  evaluates_at_start = False
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

  def chunk(self, state, step: int):
    """The chunk from ``step`` in one piece: (state, out)."""
    done = self.begin(state, step)
    state, done = self.piece(state, done, step, 0, self.steps_per_chunk)
    return state, self.finish(state, done, step)

  # A chunk in pieces (``loop.py``): ``begin`` → ``done`` (its outputs so far, all zeros),
  # ``piece`` trains ``count`` of its steps from ``offset`` (multiples of ``unit``) and
  # ``finish`` evaluates its end; a chunk's ``out`` does not depend on where it was cut.
  unit = 1

  def begin(self, state, step: int):
    raise NotImplementedError

  def piece(self, state, done, step: int, offset: int, count: int):
    raise NotImplementedError

  def finish(self, state, done, step: int):
    raise NotImplementedError

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


def init(init_key: jax.Array, members: Members, hp: mlp_training.Hyper) -> mlp_training.TrainState:
  """All members' initial states; a member's init key depends on its seed only, so members of
  one seed are nested (a narrower member's units are the first units of a wider one)."""
  keys = jax.vmap(lambda s: jax.random.fold_in(init_key, s))(jnp.asarray(members.seeds))
  init_fn = jax.vmap(lambda k, w: mlp_training.init_state(k, w, hp, members.max_width))
  return jax.jit(init_fn)(keys, jnp.asarray(members.widths, jnp.int32))


def make_chunk(hp: mlp_training.Hyper, mh: measure_step.MeasureHyper | None = None,
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
  ``make_pieces`` runs the same chunk in pieces.
  """
  train_part, finish = _chunk_parts(hp, mh, mixture_axis, widths, layout, bucket_factor,
                                    state_sharding)

  def batched(state, data_key, start_step, member, spec, eval_batch, measure_key, mix=None):
    state, done = train_part(state, data_key, start_step, member, spec, measure_key, mix)
    return (state, *finish(state, done, member, spec, eval_batch))
  return jax.jit(batched, donate_argnums=(0,))


class Pieces(NamedTuple):
  """A chunk in pieces (``loop.py``): ``blank(state)`` → the chunk's outputs so far (zeros);
  ``piece(state, done, data_key, start_step, offset, count, member, spec, measure_key, mix)``
  → (state, done) trains the ``count`` units (steps, or measurement periods) from ``offset``
  on (both traced: one compile for every piece; state and ``done`` donated);
  ``finish(state, done, member, spec, eval_batch)`` → (train_loss_M, task_loss_MxK, metrics)
  as ``make_chunk`` returns them. ``unit``: steps per unit."""
  blank: Callable
  piece: Callable
  finish: Callable
  unit: int


def make_pieces(hp: mlp_training.Hyper, mh: measure_step.MeasureHyper | None = None,
                mixture_axis: int | None = None, widths=None, layout: str = 'padded',
                bucket_factor: float = 2.0, state_sharding=None) -> Pieces:
  """``make_chunk``'s chunk as ``Pieces``: every step (and measurement) computes what the
  whole chunk's does, and a piece's outputs land where the whole chunk's would."""
  train_part, finish = _chunk_parts(hp, mh, mixture_axis, widths, layout, bucket_factor,
                                    state_sharding)
  every = mh.every if mh is not None else 0

  def blank(state, *args):
    shapes = jax.eval_shape(lambda s: train_part(s, *args)[1], state)
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)

  def piece(state, done, data_key, start_step, offset, count, member, spec, measure_key,
            mix=None):
    return train_part(state, data_key, start_step, member, spec, measure_key, mix,
                      (done, offset, count))
  return Pieces(jax.jit(blank), jax.jit(piece, donate_argnums=(0, 1)), jax.jit(finish),
                every or 1)


def _chunk_parts(hp, mh, mixture_axis, widths, layout, bucket_factor, state_sharding):
  """(train_part, finish) of ``make_chunk``: train_part(state, data_key, start_step, member,
  spec, measure_key, mix, into=None) → (state, done): the chunk's steps (``into``: some of
  them, ``mlp_training.run_steps``), ``done`` their outputs — each step's loss [M, steps], or per
  measurement period its mean loss [P, M] and measurements [P, M, …]; finish(state, done,
  member, spec, eval_batch) → (train_loss_M, task_loss_MxK, metrics)."""
  every = mh.every if mh is not None else 0
  args = (layout, hp, mixture_axis, widths, bucket_factor, state_sharding is not None)
  trainer, evaluate = layout_lib.trainer(*args), layout_lib.evaluator(*args)

  def train_part(state, data_key, start_step, member, spec, measure_key, mix=None, into=None):
    spec_axes, mix_axis = layout_lib.member_axes(spec, mixture_axis)
    if every == 0:
      state, done = trainer(state, data_key, start_step, member, spec, mix, hp.steps_per_chunk,
                            into)
    else:
      def measure(state, t, member, spec, mix):
        return measure_step.measure(state, mlp_training.batch_at(data_key, t, spec, hp, mix), t,
                                    member, spec, measure_key, hp, mh)
      measure_all = jax.vmap(measure, in_axes=(0, None, 0, spec_axes, mix_axis))

      def period(state, p):
        first = start_step + every * p
        state, losses = trainer(state, data_key, first, member, spec, mix, every)
        return state, (jnp.mean(losses, axis=1),
                       measure_all(state, first + every, member, spec, mix))
      state, done = mlp_training.run_steps(period, state, hp.steps_per_chunk // every, into)
    if state_sharding is not None:
      state = jax.lax.with_sharding_constraint(state, state_sharding)
    return state, done

  def finish(state, done, member, spec, eval_batch):
    if every == 0:
      loss, metrics = jnp.mean(done, axis=1), {}
    else:
      losses, metrics = done
      loss = jnp.mean(losses, axis=0)
      metrics = jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), metrics)  # [P, M, …] → [M, P, …]
    return loss, evaluate(state, member, spec, eval_batch), metrics
  return train_part, finish


def make_evaluate(hp: mlp_training.Hyper) -> Callable:
  """jit(vmap(task_losses)) at the padded width: (state, member_hparams, spec, eval_batch) ->
  task_loss_MxK."""
  return jax.jit(layout_lib.evaluator('padded', hp, None, None))


def select(tree, index: int):
  """One member's slice of a population pytree (host-side convenience for tests/analysis)."""
  return jax.tree.map(lambda a: np.asarray(a[index]), tree)


# ---------------------------------------------------------------------------------------------
# The transformer track (rarelearn/population/lm_training.py): the same idea — one vmap over
# members, jitted once.

def init_lm(init_key: jax.Array, seeds, members: lm_training.Member, hp: lm_training.Hyper,
            shardings=None) -> lm_training.State:
  """Initial states of members [M] (a member's init key depends on its seed only), created
  with ``shardings`` (of the state) when given."""
  keys = jax.vmap(lambda s: jax.random.fold_in(init_key, s))(jnp.asarray(seeds))
  if shardings is None:
    return _lm_init(hp)(keys, members)
  return jax.jit(_lm_init_fn(hp), out_shardings=shardings)(keys, members)


# The transformer track's programs are cached per Hyper, so that a second run in one process
# (a resumed run, an inspection, a test) reuses the compiled executables.
@functools.lru_cache(maxsize=None)
def _lm_init(hp: lm_training.Hyper) -> Callable:
  return jax.jit(_lm_init_fn(hp))


def _lm_init_fn(hp: lm_training.Hyper) -> Callable:
  return jax.vmap(lambda k, m: lm_training.init_state(k, m, hp))


@functools.lru_cache(maxsize=None)
def make_lm_chunk(hp: lm_training.Hyper) -> Callable:
  """jit(vmap(lm_training.train_chunk + lm_training.evaluate)); the state is donated.

  (state, data_key, start_step, members, data, eval_background, background=None) → (state,
  train_loss_M, probes [M, steps, len(lm_training.PROBES)], ``lm_training.evaluate``'s dict of [M]).
  The background batch depends on the step only (or is given: ``background`` [steps, B, S + 1]),
  so it is drawn once for all members. ``make_lm_pieces`` runs the same chunk in pieces.
  """
  train_part, finish = _lm_parts(hp)

  def batched(state, data_key, start, member, data, eval_background, background=None):
    state, done = train_part(state, data_key, start, member, data, background)
    return (state, *finish(state, done, member, data, eval_background))
  return jax.jit(batched, donate_argnums=(0,))


@functools.lru_cache(maxsize=None)
def make_lm_pieces(hp: lm_training.Hyper) -> Pieces:
  """``make_lm_chunk``'s chunk as ``Pieces`` (units of one step): ``piece(state, done,
  data_key, start, offset, count, members, data, background=None)``, ``finish(state, done,
  members, data, eval_background)`` → (train_loss_M, probes, ``lm_training.evaluate``'s dict)."""
  train_part, finish = _lm_parts(hp)

  def blank(state):
    m, s = state.diverged_at.shape[0], hp.steps_per_chunk
    return jnp.zeros((m, s), jnp.float32), jnp.zeros((m, s, len(lm_training.PROBES)), jnp.float32)

  def piece(state, done, data_key, start, offset, count, member, data, background=None):
    return train_part(state, data_key, start, member, data, background, (done, offset, count))
  return Pieces(jax.jit(blank), jax.jit(piece, donate_argnums=(0, 1)), jax.jit(finish), 1)


def _lm_parts(hp: lm_training.Hyper):
  """(train_part, finish) of ``make_lm_chunk``: train_part(state, data_key, start, members,
  data, background=None, into=None) → (state, done): the chunk's steps (``into``: some of
  them), ``done`` each step's (loss [M, steps], probes [M, steps, len(lm_training.PROBES)]);
  finish(state, done, members, data, eval_background) → (train_loss_M, probes, evaluation)."""
  spmd = sharding.MEMBERS if hp.batch_sharding else None

  def train_part(state, data_key, start, member, data, background=None, into=None):
    def one(state, member, *done):  # one member; the other arguments are shared
      return lm_training.train_steps(state, data_key, start, member, data, hp, background,
                                     into and (done, *into[1:]))
    return jax.vmap(one, spmd_axis_name=spmd)(state, member, *(into[0] if into else ()))

  def finish(state, done, member, data, eval_background):
    losses, probes = done
    evaluation = jax.vmap(lambda p, m: lm_training.evaluate(p, m, data, eval_background, hp),
                          spmd_axis_name=spmd)(state.params, member)
    return jnp.mean(losses, axis=1), probes, evaluation
  return train_part, finish
