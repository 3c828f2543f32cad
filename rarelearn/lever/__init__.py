"""Up-weight or scale? From finished runs whose members span sizes × frequencies of one task:
the frontier both ways, its power law f*(N) = a·N^(−κ) with intervals and extrapolation, and
what each route to "learned" costs.

    python -m rarelearn.lever --workdir=W [--workdir=W2 …] [--threshold=T] [--margin=0.05]
                              [--base_frequency=F] [--holdout=K]

(T and F in (0, 1], the margin finite ≥ 0, K ≥ 0: else one line, exit status 2.) The lever reads
finished workdirs and trains nothing: it takes no config.

Reads any run of the MLP families (a toy or MSP population with a swept ``factor`` or
``rare_frequency`` of ``mixture.rare_task``; without one, the tasks' own frequencies are the
frequency axis) or of the token ladder (rungs × injection frequencies). Several workdirs of one
family and task are read as one grid (e.g. a ladder and more rungs trained later).

- **Learned** is the first sustained crossing (``results.learning_step`` with a margin): the first
  evaluated step at which the task's score (ℓ_r for the toy, test accuracy for the ladder) is ≥
  the threshold (the run's ``learned_threshold`` unless ``--threshold``) and from which it never
  falls below the threshold − margin (``--margin``, 0.05) to the end; a score hovering at the
  threshold is learned once, at its first crossing, or not at all.
- **The frontier both ways** (``results.frontier`` closed upwards), per seed: each size's lowest
  learned frequency — the lowest one from which every higher frequency of the grid is learned too
  — and each frequency's smallest learning size (likewise closed upwards). A size's frontier is
  only known to lie between that frequency and the next lower one of the grid: its geometric
  midpoint is the point estimate, and a size learning at every frequency (or at none) is censored.
  Across seeds: the geometric mean with the Student t 95% interval of the mean log
  (``rarelearn.analysis.claims.interval``).
- **The power law** ln f* = ln a − κ·ln N, least squares with one point per size (the seeds'
  mean of ln midpoint; sizes censored in any seed left out), with 95% intervals for a and κ
  and 90% prediction intervals for a size's point at sizes not trained: 10 and 100 times the
  largest (``extrapolation``), and with ``--holdout=K`` the K largest, left out of the fit and
  scored against it. A point's variance is the larger of the residual variance and what the
  grid and the seeds give on their own (a midpoint is uniform within its cell: w²/12 for a
  cell of log-width w, not divided by the seeds, which often share a cell; plus the seeds'
  spread over their number), so a fit through identical seeds on a coarse grid is not falsely
  exact, and seeds that agree are not counted as independent points.
- **The routes**, for each size that does not learn the task at the base frequency
  (``--base_frequency``; default the toy's own π_r, the ladder's lowest frequency): up-weight —
  stay at this size, train at its frontier frequency — or scale — the smallest size that learns
  it at the base frequency (beyond the grid: the size the power law predicts, cost unknown).
  Each route's cost is training FLOPs to the learning step (the family's own count per step:
  6 × weights × batch for the MLP, ``token_ladder.flops_per_member_step`` for a transformer), its
  effect on the other tasks (the toy: their π-weighted loss at their original frequencies; the
  ladder: background loss), and for a task with a finite set of instances (the token tasks'
  5,000 train pairs) how many times the route shows each one, on average, before it is learned.
- **The toy's theory**: the utility theory's critical width at each frequency and its own κ,
  fitted the same way to its frontier at the trained widths.

Limits: the power law is an empirical form fitted where the grid measures a frontier; it says
nothing past a size where the task set runs out (the toy's width D learns every direction) or
the training budget does (a ladder's rungs share one number of steps). Without a swept
frequency the tasks' own frequencies form the axis, and the tasks differ in more than frequency
(their spectra, their parity orders). Learning steps are known to the evaluation interval.

Writes ``W/lever/lever.json`` (every table, the fit, the command, versions) and
``W/lever/lever.png`` (the frontier per seed with the fit and its prediction band; the routes'
costs) under the first workdir (``--out`` elsewhere).

The package, by concern: ``grid`` reads finished runs into a ``Grid``; ``frontier`` its learning
steps and frontier (by ``rarelearn.analysis.results``' one learned-step rule and one frontier, with
the margin and closed upwards) and the held-out check; ``power_law`` the fit and its prediction;
``routes`` up-weighting against scaling; ``report`` the text and the figure; here ``analyse``
and the command line (``__main__``).
"""
from __future__ import annotations

import os
from typing import Sequence

# the lever's names, as its callers (experiments, tests, notebooks) use them
from rarelearn.lever.frontier import (fit_and_check, frontiers, learned_grid, learning_steps,
                                      smallest_sizes)
from rarelearn.lever.grid import Grid, read, toy_theory
from rarelearn.lever.power_law import fit_power_law, midpoint, predict, size_for
from rarelearn.lever.report import figure, frontier_panel, report, route_panel
from rarelearn.lever.routes import base_index, routes, routes_by_size

__all__ = ['EXTRAPOLATE', 'Grid', 'analyse', 'base_index', 'figure', 'fit_and_check',
           'fit_power_law', 'frontier_panel', 'frontiers', 'learned_grid', 'learning_steps',
           'main', 'midpoint', 'predict', 'read', 'report', 'route_panel', 'routes',
           'routes_by_size', 'size_for', 'smallest_sizes', 'toy_theory']

EXTRAPOLATE = (10, 100)  # report the frontier at these multiples of the largest size


def analyse(grid: Grid, margin: float = 0.05, holdout: int = 0) -> dict:
  """Every table of the module docstring for ``grid`` (JSON-ready)."""
  steps = learning_steps(grid, margin)
  fr = frontiers(grid, learned_grid(grid, steps))
  try:
    law = fit_and_check(grid, fr['by_size'], holdout)
  except ValueError as e:
    law = {'error': str(e)}
  fit = law.get('fit')
  out = {'family': grid.family, 'task': grid.task, 'size_unit': grid.size_unit,
         'sizes': grid.sizes, 'labels': grid.labels, 'frequencies': grid.freqs,
         'seeds': grid.seeds, 'threshold': grid.threshold, 'margin': margin,
         'holdout': holdout, 'base_frequency': grid.base_frequency,
         'learning_step': steps.tolist(),
         'final_score': grid.score[..., -1], 'frontier': fr, 'power_law': law,
         'routes': routes(grid, steps, fit), 'flops_per_step': grid.flops_per_step,
         'train_instances': grid.train_instances, 'wall_time_s': grid.wall_time_s}
  if fit is not None:  # beyond the largest size trained: 10 and 100 times it
    out['extrapolation'] = [predict(fit, grid.sizes[-1] * k) for k in EXTRAPOLATE]
  out['routes_by_size'] = routes_by_size(out['routes'])
  if grid.theory is not None:
    out['theory'] = grid.theory
  return out


def main(argv: Sequence[str] | None = None) -> dict:
  from rarelearn import expt  # pylint: disable=g-import-not-at-top
  parser = expt.Parser('lever', prog='python -m rarelearn.lever',
                       description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', action='append', required=True,
                      help='a finished run (repeat to read several as one grid)')
  parser.add_argument('--threshold', type=expt.number(gt=0, le=1), default=None,
                      help='learned at a score ≥ this (default: the run\'s learned_threshold)')
  parser.add_argument('--margin', type=expt.number(ge=0), default=0.05,
                      help='once learned, the score stays above threshold − margin')
  parser.add_argument('--base_frequency', type=expt.number(gt=0, le=1), default=None,
                      help='where the routes start (default: the toy\'s own π_r, the ladder\'s '
                      'lowest frequency)')
  parser.add_argument('--holdout', type=expt.integer(0), default=0,
                      help='fit on all sizes but this many of the largest, and score them')
  parser.add_argument('--out', default=None, help='default: <first workdir>/lever')
  args = parser.parse_args(argv)
  expt._STARTED = expt._code_state()  # pylint: disable=protected-access
  try:
    grid = read(args.workdir, args.threshold, args.base_frequency)
    res = analyse(grid, args.margin, args.holdout)
  except (ValueError, OSError, KeyError) as e:
    expt.fail('lever', e)
  for line in report(res):
    print(line)
  out = args.out or os.path.join(args.workdir[0], 'lever')
  os.makedirs(out, exist_ok=True)
  fig = figure(res)
  expt.write_results(out, 'lever', dict(res, workdirs=args.workdir), fig)
  return res
