"""Up-weight or scale? The cheapest way to get a rare task learned: more of its data, or a wider model.

    python experiments/lever_upweight_vs_scale.py --workdir=DIR [--smoke] [--seeds=3]

Trains ``configs/lever.py`` as one population: linear widths 8…128 × rare-task multipliers
F ∈ {1, 2, 4, 8, 16, 32} on the 32-task toy (task 20, π = 0.0117; the other tasks renormalized).
For every member, ``steps_to_learn`` is the first evaluated step from which ℓ_20 stays ≥ the
learned threshold (0.5) to the end, and its compute is parameters × steps to get there
(batch and step cost are the same for every member, so this ranks FLOPs).

Writes ``DIR/lever_upweight_vs_scale.json``:
- ``min_frequency_by_width``: width → the smallest π_20 in the grid at which it is learned;
- ``min_width_by_frequency``: π_20 → the smallest width that learns it (and
  ``predicted_min_width_by_frequency``, the utility theory's critical width, not rounded to the
  grid);
- ``cheaper_route``: for each width that does not learn the task at its own frequency,
  ``upweight`` (stay at this width, raise π_20 to its frontier value) or ``scale`` (keep π_20,
  grow to the smallest width that learns it), whichever costs fewer parameter-steps, with both
  costs and ``other_tasks_loss_change``: what up-weighting costs the other tasks (their
  π-weighted loss at the original frequencies, minus that of the same width at F = 1;
  ``other_tasks_loss`` gives that loss for every member);
- ``frontiers_monotone``: the learned set is closed upwards, so a higher frequency never needs a
  larger width, and a larger width never a higher frequency;
and ``DIR/lever_upweight_vs_scale.png``: final ℓ_20 over width × frequency with the measured
and predicted frontiers, and both routes' costs per width.

Claims, fixed before the run (each seed's grid read separately; 95% intervals over the
``--seeds`` seeds, 3 by default; ``rarelearn.claims``):
- ``frontier_matches_theory``: the share of the 6 frequencies whose smallest learning width is
  the utility theory's critical width rounded up to the grid, ci95 above 0.8;
- ``upweight_cheaper``: the share of the widths that miss the task at its own frequency for
  which up-weighting costs fewer parameter-steps than scaling, ci95 above 0.5;
- ``upweight_costs_others_little``: the largest rise of the other tasks' π-weighted loss over
  the widths where up-weighting is the route, ci95 below 0.1.
The tables above (``min_frequency_by_width`` … ``cheaper_route``) are seed 0's; ``claims`` and
``final_score_per_seed`` cover every seed.

What the paper argues (Huang et al. 2026, arXiv 2605.29548, abstract and Fig. 1): raising the
frequency of a target rare task can be cheaper than scaling the model; in the scaling-law
argument, models between N_s* and the large model reach its loss with more data, smaller ones
only by scaling. The toy makes that trade explicit per width. What we measured: README
"Up-weight or scale?".

Runtime: about 10 minutes on a 2-core CPU with 3 seeds (``--smoke``: about 15 s; not the
figure's numbers).
"""
from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import claims, configlib, expt, run, theory
from rarelearn import results as results_lib
from rarelearn.tasks import mixture

NAME = 'lever_upweight_vs_scale'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')


def num_params(width: int, dim: int, depth: int) -> int:
  """Weights and biases of the D → N (→ N …) → D model."""
  return width * dim + width + (depth - 1) * (width * width + width) + dim * width + dim


def routes(widths, freqs, steps_WxF, cost_WxF, learned_WxF, other_loss_WxF) -> dict:
  """For each width not learning the task at F = 1 (column 0): both routes' costs and the
  cheaper one (``upweight``, ``scale``, or ``neither`` when no member of the grid learns it)."""
  by_width, by_freq = results_lib.frontier(learned_WxF, widths, freqs)
  scale_width = by_freq[freqs[0]]
  out = {}
  for i, w in enumerate(widths):
    if learned_WxF[i, 0]:
      continue
    up = by_width[w]
    up_cost = cost_WxF[i][freqs.index(up)] if up is not None else None
    scale_cost = cost_WxF[widths.index(scale_width)][0] if scale_width is not None else None
    costs = {k: v for k, v in (('upweight', up_cost), ('scale', scale_cost)) if v is not None}
    out[w] = {'cheaper': min(costs, key=costs.get) if costs else 'neither',
              'upweight_frequency': up, 'upweight_cost': up_cost,
              'upweight_steps': steps_WxF[i][freqs.index(up)] if up is not None else None,
              'scale_width': scale_width, 'scale_cost': scale_cost,
              'other_tasks_loss_change': (float(other_loss_WxF[i, freqs.index(up)]
                                                - other_loss_WxF[i, 0])
                                          if up is not None else None)}
  return out


def seed_grid(summary, history, widths, factors, r: int, threshold: float, seed: int):
  """One seed's [widths × factors] final ℓ_r, steps to learn (None: never) and the other
  tasks' π-weighted final loss."""
  base = np.array([t['frequency'] for t in summary['tasks']])
  score, other_loss = np.zeros((len(widths), len(factors))), np.zeros((len(widths), len(factors)))
  steps = [[None] * len(factors) for _ in widths]
  others = np.arange(len(base)) != r
  final_loss = np.asarray(summary['final']['task_loss'])
  score_MxP = history.array('task_score')[:, :, r]
  for m in summary['members']:
    if m['seed'] != seed:
      continue
    i, j = widths.index(m['width']), factors.index(m['factor'])
    traj = score_MxP[m['index']]
    score[i, j] = traj[-1]
    steps[i][j] = results_lib.steps_to_reach(history.steps('task_score'), traj >= threshold)
    other_loss[i, j] = np.dot(base[others], final_loss[m['index']][others]) / base[others].sum()
  return score, steps, other_loss


def grid_verdicts(widths, freqs, params, predicted, threshold, score, steps, other_loss):
  """(routes, share of frequencies whose measured frontier is the theory's critical width
  rounded up to the grid, share of routed widths where up-weighting is cheaper, the largest
  other-tasks loss change of an up-weighting route)."""
  learned = score >= threshold
  cost = [[params[i] * s if s is not None else None for s in row] for i, row in enumerate(steps)]
  cheaper = routes(widths, freqs, steps, cost, learned, other_loss)
  _, by_freq = results_lib.frontier(learned, widths, freqs)
  rounded = {f: min((w for w in widths if w >= p), default=None) if p else None
             for f, p in predicted.items()}
  changes = [c['other_tasks_loss_change'] for c in cheaper.values()
             if c['cheaper'] == 'upweight']
  return (cheaper, float(np.mean([by_freq[f] == rounded[f] for f in freqs])),
          float(np.mean([c['cheaper'] == 'upweight' for c in cheaper.values()]))
          if cheaper else float('nan'), max(changes) if changes else float('nan'))


def lever_claims(verdicts: list[tuple]) -> list[dict]:
  """The docstring's claims from each seed's ``grid_verdicts`` (none with one seed: smoke)."""
  if len(verdicts) < 2:
    return []
  return [
      claims.over_seeds('frontier_matches_theory', 'the smallest width that learns the rare task '
                        'at each frequency is the utility theory\'s critical width rounded up to '
                        'the grid', 'share of the frequencies where they agree',
                        [v[1] for v in verdicts], above=0.8),
      claims.over_seeds('upweight_cheaper', 'for a width that does not learn the task at its own '
                        'frequency, up-weighting is the cheaper route', 'share of those widths '
                        'where it costs fewer parameter-steps', [v[2] for v in verdicts],
                        above=0.5),
      claims.over_seeds('upweight_costs_others_little', 'up-weighting costs the other tasks '
                        'little', 'the largest change of their π-weighted loss over the widths '
                        'up-weighted', [v[3] for v in verdicts], below=0.1)]


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, extra=_extra_flags)
  variant = ':smoke' if args.smoke else ''
  config = configlib.load_config_file(os.path.join(CONFIGS, 'lever.py') + variant)
  if not args.smoke:
    config.population.seeds = args.seeds
  workdir = os.path.join(args.workdir, 'lever')
  print(f'{NAME}: training configs/lever.py{variant}', file=sys.stderr)
  summary = run.train_and_evaluate(config, workdir, overwrite=True, progress=not args.smoke)
  history = results_lib.History.load(workdir)

  r, threshold = config.mixture.rare_task % config.tasks.num_tasks, summary['learned_threshold']
  base = np.array([t['frequency'] for t in summary['tasks']])
  spectra = [np.asarray(t['spectrum']) for t in summary['tasks']]
  widths = sorted({m['width'] for m in summary['members']})
  factors = sorted({m['factor'] for m in summary['members']})
  freqs = [float(mixture.upweight(base, r, f)[r]) for f in factors]
  dim = config.tasks.num_tasks * config.tasks.dims_per_task
  params = [num_params(w, dim, config.model.depth) for w in widths]
  predicted = {f: theory.critical_widths(mixture.upweight(base, r, fac), spectra,
                                         threshold)[r] for f, fac in zip(freqs, factors)}
  grids = [seed_grid(summary, history, widths, factors, r, threshold, z)
           for z in range(config.population.seeds)]
  verdicts = [grid_verdicts(widths, freqs, params, predicted, threshold, *g) for g in grids]
  score, steps, other_loss = grids[0]
  cheaper = verdicts[0][0]
  by_width, by_freq = results_lib.frontier(score >= threshold, widths, freqs)
  results = {'rare_task': r, 'widths': widths, 'factors': factors, 'frequencies': freqs,
             'final_score': score, 'steps_to_learn': steps,
             'cost_param_steps': [[params[i] * s if s is not None else None for s in row]
                                  for i, row in enumerate(steps)],
             'other_tasks_loss': other_loss,
             'min_frequency_by_width': by_width, 'min_width_by_frequency': by_freq,
             'predicted_min_width_by_frequency': predicted,
             'frontiers_monotone': results_lib.is_monotone(score >= threshold),
             'cheaper_route': cheaper, 'claims': lever_claims(verdicts),
             'final_score_per_seed': [g[0] for g in grids],
             'seeds': config.population.seeds, 'smoke': args.smoke}
  for w, route in cheaper.items():
    print(f'{NAME}: width {w}: {route["cheaper"]} (up-weight to π={route["upweight_frequency"]}'
          f' costs {route["upweight_cost"]}, scaling to width {route["scale_width"]} costs '
          f'{route["scale_cost"]} parameter-steps)')
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  fig = _figure(score, widths, freqs, by_freq, predicted, cheaper, r, threshold)
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


def _extra_flags(parser):
  parser.add_argument('--seeds', type=int, default=3, help='seeds per member (the claims\' '
                      'intervals are over them; --smoke keeps its config\'s)')


def _figure(score, widths, freqs, by_freq, predicted, cheaper, r, threshold):
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
  ax = axes[0]
  im = ax.imshow(score, origin='lower', aspect='auto', cmap='viridis', vmin=0, vmax=1)
  ax.set_xticks(range(len(freqs)), [f'{f:.3g}' for f in freqs])
  ax.set_yticks(range(len(widths)), [str(w) for w in widths])
  measured = [widths.index(by_freq[f]) if by_freq[f] is not None else len(widths) - 0.5
              for f in freqs]
  ax.step(range(len(freqs)), np.asarray(measured) - 0.5, 'w-', where='mid', lw=2,
          label=f'measured frontier (ℓ ≥ {threshold})')
  pred = [np.interp(np.log2(predicted[f]) if predicted[f] else np.inf, np.log2(widths),
                    range(len(widths)), left=-0.5, right=len(widths) - 0.5) for f in freqs]
  ax.plot(range(len(freqs)), pred, 'r--', label='utility theory: critical width')
  ax.set_xlabel(f'π_{r} (up-weighted; others renormalized)')
  ax.set_ylabel('width N')
  ax.set_title(f'final ℓ_{r}')
  ax.legend(fontsize=8, loc='upper right')
  fig.colorbar(im, ax=ax)
  ax = axes[1]
  ws = sorted(cheaper)
  x = np.arange(len(ws))
  for dx, key, label in ((-0.2, 'upweight_cost', 'up-weight at this width'),
                         (0.2, 'scale_cost', 'scale to the frontier width')):
    ax.bar(x + dx, [cheaper[w][key] or np.nan for w in ws], width=0.4, label=label)
  ax.set_xticks(x, [str(w) for w in ws])
  ax.set_yscale('log')
  ax.set_xlabel('width N (does not learn the task at its own frequency)')
  ax.set_ylabel('parameters × steps to ℓ ≥ threshold')
  ax.set_title('which route is cheaper')
  ax.legend(fontsize=8)
  fig.tight_layout()
  return fig


if __name__ == '__main__':
  main()
