"""The one host loop: every family's population trains, checkpoints, resumes and reports here.

``run(pop, workdir)`` drives a population (a family's members grouped into jitted programs,
``population/vmapped.py``) chunk by chunk. The device runs a chunk of ``steps_per_chunk`` steps in
pieces (one compiled program for any piece length) that each take at most a third of the stop
deadline, then the chunk's evaluation; the host writes the previous chunk's rows while the
next chunk's first piece runs (results are read one chunk late, and there is one read per
chunk however many groups the population has; the host waits for each piece, a round trip of
a few ms per piece of seconds), saves an orbax checkpoint of the whole population every
``checkpoint_every`` chunks and at the end, and resumes from the newest readable checkpoint of
an existing workdir with the same config — bit-identical to an uninterrupted run, since every
batch comes from ``fold_in(data_key, step)``. Without a workdir the same loop runs in memory.

What the loop asks of a population (duck-typed; ``population.vmapped.Population`` is the base):
``config``, ``members`` (one row per member), ``num_steps``, ``steps_per_chunk``,
``checkpoint_every``, ``keep_checkpoints``; ``init()`` (the requested members' state),
``place(state)`` / ``requested(tree)`` (onto the mesh and back), ``unit`` (a piece's steps
are a multiple of it), ``begin(state, step)`` → ``done`` (a chunk's outputs so far),
``piece(state, done, step, offset, count)`` → (state, done) and ``finish(state, done, step)``
→ ``out``, a pytree of device arrays over the requested members,
``evaluate(state)`` (an ``out`` without training: step 0 where ``evaluates_at_start``, and
the summary of a run that had already finished), ``diverged(state)`` [M], ``rows(step, out)``
(metric rows), ``observe(workdir, step, out)`` (extra files or in-memory records),
``drop_after(workdir, step)``, ``postfix(out)``, ``estimated_bytes(state)``,
``summary(out, diverged_M, history, wall_time_s)`` and ``figures(summary, rows, folder)``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import jax
import numpy as np
import tqdm

from rarelearn.runtime import checkpoint, hosts, workdir as wd
from rarelearn.runtime.history import History


@dataclasses.dataclass
class Outcome:
  """What ``run`` returns: the summary (also ``summary.json``), the history of every evaluated
  step (also ``metrics.jsonl``), the final state (the requested members), the last evaluation
  and the population that trained."""
  summary: dict
  history: History
  state: Any
  final: Any  # the last evaluation's ``out`` (host arrays)
  population: Any = None


BOARD_DIR = 'tensorboard'  # in the workdir: TensorBoard event files (``run(tensorboard=True)``)


def board_scalars(row: dict, described: dict):
  """(tag, value) of a metrics row's numbers for TensorBoard, ``<metric>/member_<m>`` (a list
  of per-task values: ``<metric>/task_<t>/member_<m>``); the member's description and the step
  are not metrics."""
  tail = f'member_{row["member"]}'
  for key, value in row.items():
    if key == 'step' or key in described:
      continue
    if isinstance(value, list):
      yield from ((f'{key}/task_{t}/{tail}', v) for t, v in enumerate(value)
                  if isinstance(v, (int, float)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      yield f'{key}/{tail}', value


class _Host:
  """The host's side of a run: the metric rows (appended to ``metrics.jsonl`` with a workdir,
  kept in memory either way), divergence reports and the progress bar. In a multi-process run
  process 0 alone writes and reports (``hosts.primary``)."""

  def __init__(self, pop, workdir: str | None, start: int, progress: bool, tensorboard: bool):
    self.pop, self.reported, self.board = pop, set(), None
    self.workdir = workdir if hosts.primary() else None  # where this process writes
    self.path = self.workdir and os.path.join(workdir, wd.METRICS_FILE)
    # (a run that had not passed step 0 writes its rows of step 0 again)
    self.rows = [r for r in wd.read_metrics(workdir) if r['step'] <= start and start > 0
                 ] if workdir else []
    if self.path:  # rows after the checkpoint are written again
      wd.write_atomic(self.path, ''.join(json.dumps(r) + '\n' for r in self.rows))
    if tensorboard and self.workdir:  # events after ``start`` (an earlier attempt's) are purged
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self.board = tensorboardX.SummaryWriter(os.path.join(workdir, BOARD_DIR), purge_step=start)
    self.bar = tqdm.tqdm(total=pop.num_steps, initial=start, unit='step', dynamic_ncols=True,
                         disable=not (progress and hosts.primary()), file=sys.stderr,
                         desc=pop.description)

  def record(self, pending) -> tuple[Any, bool]:
    """Reads one evaluation (step, out, diverged [M], stop) from the device; returns ``out``
    and whether any process was asked to stop (a signal)."""
    pop = self.pop
    step, out, diverged_M, stop = jax.device_get(pending)
    for m in np.flatnonzero(diverged_M >= 0) if hosts.primary() else ():
      if m not in self.reported:
        self.reported.add(m)
        described = ', '.join(f'{k} {v}' for k, v in pop.members[m].items()
                              if k != 'member')
        print(f'rarelearn: member {m} ({described}) diverged at step {diverged_M[m]}; frozen '
              'at its last finite state', file=sys.stderr)
    pop.observe(self.workdir, step, out)
    rows = pop.rows(step, out)
    self.rows.extend(rows)
    if self.path:
      with open(self.path, 'a') as f:
        f.writelines(json.dumps(r) + '\n' for r in rows)
    for r in rows if self.board is not None else ():
      for tag, value in board_scalars(r, pop.members[r['member']]):
        self.board.add_scalar(tag, value, r['step'])
    self.bar.set_postfix(pop.postfix(out))
    return out, bool(stop)


class Stopped(SystemExit):
  """A run stopped by SIGTERM or SIGINT once its current piece was checkpointed; the process
  exits with status 128 + the signal's number (143 for SIGTERM, 130 for SIGINT)."""


STOP_DEADLINE_S = 30.0  # a preemptible cloud VM's notice


class _Signals:
  """While a run with a workdir is in progress (in the main thread), SIGTERM and SIGINT are
  noted in ``received`` instead of ending the process at once — once ``trained`` is set (the
  first piece of this call has ended). Before that (compiling, the first piece) a signal ends
  the process at once, from a thread that wakes on it whatever the main thread is doing, with
  no checkpoint: nothing was trained since the one the run resumed from (``start``)."""

  def __init__(self, active: bool):
    self.active = active and threading.current_thread() is threading.main_thread()
    self.received, self.previous, self.trained, self.start = None, {}, False, 0

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT) if self.active else ():
      self.previous[sig] = signal.signal(sig, lambda num, _: setattr(self, 'received', num))
      signal.siginterrupt(sig, False)  # system calls restart (collectives' sockets, files)
    if self.active:
      self.wake_r, wake_w = os.pipe()
      os.set_blocking(wake_w, False)
      self.previous_fd = signal.set_wakeup_fd(wake_w)
      threading.Thread(target=self._early_exit, daemon=True).start()
    return self

  def _early_exit(self):
    while (byte := os.read(self.wake_r, 1)) and not self.trained:
      if byte[0] in (signal.SIGTERM, signal.SIGINT) and not self.trained:
        print(f'rarelearn: {signal.Signals(byte[0]).name} before the first piece of training '
              f'ended: stopped without a checkpoint; the same command resumes from step '
              f'{self.start}', file=sys.stderr, flush=True)
        os._exit(128 + byte[0])  # pylint: disable=protected-access
    os.close(self.wake_r)

  def __exit__(self, *_):
    for sig, handler in self.previous.items():
      signal.signal(sig, handler)
    if self.active:
      self.trained = True  # the waking thread ends with its pipe
      os.close(signal.set_wakeup_fd(self.previous_fd))


class _Pieces:
  """How many steps the next piece of a chunk trains: as many as fit in ``target_s`` of wall
  time at the step time measured on the last piece (the first piece of a call, which compiles,
  is one unit), at most 8 times the last piece, a multiple of ``unit`` and at least one. In a
  multi-process run every process trains the same pieces (the smallest proposal)."""

  def __init__(self, target_s: float, unit: int):
    self.target_s, self.unit, self.last = target_s, unit, None

  def next(self, left: int) -> int:
    if self.last is None:
      return min(self.unit, left)
    count, wall = self.last
    fit = int(self.target_s * count / max(wall, 1e-9))
    return max(self.unit, min(fit, 8 * count, left) // self.unit * self.unit)

  def measured(self, count: int, wall_s: float) -> None:
    self.last = (count, wall_s)


def run(pop, workdir: str | None = None, *, overwrite: bool = False, progress: bool = True,
        max_chunks: int | None = None, tensorboard: bool = False,
        stop_deadline_s: float = STOP_DEADLINE_S) -> Outcome | None:
  """Trains ``pop`` to ``pop.num_steps``; returns its ``Outcome``, or None when ``max_chunks``
  (chunks of this call) stopped it first, as an interruption would: calling again resumes.
  A workdir holding another config is refused (``configlib.ConfigError``) unless ``overwrite``.

  Each chunk trains in pieces of at most a third of ``stop_deadline_s`` (measured; a piece is
  at least one step, or one measurement period), its evaluation, rows and checkpoints staying
  those of the config. With a workdir, SIGTERM or SIGINT (a preempted machine, Ctrl-C) ends
  the current piece, checkpoints it (inside an evaluation interval too: the checkpoint then
  carries the interval's partial results), writes the metrics of a chunk it completed and
  raises ``Stopped`` within ``stop_deadline_s``: the same call resumes there, to the same
  files. A signal before the first piece of the call has ended (while compiling) ends the
  process at once without a checkpoint. ``tensorboard``: every metrics row also goes to
  TensorBoard event files in ``<workdir>/tensorboard`` (needs tensorboardX: ``pip install -e
  '.[tensorboard]'``)."""
  if not (np.isfinite(stop_deadline_s) and stop_deadline_s > 0):
    raise ValueError(f'stop_deadline_s={stop_deadline_s} must be a finite number of seconds > 0')
  with _Signals(workdir is not None) as signals:
    outcome = _run(pop, workdir, overwrite, progress, max_chunks, signals, tensorboard,
                   _Pieces(stop_deadline_s / 3, pop.unit))
  if isinstance(outcome, int):  # stopped by a signal after the checkpoint at that step
    name = (signal.Signals(signals.received).name if signals.received
            else 'a signal to another process')
    hosts.say(f'rarelearn: {name}: stopped at step {outcome} with a checkpoint; the same '
              'command resumes from there')
    raise Stopped(128 + (signals.received or signal.SIGTERM))
  return outcome


def _run(pop, workdir, overwrite, progress, max_chunks, signals, tensorboard, pieces
         ) -> Outcome | int | None:
  t0 = time.time()
  mngr, start, state, elapsed = None, 0, pop.init(), 0.0
  if workdir is not None:  # resume from the workdir's newest readable checkpoint, if any
    wd.check(workdir, pop.estimated_bytes(state))
    wd.prepare(pop.config, workdir, overwrite)
    mngr, start, state, meta = wd.resume(workdir, pop.keep_checkpoints, state)
    if hosts.primary():
      pop.drop_after(workdir, start)
    elapsed = float(meta.get('elapsed_s', 0.0))
  state, spc, signals.start = pop.place(state), pop.steps_per_chunk, start
  for line in pop.banner if progress else ():
    hosts.say(f'rarelearn: {line}')
  host, last = _Host(pop, workdir, start, progress, tensorboard), None
  first = start - start % spc  # the chunk the run resumes in
  if start == 0 and pop.evaluates_at_start:  # finish's program: it compiles here
    last, _ = host.record(hosts.gathered((0, pop.evaluate(state), pop.diverged(state), False)))
  elif start < pop.num_steps:  # the evaluation compiles now, not when a signal waits on it
    pop.finish(state, pop.begin(state, first), first)
  pending, chunks_run, end, stopping = None, 0, start, False
  for step in range(first, pop.num_steps, spc):
    if max_chunks is not None and chunks_run >= max_chunks:
      break
    done = pop.begin(state, step)
    if end > step:  # resumed inside this chunk: what its first steps produced
      done = checkpoint.restore_partial(mngr, end, done)
    while end < step + spc and not stopping:
      count, t = pieces.next(step + spc - end), time.time()
      state, done = pop.piece(state, done, step, end - step, count)
      if pending is not None:  # the previous chunk's results, read while this piece runs
        last, _ = host.record(pending)
        pending = None
      jax.block_until_ready(done)
      # every process sizes its pieces from the same (the slowest) wall time and stops after
      # the same piece
      stop, wall_ms = hosts.agreed_max([signals.received is not None,
                                        int(1000 * (time.time() - t)) + 1])
      pieces.measured(count, wall_ms / 1000)
      end, signals.trained, stopping = end + count, True, bool(stop)
      host.bar.update(count)
    chunks_run += 1
    if end == step + spc:  # the chunk's evaluation, read while the next chunk's first piece runs
      pending = hosts.gathered((end, pop.finish(state, done, step), pop.diverged(state), False))
    if mngr is not None and (end == pop.num_steps or (end // spc) % pop.checkpoint_every == 0
                             or stopping):
      if pending is not None:  # a checkpoint's rows are written before it
        last, _ = host.record(pending)
        pending = None
      checkpoint.save(mngr, end, pop.requested(state),
                      {'step': end, 'elapsed_s': elapsed + time.time() - t0,
                       'members': pop.members}, None if end % spc == 0 else done)
    if stopping:
      break
  if pending is not None:
    last, _ = host.record(pending)
  host.bar.close()
  if host.board is not None:
    host.board.close()
  if mngr is not None:
    mngr.wait_until_finished()
    mngr.close()
  if end < pop.num_steps:
    return end if stopping else None
  if chunks_run == 0:  # the workdir already held the finished run
    last = hosts.fetch(pop.evaluate(state))
  # the summary (written to summary.json, with the figures, where there is a workdir)
  diverged_M = hosts.fetch(pop.diverged(state))
  state, history = pop.requested(state), History(host.rows, pop.members)
  wall = elapsed + time.time() - t0
  summary = dict(pop.summary(last, diverged_M, history, wall), wall_time_s=round(wall, 2),
                 steps_per_s=round((pop.num_steps - start) / max(time.time() - t0, 1e-9), 3),
                 versions=wd.provenance(), devices=[str(d) for d in jax.devices()],
                 processes=jax.process_count())
  if host.workdir is not None:
    wd.write_atomic(os.path.join(workdir, wd.SUMMARY_FILE), json.dumps(summary, indent=1))
    pop.figures(summary, host.rows, os.path.join(workdir, 'figures'))
  return Outcome(summary, history, state, last, pop)
