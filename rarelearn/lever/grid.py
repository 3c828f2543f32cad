"""The lever's input: finished runs read into one ``Grid`` [sizes, frequencies, seeds,
evaluations] — each run's records from its family module's ``lever_records(workdir, config)``
(an MLP population over a swept frequency of its rare task, or its tasks at their own
frequencies: ``families/_mlp.py``; the token ladder's rungs × injection frequencies:
``families/token_ladder.py``), with each cell's size, FLOPs and task instances per step, and on
the toy the utility theory's frontier (``toy_theory``)."""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from rarelearn import families
from rarelearn.runtime import workdir as wd


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


def read(workdirs: Sequence[str], threshold: float | None = None,
         base_frequency: float | None = None) -> Grid:
  """The runs in ``workdirs`` (one family, task and evaluation schedule) as one grid."""
  records, metas = [], []
  for w in workdirs:
    config = wd.read_config(w)
    rec, meta = families.get(config.family).lever_records(w, config)
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
  from rarelearn.analysis import theory  # pylint: disable=g-import-not-at-top
  from rarelearn.tasks import mixture  # pylint: disable=g-import-not-at-top
  base, spectra, _ = families.get(config.family).task_setup(config)
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
