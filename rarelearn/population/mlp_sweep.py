"""The MLP families (block regression, sparse parity) as a population of ``loop.run``.

``Sweep`` derives the task spec, members, schedules, keys and evaluation set of a config and is
the population the loop drives (one jitted chunk of training, per-task losses and measurements
over every member); ``build_summary`` compares the learned set with the utility theory;
``rarelearn.train(config, workdir)`` runs it through the loop (``runtime/loop.py``).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.analysis import plots, theory
from rarelearn.core import configlib
from rarelearn.population import layout, mlp_setup, sharding, vmapped

MEASURE_DIR = 'measurements'  # <step>.npz per chunk: the [K, K] and [W, K] measurement arrays
_MATRIX_KEYS = ('grad_cos', 'grad_cos_probe', 'unit_share')


def _plain(value):
  """A measurement for a metrics row: lists of float32 values at 7 significant digits (float32's
  precision; 7 decimals would zero a fitted task's gradient norm of 1e-8)."""
  value = np.asarray(value)
  if value.ndim == 0:
    return float(value) if value.dtype.kind == 'f' else int(value)
  return [float(f'{float(v):.7g}') if value.dtype.kind == 'f' else int(v) for v in value]


class Sweep(vmapped.Population):
  """The MLP population of a sweep config (configs/sweep.py, configs/msp.py and their kin).

  What a run derives from its config (and ``inspect`` again after): ``hp``, ``grid`` (the
  ``vmapped.Members``), ``freqs`` (the configured π [K]), ``freqs_MxK`` (each member's own
  π), ``spectra`` (None where the family has none), ``spec``, ``member_spec`` (log_freqs_K
  [M, K] when members differ in π), ``schedule`` and ``mixture_axis``
  (``mlp_setup.member_schedules``),
  ``eval_batch`` and the ``keys`` (init, data, eval, measure)."""
  figure_files = {'phase_diagram.png': plots.phase_diagram, 'task_curves.png': plots.task_curves}

  def __init__(self, config, family):
    """``family``: the family's module (``families/block_regression.py``,
    ``families/sparse_parity.py``): its task setup, spec, loss, sizes and evaluation set."""
    self.family = family
    self.freqs, self.spectra, basis = family.task_setup(config)
    self.hp, self.grid = hp, members = mlp_setup.hyper(config, family), mlp_setup.members(config)
    super().__init__(config, members.rows())
    self.spec = family.make_spec(config, self.freqs, self.spectra, basis)
    root = jax.random.key(config.seed)
    self.keys = dict(zip(('init', 'data', 'eval', 'measure'),
                         (jax.random.fold_in(root, i) for i in (0, 1, 2, 4))))
    per_task = 1 if family.exact_eval(config) else config.eval.examples_per_task
    self.eval_batch = family.TASK.eval_set(self.keys['eval'], self.spec, per_task)
    self.freqs_MxK, schedule, self.mixture_axis = mlp_setup.member_schedules(config, members)
    # Several devices: the member axis is split over them (sharding.py); an inspection on a
    # machine with fewer devices than model_shards keeps each member whole.
    shards = config.population.model_shards
    self.placement = place = sharding.placement(
        members.size, hp, members.max_width, shards if jax.device_count() % shards == 0 else 1)
    self.member_hp = place.per_member(members.hparams())
    self.mh = mlp_setup.measure_hyper(config)
    self.pieces = vmapped.make_pieces(
        hp, self.mh, self.mixture_axis, place.widths(members.widths), config.population.layout,
        config.population.bucket_factor, place.shardings)
    self.unit = self.pieces.unit
    self.member_spec, self.schedule = self.spec, schedule
    if self.mixture_axis == 0:  # each member its own π and schedule, split like the members
      self.member_spec = self.spec.replace(log_freqs_K=place.per_member(
          jnp.log(jnp.asarray(self.freqs_MxK, jnp.float32))))
      self.schedule = place.per_member(schedule)
    self.banner = [f'{members.size} members, {describe_layout(config, members, place)}']
    self.num_tasks = config.tasks.num_tasks
    self.description = f'{members.size} members × {self.num_tasks} tasks'

  def init(self):
    return vmapped.init(self.keys['init'], self.grid, self.hp)

  def begin(self, state, step: int):
    return self.pieces.blank(state, self.keys['data'], jnp.int32(step), self.member_hp,
                             self.member_spec, self.keys['measure'], self.schedule)

  def piece(self, state, done, step: int, offset: int, count: int):
    return self.pieces.piece(state, done, self.keys['data'], jnp.int32(step),
                             jnp.int32(offset // self.unit), jnp.int32(count // self.unit),
                             self.member_hp, self.member_spec, self.keys['measure'],
                             self.schedule)

  def finish(self, state, done, step: int):
    loss_M, task_loss_MxK, metrics = self.pieces.finish(state, done, self.member_hp,
                                                        self.member_spec, self.eval_batch)
    return self.requested({'loss': loss_M, 'task_loss': task_loss_MxK, 'metrics': metrics})

  def evaluate(self, state):
    return {'task_loss': self.requested(vmapped.make_evaluate(self.hp)(
        state, self.member_hp, self.spec, self.eval_batch))}

  def rows(self, step: int, out) -> list[dict]:
    """Rows of one chunk: the measurement rows (one per measured step × member) and the
    chunk-end rows (loss and per-task scores), merged where they share a step."""
    rows, metrics = {}, out['metrics']
    num_measured = next(iter(metrics.values())).shape[1] if metrics else 0
    for m, member in enumerate(self.grid.rows()):
      base = dict(member)  # member, width, seed, swept settings
      for p in range(num_measured):
        t = step - (num_measured - 1 - p) * self.mh.every
        rows[t, m] = dict(step=t, **base, **{k: _plain(v[m, p]) for k, v in metrics.items()
                                              if k not in _MATRIX_KEYS})
      tl = out['task_loss'][m]
      rows.setdefault((step, m), dict(step=step, **base)).update(
          loss=float(out['loss'][m]), eval_loss=float(np.dot(self.freqs_MxK[m], tl)),
          task_loss=[round(float(v), 7) for v in tl],
          task_score=[round(float(1.0 - v), 7) for v in tl])
    return [rows[key] for key in sorted(rows)]

  def observe(self, workdir, step: int, out) -> None:
    """The [K, K] cosines of every measurement and the [W, K] unit shares of the last one."""
    metrics = out['metrics']
    if workdir is None or not metrics:
      return
    folder = os.path.join(workdir, MEASURE_DIR)
    os.makedirs(folder, exist_ok=True)
    np.savez_compressed(
        os.path.join(folder, f'{step}.npz'),
        steps=step - self.mh.every * np.arange(metrics['grad_cos'].shape[1] - 1, -1, -1),
        grad_cos=metrics['grad_cos'], grad_cos_probe=metrics['grad_cos_probe'],
        unit_share=metrics['unit_share'][:, -1])

  def drop_after(self, workdir: str, step: int) -> None:
    folder = os.path.join(workdir, MEASURE_DIR)
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
      if int(name.split('.')[0]) > step:
        os.remove(os.path.join(folder, name))

  def written_bytes(self) -> int:
    """The metrics rows (chunk ends and measured steps) and the measurement matrices."""
    every, k, members = self.config.measure.every, self.num_tasks, len(self.members)
    measured = self.num_steps // every if every else 0
    rows = (self.num_steps // self.steps_per_chunk + measured) * members
    return rows * (40 * k + 400) + measured * members * 8 * k ** 2

  def summary(self, out, diverged_M, history, wall_time_s: float) -> dict:
    return build_summary(self.config, self.family, self.grid, self.freqs, self.freqs_MxK,
                         self.spectra,
                         np.asarray(out['task_loss']), np.asarray(diverged_M))

  def results(self, summary: dict) -> list[dict]:
    """Per member: its row (index, width, seed, swept settings), task_loss, task_score,
    learned and, for block regression, the utility theory's predicted_score and
    predicted_learned (lists over tasks)."""
    predicted = summary.get('predicted')
    return [dict(row, **({'predicted_score': predicted['task_score'][m],
                          'predicted_learned': predicted['learned'][m]} if predicted else {}))
            for m, row in enumerate(super().results(summary))]

  def table(self, results: list[dict], members: list[int], tasks: list[int]) -> str:
    """Members × tasks: ℓ_k ('*' learned) and, under it, the theory's ℓ*_k ('*' predicted)."""
    settings = [k for k in results[0] if k not in (
        'member', 'width', 'seed', 'task_loss', 'task_score', 'learned', 'predicted_score',
        'predicted_learned')]
    head = ['member', 'width', 'seed', *settings, '']
    lines = ['  '.join(f'{h:>7}' for h in head) + '  ' + ' '.join(f'{f"t{k}":>6}' for k in tasks)]
    for m in members:
      r = results[m]
      left = [str(m), str(r['width']), str(r['seed']), *[f'{r[k]:g}' for k in settings]]
      for label, score, learned in (('ℓ', r['task_score'], r['learned']),
                                    ('ℓ*', r.get('predicted_score'), r.get('predicted_learned'))):
        if score is None:  # no theory prediction (sparse parity)
          continue
        cells = ' '.join(f'{score[k]:5.2f}{"*" if learned[k] else " "}' for k in tasks)
        lines.append('  '.join(f'{c:>7}' for c in left + [label]) + '  ' + cells)
        left = [''] * len(left)
    return '\n'.join(lines)

  def result(self, summary: dict) -> str:
    """The agreement with the utility theory (block regression) or the tasks learned per
    width (sparse parity)."""
    if 'agreement' in summary:
      return (f'agreement with the utility theory {summary["agreement"]:.3f} (max |ℓ − ℓ*| '
              f'{summary["max_abs_score_error"]:.4f})')
    learned = {}
    for member, row in zip(summary['members'], summary['final']['learned']):
      learned.setdefault(member['width'], []).append(sum(row))
    return (f'tasks learned (score ≥ {summary["learned_threshold"]:g}) by width: '
            + ', '.join(f'{w} {sum(n) / len(n):g}' for w, n in learned.items()))


def describe_layout(config, members, place=None) -> str:
  """'layout packed: 1008 hidden units per step (padded: 3072)' [+ the devices]."""
  sharded = place is not None and place.mesh is not None
  chosen = layout.resolve(config.population.layout, config.model.depth,
                          configlib.shared_data(config), sharded)
  units, padded = (layout.padded_units(members.widths, c, config.population.bucket_factor)
                   for c in (chosen, 'padded'))
  text = f'layout {chosen}: {units} hidden units per step (padded: {padded})'
  if sharded:
    text += (f'; {place.count} member slots over a {dict(place.mesh.shape)} mesh of '
             f'{place.mesh.devices.size} devices')
  return text


def build_summary(config, family, members, freqs, freqs_MxK, spectra, task_loss_MxK,
                  diverged_M=None) -> dict:
  """``freqs``: the configured π (the tasks' entries); ``freqs_MxK``: each member's own π;
  ``spectra``: the tasks' λ (None where the family has none, and no theory prediction);
  ``diverged_M``: each member's ``TrainState.diverged_at``."""
  threshold = config.train.learned_threshold
  score = 1.0 - np.asarray(task_loss_MxK, np.float64)
  learned = score >= threshold
  out = {
      'family': config.family,
      'members': members.rows(),
      'tasks': [{'index': k, 'frequency': float(freqs[k])} for k in range(len(freqs))],
      'final': {'task_loss': np.round(task_loss_MxK, 7).tolist(),
                'task_score': np.round(score, 7).tolist(), 'learned': learned.tolist()},
      'diverged': [{'member': int(m), 'step': int(diverged_M[m])}
                   for m in np.flatnonzero(np.asarray(diverged_M) >= 0)]
                  if diverged_M is not None else [],
      'layout': describe_layout(config, members),  # as on one device
      'learned_threshold': threshold,
      'steps': int(config.train.num_steps),
  }
  family.describe_tasks(config, out['tasks'])
  if spectra is None:  # no theory prediction
    return out
  predicted = np.concatenate([theory.predicted_scores(f, spectra, [w])
                              for f, w in zip(freqs_MxK, members.widths)])
  predicted_learned = theory.is_learned(predicted, threshold)
  crit = theory.critical_widths(freqs, spectra, threshold)
  for k, task in enumerate(out['tasks']):
    task.update(spectrum=[float(v) for v in spectra[k]], predicted_critical_width=crit[k])
  out.update(predicted={'task_score': np.round(predicted, 7).tolist(),
                        'learned': predicted_learned.tolist(),
                        'exact_for_this_model': config.model.activation == 'linear'},
             agreement=float(np.mean(learned == predicted_learned)),
             max_abs_score_error=float(np.max(np.abs(score - predicted))))
  return out
