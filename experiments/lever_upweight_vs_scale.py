"""Up-weight or scale? Validates ``python -m rarelearn.lever``: fit the frontier on the smaller
sizes, predict it at the two largest, compare — on the toy and on the CPU ladder.

    python experiments/lever_upweight_vs_scale.py --workdir=DIR [--smoke] [--no_ladder]

Trains ``configs/lever.py`` in ``DIR/toy`` (7 widths × 8 rare-task factors × 3 seeds, one
population), ``configs/olmo_tiny.py:lever`` in ``DIR/ladder_cmp`` (5 rungs × 7 T_CMP
frequencies × 3 seeds) and ``configs/msp.py`` with 3 seeds in ``DIR/msp`` (7 widths; its 50
subtasks' own Zipf frequencies are the frequency axis); a finished run there is read back, an
unfinished one resumed. On each it runs the lever (``rarelearn.lever.analyse``) twice: on every size
(the frontier both ways, the power law f*(N) = a·N^(−κ), the routes and their costs) and with the
two largest sizes held out of the fit (``holdout=2``). "Learned" is each run's own threshold (ℓ ≥
0.5 on the toy, test accuracy ≥ 0.8 on the CPU ladder) with the lever's first-sustained-crossing
rule, margin 0.05.

Writes ``DIR/lever_upweight_vs_scale.json``: ``toy``, ``ladder`` and ``msp``, each
``{all, held_out}``
(``lever.analyse`` output: ``frontier``, ``power_law``, ``routes``, ``routes_by_size``, and on
the toy ``theory``), and ``claims``; ``DIR/lever_upweight_vs_scale.png``: both frontiers with
the held-out fit and its 90% band, and the toy's routes.

Claims, fixed before the run (``rarelearn.analysis.claims``; 95% intervals over the 3 seeds):
- ``<track>_heldout_<size>_inside`` (two per track): the seeds' geometric-mean frontier at a
  held-out size lies inside the 90% prediction interval (of that point: the seeds' mean) of the
  power law fitted on the smaller sizes; a held-out size censored in any seed (learned at every
  frequency, or at none), or a fit that cannot be made, does not hold;
- ``toy_kappa_matches_theory``: the utility theory's κ for the same task set (a least-squares
  power law through its own, exact frontier at the trained widths) lies inside the 95% interval
  of the κ fitted on all widths;
- ``toy_frontier_matches_theory``: per seed, the share of the 8 frequencies whose smallest
  learning width is the theory's critical width rounded up to the grid; ci95 above 0.8;
- ``toy_upweight_cheaper``: per seed, the share of the widths missing the task at its own
  frequency (F = 1) for which up-weighting costs fewer training FLOPs than scaling to the
  smallest width that learns it there; ci95 above 0.5;
- ``toy_upweight_costs_others_little``: per seed, the largest rise of the other tasks'
  π-weighted loss over the widths where up-weighting is the cheaper route; ci95 below 0.1.
Multitask sparse parity is reported without claims: its run (the peer experiment's, same config)
had been read with the lever before this script included it, so no criterion for it could be
fixed blind. Its frequency axis is the subtasks' own, which differ in more than frequency.

What the paper argues (Huang et al. 2026, arXiv 2605.29548, abstract and Fig. 1): raising the
frequency of a target rare task can be cheaper than scaling the model. Gu et al. 2025 (arXiv
2505.18091) report that the lowest frequency at which a model learns a piece of knowledge falls
as a power law in model size. What we measured: docs/experiments.md "Up-weight or scale?".

Runtime on a 2-core CPU: about 18 minutes (toy), 95 minutes (ladder) and 6 minutes (sparse
parity; the runs' times are ``wall_time_s`` in the JSON) (``--smoke``: the toy's smoke grid
only, seconds; not the figure's numbers).
"""
from __future__ import annotations

import math
import os
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

import rarelearn
from rarelearn import expt, lever
from rarelearn.analysis import claims
from rarelearn.core import configlib

NAME = 'lever_upweight_vs_scale'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
HOLDOUT = 2


def heldout_claims(track: str, res: dict) -> list[dict]:
  """One claim per held-out size: its measured frontier inside the fit's 90% interval (not
  holding, with the reason, where no power law could be fitted)."""
  out = []
  preds = res['power_law'].get('predictions') or [
      {'held_out': i >= len(res['sizes']) - HOLDOUT, 'interval': [math.nan, math.nan]}
      for i in range(len(res['sizes']))]
  for row, p in zip(res['frontier']['by_size'], preds):
    if not p.get('held_out'):
      continue
    out.append(claims.value_within(
        f'{track}_heldout_{row["label"].replace(" ", "_")}_inside',
        f'the frontier at {row["label"]} ({row["size"]:.4g} parameters), not in the fit, is '
        'where the power law fitted on the smaller sizes predicts',
        'geometric mean over seeds of the lowest learned frequency (cell midpoint)',
        row['geometric_mean'], row['ci95'], row['midpoint'], p['interval'],
        'the 90% prediction interval' if 'fit' in res['power_law'] else
        f'no interval ({res["power_law"].get("error")})'))
  return out


def toy_seed_values(res: dict) -> list[tuple[float, float, float]]:
  """Per seed: (share of frequencies whose smallest learning width is the theory's critical
  width rounded up to the grid, share of routed widths where up-weighting is cheaper, the
  largest other-task loss change of an up-weighting route)."""
  widths = [int(label.split()[-1]) for label in res['labels']]
  crit = res['theory']['critical_width']
  rounded = [min((w for w in widths if w >= crit[f]), default=None) for f in crit]
  size_of = dict(zip(res['sizes'], widths))
  out = []
  for z, seed in enumerate(res['seeds']):
    smallest = [row['smallest_size'][z] for row in res['frontier']['by_frequency']]
    match = np.mean([(size_of[s] if s is not None else None) == r
                     for s, r in zip(smallest, rounded)])  # both None: neither learns
    mine = [r for r in res['routes'] if r['seed'] == seed]
    cheaper = np.mean([r['cheaper'] == 'upweight' for r in mine]) if mine else np.nan
    changes = [r['upweight']['other_loss_change'] for r in mine
               if r['cheaper'] == 'upweight']
    out.append((float(match), float(cheaper), max(changes) if changes else np.nan))
  return out


def toy_claims(all_sizes: dict) -> list[dict]:
  """The docstring's toy claims other than the held-out ones (none with one seed: smoke)."""
  if len(all_sizes['seeds']) < 2 or 'fit' not in all_sizes['power_law']:
    return []
  fit, kappa = all_sizes['power_law']['fit'], all_sizes['theory']['kappa']
  per_seed = toy_seed_values(all_sizes)
  return [
      claims.value_within('toy_kappa_matches_theory', 'the frontier falls with size as steeply '
                          'as the utility theory predicts', 'the theory\'s κ', kappa,
                          [kappa, kappa], [kappa] * len(all_sizes['seeds']),
                          fit['kappa_ci95'], 'the fitted κ\'s 95% interval'),
      claims.over_seeds('toy_frontier_matches_theory', 'the smallest width that learns the rare '
                        'task at each frequency is the utility theory\'s critical width rounded '
                        'up to the grid', 'share of the frequencies where they agree',
                        [v[0] for v in per_seed], above=0.8),
      claims.over_seeds('toy_upweight_cheaper', 'for a width that misses the task at its own '
                        'frequency, up-weighting is the cheaper route', 'share of those widths '
                        'where it costs fewer training FLOPs', [v[1] for v in per_seed],
                        above=0.5),
      claims.over_seeds('toy_upweight_costs_others_little', 'up-weighting costs the other tasks '
                        'little', 'the largest change of their π-weighted loss over the '
                        'up-weighting routes', [v[2] for v in per_seed], below=0.1)]


def track(workdir: str, holdout: int) -> dict:
  """The lever on a finished run: every size, and the largest ``holdout`` held out."""
  grid = lever.read([workdir])
  return {'all': lever.analyse(grid), 'held_out': lever.analyse(grid, holdout=holdout)}


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, extra=_extra_flags)
  variant = ':smoke' if args.smoke else ''
  config = configlib.load_config_file(os.path.join(CONFIGS, 'lever.py') + variant)
  print(f'{NAME}: the toy, configs/lever.py{variant}', file=sys.stderr)
  rarelearn.train(config, os.path.join(args.workdir, 'toy'), overwrite=True,
                  progress=not args.smoke).summary
  results = {'toy': track(os.path.join(args.workdir, 'toy'), HOLDOUT)}
  made = heldout_claims('toy', results['toy']['held_out']) + toy_claims(results['toy']['all'])
  if not (args.smoke or args.no_ladder):
    print(f'{NAME}: the CPU ladder, configs/olmo_tiny.py:lever', file=sys.stderr)
    expt.train_token_tasks(os.path.join(CONFIGS, 'olmo_tiny.py:lever'), ['cmp'],
                           workdir=args.workdir)
    results['ladder'] = track(os.path.join(args.workdir, 'ladder_cmp'), HOLDOUT)
    made += heldout_claims('ladder', results['ladder']['held_out'])
  if not args.smoke:  # reported without claims: see the docstring
    msp = configlib.load_config_file(os.path.join(CONFIGS, 'msp.py'))
    msp.population.seeds = 3
    print(f'{NAME}: multitask sparse parity, configs/msp.py with 3 seeds', file=sys.stderr)
    rarelearn.train(msp, os.path.join(args.workdir, 'msp'), overwrite=True).summary
    results['msp'] = track(os.path.join(args.workdir, 'msp'), HOLDOUT)
  for name, res in results.items():
    for line in lever.report(res['held_out'])[:len(res['held_out']['sizes']) + 4]:
      print(f'{NAME}: {name}: {line}')
  for c in made:
    print(f'{NAME}: claim {claims.line(c)}')
  results.update(claims=made, smoke=args.smoke)
  fig = _figure(results)
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


def _extra_flags(parser):
  parser.add_argument('--no_ladder', action='store_true',
                      help='no ladder (it takes about 95 minutes on a 2-core CPU)')


def _figure(results: dict):
  panels = [(name, res['held_out']) for name, res in results.items()
            if name in ('toy', 'ladder', 'msp')]
  rows = (len(panels) + 2) // 2
  fig, axes = plt.subplots(rows, 2, figsize=(11, 4.2 * rows), squeeze=False)
  axes = axes.ravel()
  for ax, (name, res) in zip(axes, panels):
    lever.frontier_panel(ax, res)
    ax.set_title(f'{name}: {res["task"]}, fit without the {HOLDOUT} largest (shaded)')
  lever.route_panel(axes[len(panels)], results['toy']['all'])
  for ax in axes[len(panels) + 1:]:
    ax.axis('off')
  fig.tight_layout()
  return fig


if __name__ == '__main__':
  main()
