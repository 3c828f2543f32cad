"""The host loop: chunks of jitted steps, metrics, checkpoints, progress, summary and figures.

``train_and_evaluate(config, workdir)`` is the whole program behind ``rarelearn.main``. The
device runs ``train.steps_per_chunk`` steps per call; the host writes the previous chunk's
metrics while the next chunk runs (one chunk late, so the device never waits on the host), saves
an orbax checkpoint every ``train.checkpoint_every_chunks`` chunks and at the end, and resumes
from the latest checkpoint of an existing workdir with the same config.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from rarelearn import checkpoint, configlib, layout, plots, population, sharding, theory, train
from rarelearn.tasks import block_regression as br

CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = 'config.json', 'metrics.jsonl', 'summary.json'
MEASURE_DIR = 'measurements'  # <step>.npz per chunk: the [K, K] and [W, K] measurement arrays
_MATRIX_KEYS = ('grad_cos', 'grad_cos_probe', 'unit_share')


def prepare_workdir(config, workdir: str, overwrite: bool) -> None:
  """Creates the workdir, or checks that an existing one holds the same config.

  A different config is refused (ConfigError) unless ``overwrite``, which empties the workdir.
  """
  wanted = json.loads(config.to_json_best_effort(sort_keys=True))
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as f:
      existing = json.load(f)
    if existing == wanted:
      return
    if not overwrite:
      changed = sorted(_diff_keys(existing, wanted))
      raise configlib.ConfigError(
          f'workdir {workdir} holds a run with a different config (differs in: '
          f'{", ".join(changed[:5])}); pass --overwrite to replace it, or choose another '
          '--workdir')
    shutil.rmtree(workdir)
  os.makedirs(workdir, exist_ok=True)
  write_atomic(path, json.dumps(wanted, indent=2, sort_keys=True))


def check_workdir(workdir: str, needed_bytes: int) -> None:
  """Raises ConfigError, before anything is written, if ``workdir`` cannot be created and
  written or its file system has less than ``needed_bytes`` free."""
  existing = os.path.abspath(workdir)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  probe = os.path.join(existing, f'.rarelearn-probe-{os.getpid()}')
  try:
    if not os.path.isdir(existing):
      raise NotADirectoryError(f'{existing} is a file')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise configlib.ConfigError(f'workdir {workdir} cannot be written ({e.strerror or e}); '
                                'choose another --workdir') from None
  if os.path.isdir(workdir):  # a run to resume has written part of it already
    needed_bytes -= sum(os.path.getsize(os.path.join(d, f))
                        for d, _, files in os.walk(workdir) for f in files)
  free = shutil.disk_usage(existing).free
  if free < needed_bytes:
    raise configlib.ConfigError(
        f'workdir {workdir}: {free / 2**20:.1f} MiB free but this run writes about '
        f'{needed_bytes / 2**20:.1f} MiB (checkpoints, metrics, measurements); free space or '
        'choose another --workdir')


def estimated_bytes(config, setup: Setup) -> int:
  """A generous estimate of what a run writes: the kept checkpoints (plus one being written),
  the metrics rows, the measurement files and the figures."""
  state = jax.eval_shape(lambda: population.init(setup.keys['init'], setup.members, setup.hp))
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
  chunks = config.train.num_steps // config.train.steps_per_chunk
  num_tasks, members = config.tasks.num_tasks, setup.members.size
  measured = config.train.num_steps // config.measure.every if config.measure.every else 0
  metrics = (chunks + measured) * members * (40 * num_tasks + 400)
  matrices = measured * members * 2 * num_tasks ** 2 * 4
  figures = 2 * 2**20
  return int(1.2 * ((config.train.keep_checkpoints + 1) * state_bytes + metrics + matrices)
             + figures)


def _diff_keys(a, b, prefix=''):
  if not (isinstance(a, dict) and isinstance(b, dict)):
    return [prefix.rstrip('.')] if a != b else []
  return [k for key in sorted(set(a) | set(b))
          for k in _diff_keys(a.get(key), b.get(key), f'{prefix}{key}.')]


def _complete_rows(path: str) -> list[str]:
  """The lines of ``metrics.jsonl`` that hold a whole row (a killed run may leave half a line)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [line if line.endswith('\n') else line + '\n' for line in f
            if line.strip().endswith('}')]


def read_metrics(workdir: str) -> list[dict]:
  """The rows of a run's ``metrics.jsonl`` (one per chunk end or measured step and member)."""
  return [json.loads(line) for line in _complete_rows(os.path.join(workdir, METRICS_FILE))]


def truncate_metrics(path: str, last_step: int) -> None:
  """Drops rows written after the checkpoint we resume from (they will be written again)."""
  rows = [line for line in _complete_rows(path) if json.loads(line)['step'] <= last_step]
  if os.path.exists(path):
    write_atomic(path, ''.join(rows))


def write_atomic(path: str, text: str) -> None:
  """Writes ``text`` to ``path`` through a temporary file and a rename: never half a file."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _drop_measurements_after(workdir: str, last_step: int) -> None:
  folder = os.path.join(workdir, MEASURE_DIR)
  if os.path.isdir(folder):
    for name in os.listdir(folder):
      if int(name.split('.')[0]) > last_step:
        os.remove(os.path.join(folder, name))


def _plain(value):
  value = np.asarray(value)
  if value.ndim == 0:
    return float(value) if value.dtype.kind == 'f' else int(value)
  return [round(float(v), 7) if value.dtype.kind == 'f' else int(v) for v in value]


def _metric_rows(step, members, freqs_MxK, loss_M, task_loss_MxK, metrics, every):
  """Rows of one chunk: the measurement rows (one per measured step × member) and the
  chunk-end rows (loss and per-task scores), merged where they share a step."""
  rows = {}
  num_measured = next(iter(metrics.values())).shape[1] if metrics else 0
  for m, member in enumerate(members.rows()):
    base = {'member': m, **{k: v for k, v in member.items() if k != 'index'}}
    for p in range(num_measured):
      t = step - (num_measured - 1 - p) * every
      rows[t, m] = dict(step=t, **base, **{k: _plain(v[m, p]) for k, v in metrics.items()
                                            if k not in _MATRIX_KEYS})
    tl = task_loss_MxK[m]
    rows.setdefault((step, m), dict(step=step, **base)).update(
        loss=float(loss_M[m]), eval_loss=float(np.dot(freqs_MxK[m], tl)),
        task_loss=[round(float(v), 7) for v in tl],
        task_score=[round(float(1.0 - v), 7) for v in tl])
  return [rows[key] for key in sorted(rows)]


def _write_matrices(workdir, step, metrics, every):
  """The [K, K] cosines of every measurement and the [W, K] unit shares of the last one."""
  if not metrics:
    return
  num_measured = metrics['grad_cos'].shape[1]
  folder = os.path.join(workdir, MEASURE_DIR)
  os.makedirs(folder, exist_ok=True)
  np.savez_compressed(
      os.path.join(folder, f'{step}.npz'),
      steps=step - every * np.arange(num_measured - 1, -1, -1),
      grad_cos=metrics['grad_cos'], grad_cos_probe=metrics['grad_cos_probe'],
      unit_share=metrics['unit_share'][:, -1])


def provenance() -> dict:
  import flax, jaxlib, optax, orbax.checkpoint  # pylint: disable=g-import-not-at-top,multiple-imports
  import rarelearn  # pylint: disable=g-import-not-at-top
  return {'rarelearn': rarelearn.__version__, 'jax': jax.__version__,
          'jaxlib': jaxlib.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
          'orbax-checkpoint': orbax.checkpoint.__version__, 'numpy': np.__version__,
          'python': platform.python_version()}


def resume(workdir: str, keep: int, state):
  """(manager, step, state, meta) of the newest readable checkpoint; (…, 0, ``state``, {})
  without one. An unreadable checkpoint (truncated, corrupted) is reported, removed, and the
  one before it tried."""
  mngr = checkpoint.manager(workdir, keep)
  for step in sorted(mngr.all_steps(), reverse=True):
    try:
      restored, meta = checkpoint.restore(mngr, step, state)
    except Exception as e:  # pylint: disable=broad-except
      reason = ' '.join(f'{type(e).__name__}: {e}'.split())[:200]
      print(f'rarelearn: warning: the checkpoint at step {step} cannot be read ({reason}); '
            'removing it and trying the one before', file=sys.stderr)
      mngr.close()
      shutil.rmtree(checkpoint.directory(workdir, step), ignore_errors=True)
      mngr = checkpoint.manager(workdir, keep)
      continue
    print(f'rarelearn: resuming {workdir} from step {step}', file=sys.stderr)
    return mngr, int(step), restored, meta
  return mngr, 0, state, {}


@dataclasses.dataclass(frozen=True)
class Setup:
  """Everything a run derives from its config before training (and ``inspect`` again after)."""
  hp: train.Hyper
  members: population.Members
  freqs: np.ndarray  # the configured π [K]
  freqs_MxK: np.ndarray  # each member's own π
  spectra: list
  spec: br.BlockRegressionSpec
  member_spec: br.BlockRegressionSpec  # spec with log_freqs_K [M, K] when members differ in π
  schedule: Any  # tasks.mixture.Mixture or None
  mixture_axis: int | None
  eval_batch: br.Batch
  keys: dict


def build(config) -> Setup:
  """The task spec, members, schedules, keys and evaluation set of ``config`` (validated)."""
  freqs, spectra, basis = configlib.task_setup(config)
  spec = br.make_spec(freqs, spectra, basis)
  hp, members = configlib.hyper(config), configlib.members(config)
  root = jax.random.key(config.seed)
  keys = dict(zip(('init', 'data', 'eval', 'measure'),
                  (jax.random.fold_in(root, i) for i in (0, 1, 2, 4))))
  per_task = config.eval.examples_per_task if hp.activation != 'linear' else 1
  freqs_MxK, schedule, mixture_axis = configlib.member_schedules(config, members)
  member_spec = spec if mixture_axis is None else spec.replace(
      log_freqs_K=jnp.log(jnp.asarray(freqs_MxK, jnp.float32)))
  return Setup(hp=hp, members=members, freqs=freqs, freqs_MxK=freqs_MxK, spectra=spectra,
               spec=spec, member_spec=member_spec, schedule=schedule, mixture_axis=mixture_axis,
               eval_batch=br.eval_set(keys['eval'], spec, per_task), keys=keys)


def train_and_evaluate(config, workdir: str, *, overwrite: bool = False,
                       max_chunks: int | None = None, progress: bool = True) -> dict | None:
  """Trains the population described by ``config`` in ``workdir``; returns the summary dict.

  ``max_chunks`` stops after that many chunks of this invocation (as an interruption would),
  returning None; calling again resumes. Raises ConfigError before touching the disk if the
  config is unusable.
  """
  configlib.validate(config)
  configlib.check_devices(config)
  t_start = time.time()
  setup = build(config)
  check_workdir(workdir, estimated_bytes(config, setup))
  prepare_workdir(config, workdir, overwrite)
  hp, members, spec, eval_batch = setup.hp, setup.members, setup.spec, setup.eval_batch
  freqs, spectra, freqs_MxK = setup.freqs, setup.spectra, setup.freqs_MxK
  data_key, measure_key = setup.keys['data'], setup.keys['measure']
  # Several devices: the member axis is split over them (padded to a multiple; sharding.py).
  place = sharding.placement(members.size, hp, config.population.model_shards)
  member_hp = place.per_member(members.hparams())

  state = population.init(setup.keys['init'], members, hp)
  mngr, start_step, state, meta = resume(workdir, config.train.keep_checkpoints, state)
  state = place.state(state)
  elapsed_before = float(meta.get('elapsed_s', 0.0))
  metrics_path = os.path.join(workdir, METRICS_FILE)
  truncate_metrics(metrics_path, start_step)
  _drop_measurements_after(workdir, start_step)

  spc, num_steps = hp.steps_per_chunk, hp.num_steps
  mh = configlib.measure_hyper(config)
  chunk_fn = population.make_chunk(hp, mh, setup.mixture_axis, place.widths(members.widths),
                                   config.population.layout, config.population.bucket_factor,
                                   place.shardings)
  if progress:
    print(f'rarelearn: {members.size} members, {describe_layout(config, members, place)}',
          file=sys.stderr)
  member_spec, schedule = setup.member_spec, setup.schedule
  if setup.mixture_axis == 0:  # each member its own π and schedule
    member_spec = member_spec.replace(log_freqs_K=place.per_member(member_spec.log_freqs_K))
    schedule = place.per_member(schedule)
  final_task_loss = None
  bar = tqdm.tqdm(total=num_steps, initial=start_step, unit='step', dynamic_ncols=True,
                  disable=not progress, file=sys.stderr, desc=f'{members.size} members')
  pending = None  # (step, loss_M, task_loss_MxK, metrics, diverged_M), written one chunk late
  reported = set()
  with open(metrics_path, 'a') as metrics_file:
    def flush(pending):
      step, loss_M, task_loss_MxK, metrics, diverged_M = jax.device_get(pending)
      for m in np.flatnonzero(diverged_M >= 0):
        if m not in reported:
          reported.add(m)
          print(f'rarelearn: member {m} ({_describe(members.rows()[m])}) diverged at step '
                f'{diverged_M[m]}; frozen at its last finite state', file=sys.stderr)
      _write_matrices(workdir, step, metrics, mh.every)
      for row in _metric_rows(step, members, freqs_MxK, loss_M, task_loss_MxK, metrics,
                              mh.every):
        metrics_file.write(json.dumps(row) + '\n')
      metrics_file.flush()
      bar.set_postfix(loss=f'{float(np.mean(loss_M)):.4f}')
      return task_loss_MxK

    chunks_run = 0
    for step in range(start_step, num_steps, spc):
      if max_chunks is not None and chunks_run >= max_chunks:
        break
      state, loss_M, task_loss_MxK, metrics = chunk_fn(state, data_key, jnp.int32(step),
                                                       member_hp, member_spec, eval_batch,
                                                       measure_key, schedule)
      if pending is not None:
        final_task_loss = flush(pending)
      pending = place.requested((loss_M, task_loss_MxK, metrics,
                                 jnp.array(state.diverged_at, copy=True)))  # state is donated
      pending = (step + spc, *pending)
      chunks_run, end = chunks_run + 1, step + spc
      bar.update(spc)
      if end == num_steps or (end // spc) % config.train.checkpoint_every_chunks == 0:
        checkpoint.save(mngr, end, place.requested(state),
                        {'step': end, 'elapsed_s': elapsed_before + time.time() - t_start,
                         'members': members.rows()})
    if pending is not None:
      final_task_loss = flush(pending)
  bar.close()
  mngr.wait_until_finished()
  mngr.close()
  if max_chunks is not None and pending is not None and pending[0] < num_steps:
    return None

  if final_task_loss is None:  # the workdir already held the finished run
    final_task_loss = np.asarray(place.requested(population.make_evaluate(hp)(
        state, member_hp, spec, eval_batch)))
  summary = build_summary(config, members, freqs, freqs_MxK, spectra, final_task_loss,
                          wall_time_s=elapsed_before + time.time() - t_start,
                          diverged_M=np.asarray(place.requested(state.diverged_at)))
  write_atomic(os.path.join(workdir, SUMMARY_FILE), json.dumps(summary, indent=1))
  plots.write_figures(workdir)
  return summary


def describe_layout(config, members, place=None) -> str:
  """'layout packed: 1008 hidden units per step (padded: 3072)' [+ the devices]."""
  sharded = place is not None and place.mesh is not None
  chosen = layout.resolve(config.population.layout, config.model.depth,
                          configlib.shared_data(config), sharded)
  units = layout.padded_units(members.widths, chosen, config.population.bucket_factor)
  padded = layout.padded_units(members.widths, 'padded', config.population.bucket_factor)
  text = f'layout {chosen}: {units} hidden units per step (padded: {padded})'
  if sharded:
    text += (f'; {place.count} member slots over a {dict(place.mesh.shape)} mesh of '
             f'{place.mesh.devices.size} devices')
  return text


def _describe(member: dict) -> str:
  return ', '.join(f'{k} {v}' for k, v in member.items() if k != 'index')


def build_summary(config, members, freqs, freqs_MxK, spectra, task_loss_MxK,
                  wall_time_s, diverged_M=None) -> dict:
  """``freqs``: the configured π (the tasks' entries); ``freqs_MxK``: each member's own π;
  ``diverged_M``: each member's ``TrainState.diverged_at``."""
  threshold = config.train.learned_threshold
  score = 1.0 - np.asarray(task_loss_MxK, np.float64)
  predicted = np.concatenate([theory.predicted_scores(f, spectra, [w])
                              for f, w in zip(freqs_MxK, members.widths)])
  learned = score >= threshold
  predicted_learned = theory.is_learned(predicted, threshold)
  crit = theory.critical_widths(freqs, spectra, threshold)
  return {
      'members': members.rows(),
      'tasks': [{'index': k, 'frequency': float(freqs[k]),
                 'spectrum': [float(v) for v in spectra[k]],
                 'predicted_critical_width': crit[k]} for k in range(len(freqs))],
      'final': {'task_loss': np.round(task_loss_MxK, 7).tolist(),
                'task_score': np.round(score, 7).tolist(), 'learned': learned.tolist()},
      'predicted': {'task_score': np.round(predicted, 7).tolist(),
                    'learned': predicted_learned.tolist(),
                    'exact_for_this_model': config.model.activation == 'linear'},
      'agreement': float(np.mean(learned == predicted_learned)),
      'diverged': [{'member': int(m), 'step': int(diverged_M[m])}
                   for m in np.flatnonzero(np.asarray(diverged_M) >= 0)]
                  if diverged_M is not None else [],
      'max_abs_score_error': float(np.max(np.abs(score - predicted))),
      'layout': describe_layout(config, members),  # as on one device
      'learned_threshold': threshold,
      'steps': int(config.train.num_steps),
      'wall_time_s': round(wall_time_s, 2),
      'versions': provenance(),
      'devices': [str(d) for d in jax.devices()],
  }
