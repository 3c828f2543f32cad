"""The host loop: chunks of jitted steps, metrics, checkpoints, progress, summary and figures.

``train_and_evaluate(config, workdir)`` is the whole program behind ``rarelearn.main``. The
device runs ``train.steps_per_chunk`` steps per call; the host writes the previous chunk's
metrics while the next chunk runs (one chunk late, so the device never waits on the host), saves
an orbax checkpoint every ``train.checkpoint_every_chunks`` chunks and at the end, and resumes
from the latest checkpoint of an existing workdir with the same config.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from rarelearn import checkpoint, configlib, plots, population, theory
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
  with open(path, 'w') as f:
    json.dump(wanted, f, indent=2, sort_keys=True)


def _diff_keys(a, b, prefix=''):
  if not (isinstance(a, dict) and isinstance(b, dict)):
    return [prefix.rstrip('.')] if a != b else []
  return [k for key in sorted(set(a) | set(b))
          for k in _diff_keys(a.get(key), b.get(key), f'{prefix}{key}.')]


def _truncate_metrics(path: str, last_step: int) -> None:
  """Drops rows written after the checkpoint we resume from (they will be written again)."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    rows = [line for line in f if line.strip() and json.loads(line)['step'] <= last_step]
  with open(path, 'w') as f:
    f.writelines(rows)


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


def _provenance() -> dict:
  import flax, jaxlib, optax, orbax.checkpoint  # pylint: disable=g-import-not-at-top,multiple-imports
  import rarelearn  # pylint: disable=g-import-not-at-top
  return {'rarelearn': rarelearn.__version__, 'jax': jax.__version__,
          'jaxlib': jaxlib.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
          'orbax-checkpoint': orbax.checkpoint.__version__, 'numpy': np.__version__,
          'python': platform.python_version()}


def train_and_evaluate(config, workdir: str, *, overwrite: bool = False,
                       max_chunks: int | None = None, progress: bool = True) -> dict | None:
  """Trains the population described by ``config`` in ``workdir``; returns the summary dict.

  ``max_chunks`` stops after that many chunks of this invocation (as an interruption would),
  returning None; calling again resumes. Raises ConfigError before touching the disk if the
  config is unusable.
  """
  configlib.validate(config)
  prepare_workdir(config, workdir, overwrite)
  t_start = time.time()
  freqs, spectra, basis = configlib.task_setup(config)
  spec = br.make_spec(freqs, spectra, basis)
  hp, members = configlib.hyper(config), configlib.members(config)
  root = jax.random.key(config.seed)
  init_key, data_key, eval_key, measure_key = (jax.random.fold_in(root, i) for i in (0, 1, 2, 4))
  per_task = config.eval.examples_per_task if hp.activation != 'linear' else 1
  eval_batch = br.eval_set(eval_key, spec, per_task)
  member_hp = members.hparams()

  state = population.init(init_key, members, hp)
  mngr = checkpoint.manager(workdir, config.train.keep_checkpoints)
  start_step, elapsed_before = 0, 0.0
  if mngr.latest_step() is not None:
    start_step = int(mngr.latest_step())
    state, meta = checkpoint.restore(mngr, start_step, state)
    elapsed_before = float(meta.get('elapsed_s', 0.0))
    print(f'rarelearn: resuming {workdir} from step {start_step}', file=sys.stderr)
  metrics_path = os.path.join(workdir, METRICS_FILE)
  _truncate_metrics(metrics_path, start_step)
  _drop_measurements_after(workdir, start_step)

  spc, num_steps = hp.steps_per_chunk, hp.num_steps
  mh = configlib.measure_hyper(config)
  freqs_MxK, schedule, mixture_axis = configlib.member_schedules(config, members)
  chunk_fn = population.make_chunk(hp, mh, mixture_axis)
  member_spec = spec if mixture_axis is None else spec.replace(
      log_freqs_K=jnp.log(jnp.asarray(freqs_MxK, jnp.float32)))
  final_task_loss = None
  bar = tqdm.tqdm(total=num_steps, initial=start_step, unit='step', dynamic_ncols=True,
                  disable=not progress, file=sys.stderr, desc=f'{members.size} members')
  pending = None  # (step, loss_M, task_loss_MxK, metrics) on device, written one chunk late
  with open(metrics_path, 'a') as metrics_file:
    def flush(pending):
      step, loss_M, task_loss_MxK, metrics = jax.device_get(pending)
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
      pending = (step + spc, loss_M, task_loss_MxK, metrics)
      chunks_run, end = chunks_run + 1, step + spc
      bar.update(spc)
      if end == num_steps or (end // spc) % config.train.checkpoint_every_chunks == 0:
        checkpoint.save(mngr, end, state,
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
    final_task_loss = np.asarray(population.make_evaluate(hp)(state, member_hp, spec,
                                                              eval_batch))
  summary = build_summary(config, members, freqs, freqs_MxK, spectra, final_task_loss,
                          wall_time_s=elapsed_before + time.time() - t_start)
  with open(os.path.join(workdir, SUMMARY_FILE), 'w') as f:
    json.dump(summary, f, indent=1)
  plots.write_figures(workdir)
  return summary


def build_summary(config, members, freqs, freqs_MxK, spectra, task_loss_MxK,
                  wall_time_s) -> dict:
  """``freqs``: the configured π (the tasks' entries); ``freqs_MxK``: each member's own π."""
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
      'max_abs_score_error': float(np.max(np.abs(score - predicted))),
      'learned_threshold': threshold,
      'steps': int(config.train.num_steps),
      'wall_time_s': round(wall_time_s, 2),
      'versions': _provenance(),
      'devices': [str(d) for d in jax.devices()],
  }
