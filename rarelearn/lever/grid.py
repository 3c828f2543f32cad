"""The lever's input: finished runs read into one ``Grid`` [sizes, frequencies, seeds,
evaluations] — each family's reader (an MLP population over a swept frequency of its rare task,
or its tasks at their own frequencies; the token ladder's rungs × injection frequencies), with
each cell's size, FLOPs and task instances per step, and on the toy the utility theory's
frontier (``toy_theory``)."""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from rarelearn import configlib, results
from rarelearn import workdir as wd


@dataclasses.dataclass
class Grid:
  """A run read as [sizes N, frequencies F, seeds Z, evaluations P]; NaN where absent."""
  family: str
  task: str
  sizes: np.ndarray  # [N] ascending, parameters (``size_unit``)
  labels: list[str]  # [N] e.g. "width 8", "d16"
  freqs: np.ndarray  # [F] ascending
  seeds: list[int]
  steps: np.ndarray  # [P]
  score: np.ndarray  # [N, F, Z, P]
  other_loss: np.ndarray  # [N, F, Z] final; NaN where not defined
  flops_per_step: np.ndarray  # [N, F]
  instances_per_step: np.ndarray  # [N, F] task examples drawn per step (expected)
  threshold: float
  base_frequency: float | None
  size_unit: str
  train_instances: int | None = None  # a finite set of instances (None: fresh draws)
  theory: dict | None = None
  wall_time_s: float | None = None  # the runs' training time, all workdirs (summary.json)


def _mlp_params(width: int, hp) -> int:
  """Weights and biases of the D → N (→ N …) → out model."""
  out = hp.out_dim or hp.dim
  return width * hp.dim + width + (hp.depth - 1) * (width * width + width) + out * width + out


def _read_mlp(workdir: str, config) -> tuple[list[dict], dict]:
  """A toy or MSP population: the rare task over a swept frequency, or every task at its own."""
  from rarelearn import bench  # pylint: disable=g-import-not-at-top
  summary = wd.read_summary(workdir)
  members, hp = summary['members'], configlib.hyper(config)
  history = results.History.load(workdir, members)
  score, K = history.array('task_score'), config.tasks.num_tasks
  r, base = config.mixture.rare_task % K, configlib.frequencies(config)
  final_loss = np.asarray(summary['final']['task_loss'], np.float64)
  swept = any(k in m for m in members for k in ('factor', 'rare_frequency'))
  if not swept and len(set(np.round(base, 12))) < K:
    raise ValueError(f'{workdir}: no swept frequency, and tasks share a frequency: the tasks\' '
                     'own frequencies cannot be the frequency axis (sweep population.sweep.'
                     'factor or rare_frequency of one task)')
  others = np.arange(K) != r
  records = []
  for m in members:
    pi, w, idx = configlib.frequencies(config, m), m['width'], m['index']
    common = dict(size=float(_mlp_params(w, hp)), label=f'width {w}', seed=m['seed'],
                  flops=bench.useful_flops_per_step([w], hp.dim, hp.batch_size, hp.depth,
                                                    hp.out_dim or None))
    for k in ([r] if swept else range(K)):
      other = (float(base[others] @ final_loss[idx][others] / base[others].sum()) if swept
               else math.nan)
      records.append(dict(common, frequency=float(pi[k]), score=score[idx, :, k],
                          other_loss=other, instances=hp.batch_size * float(pi[k])))
  meta = dict(family=configlib.family(config), steps=history.steps('task_score'),
              task=f'task {r}' if swept else 'every task at its own frequency',
              threshold=float(summary['learned_threshold']), size_unit='parameters',
              base_frequency=float(base[r]) if swept else None, train_instances=None,
              theory_config=config if swept and configlib.family(config) == 'block_regression'
              else None, wall_time_s=summary.get('wall_time_s'))
  return records, meta


def _read_ladder(workdir: str, config) -> tuple[list[dict], dict]:
  """A token ladder: rungs × injection frequencies × seeds; test accuracy of the task."""
  from rarelearn import ladder, plan  # pylint: disable=g-import-not-at-top
  from rarelearn.tasks import tokens  # pylint: disable=g-import-not-at-top
  summary = wd.read_summary(workdir)
  members = summary['members']
  if len({m['gap'] for m in members}) > 1:
    raise ValueError(f'{workdir}: members differ in injection gap; the lever reads one gap')
  history = results.History.load(workdir, members)
  score, background = history.array('test_accuracy'), history.array('background_loss')
  rungs = {g.name: g for g in ladder.rungs(config)}
  records = [dict(size=float(m['non_embedding']), label=m['rung'], seed=m['seed'],
                  frequency=float(m['frequency']), score=score[m['member']],
                  other_loss=float(background[m['member'], -1]),
                  flops=plan.flops_per_member_step(rungs[m['rung']], config),
                  instances=config.train.batch_size * float(m['frequency']))
             for m in members]
  meta = dict(family='token_ladder', steps=history.steps('test_accuracy'),
              task=f'T_{summary["task"].upper()}', threshold=float(summary['learned_threshold']),
              size_unit='non-embedding parameters',
              train_instances=tokens.NUM_TASK_TOKENS ** 2 // 2,  # the train half of all pairs
              base_frequency=min(r['frequency'] for r in records), theory_config=None,
              wall_time_s=summary.get('wall_time_s'))
  return records, meta


def read(workdirs: Sequence[str], threshold: float | None = None,
         base_frequency: float | None = None) -> Grid:
  """The runs in ``workdirs`` (one family, task and evaluation schedule) as one grid."""
  records, metas = [], []
  for w in workdirs:
    config = wd.read_config(w)
    reader = _read_ladder if configlib.is_ladder(config) else _read_mlp
    rec, meta = reader(w, config)
    records += rec
    metas.append(meta)
  for key in ('family', 'task', 'size_unit'):
    if len({m[key] for m in metas}) > 1:
      raise ValueError(f'the workdirs differ in {key}: {[m[key] for m in metas]}')
  if any(not np.array_equal(m['steps'], metas[0]['steps']) for m in metas):
    raise ValueError('the workdirs were evaluated at different steps')
  times = [m['wall_time_s'] for m in metas]
  grid = _grid(records, metas[0], threshold, base_frequency)
  grid.wall_time_s = None if None in times else float(sum(times))
  return grid


def _grid(records: list[dict], meta: dict, threshold, base_frequency) -> Grid:
  sizes = sorted({r['size'] for r in records})
  freqs = sorted({round(r['frequency'], 12) for r in records})
  seeds = sorted({r['seed'] for r in records})
  N, F, Z, P = len(sizes), len(freqs), len(seeds), len(meta['steps'])
  score, other = np.full((N, F, Z, P), np.nan), np.full((N, F, Z), np.nan)
  flops, instances = np.full((N, F), np.nan), np.full((N, F), np.nan)
  labels = [''] * N
  for r in records:
    i, j = sizes.index(r['size']), freqs.index(round(r['frequency'], 12))
    z = seeds.index(r['seed'])
    if not np.all(np.isnan(score[i, j, z])):
      raise ValueError(f'two members at {r["label"]}, frequency {r["frequency"]:g}, seed '
                       f'{r["seed"]}: the lever needs one per cell')
    score[i, j, z], other[i, j, z] = r['score'], r['other_loss']
    flops[i, j], instances[i, j], labels[i] = r['flops'], r['instances'], r['label']
  grid = Grid(family=meta['family'], task=meta['task'], sizes=np.asarray(sizes),
              labels=labels, freqs=np.asarray(freqs), seeds=seeds,
              steps=np.asarray(meta['steps']), score=score, other_loss=other,
              flops_per_step=flops, instances_per_step=instances,
              threshold=meta['threshold'] if threshold is None else float(threshold),
              base_frequency=meta['base_frequency'] if base_frequency is None
              else float(base_frequency), size_unit=meta['size_unit'],
              train_instances=meta['train_instances'])
  if meta['theory_config'] is not None:
    grid.theory = toy_theory(meta['theory_config'], grid)
  return grid


def toy_theory(config, grid: Grid) -> dict:
  """The utility theory on the toy's task set: the rare task's critical width at each grid
  frequency, its lowest learned frequency at each trained width (by bisection: exact, not a
  grid cell; NaN where not even frequency 1 is learned), and the κ of a least-squares power law
  through that frontier over the trained sizes."""
  from rarelearn import theory  # pylint: disable=g-import-not-at-top
  from rarelearn.tasks import mixture  # pylint: disable=g-import-not-at-top
  base, spectra, _ = configlib.task_setup(config)
  r = config.mixture.rare_task % len(base)

  def critical(f):
    return theory.critical_widths(mixture.with_frequency(base, r, f), spectra,
                                  grid.threshold)[r] or math.inf

  widths = [int(label.split()[-1]) for label in grid.labels]
  frontier = []
  for w in widths:
    if critical(1.0) > w:  # not even at frequency 1
      frontier.append(math.nan)
      continue
    lo, hi = math.log(base[r] * 1e-3), 0.0  # critical(e^hi) ≤ w < critical(e^lo)
    for _ in range(50):
      mid = (lo + hi) / 2
      lo, hi = (lo, mid) if critical(math.exp(mid)) <= w else (mid, hi)
    frontier.append(math.exp(hi))
  keep = np.isfinite(frontier)
  slope = (np.polyfit(np.log(grid.sizes[keep]), np.log(np.asarray(frontier)[keep]), 1)[0]
           if keep.sum() >= 2 else math.nan)
  return {'critical_width': {float(f): critical(f) for f in grid.freqs},
          'frontier': frontier, 'kappa': float(-slope)}
