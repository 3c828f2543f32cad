"""Fig. 2: the width × task phase diagram, and a complexity sweep where utility beats frequency.

    python experiments/fig2_phase_diagram.py --workdir=DIR [--smoke]

Trains two populations of linear models (each one jitted, vmapped program):
- ``configs/sweep.py``: the paper's mixture, 32 Zipf tasks of equal complexity. The measured
  feature presence ℓ_k is a staircase over width and task, and the boundary predicted by the
  utility ranking u_{k,j} = π_k·λ_{k,j} matches it.
- ``configs/complexity.py``: 16 Zipf tasks whose spectral decay alternates between flat
  ("complex", 8 directions of equal variance) and steep ("simple", one direction holds 83%).
  Rare simple tasks are learned at smaller widths than frequent complex ones, so a prediction
  from frequency rank alone (``theory.frequency_only_scores``: every task given the mean
  spectrum) fails while the utility ranking holds.

Writes ``DIR/fig2_phase_diagram.json``: ``agreement_utility`` and ``agreement_frequency_only``
(fraction of (member, task) cells of the complexity sweep whose learned/unlearned call each
prediction gets right), the same pair for the default sweep under ``default``, and
``max_abs_score_error`` (|ℓ_k − ℓ*_k|) per sweep; ``DIR/fig2_phase_diagram.png`` shows both
phase diagrams with their predicted boundaries. Run directories (metrics, checkpoints) are
``DIR/sweep`` and ``DIR/complexity``.

Claims, fixed before the run (each statistic is computed per seed — a seed is one init of every
width — and its Student t 95% interval over the 5 seeds; ``rarelearn.analysis.claims``):
- ``utility_predicts_default``: on the default sweep the utility ranking predicts which
  (member, task) cells are learned — the share of cells it calls right, ci95 above 0.9;
- ``utility_predicts_complexity``: the same on the complexity sweep, ci95 above 0.9;
- ``utility_beats_frequency``: on the complexity sweep the utility ranking calls more cells
  right than frequency rank alone — the difference of the two shares, ci95 above 0.
The JSON's ``claims`` holds each with its value, interval, per-seed values and whether it held;
``sensitivity`` each claim's value and how many hold with "learned" (ℓ_k ≥ 0.5, for the
measurement and the theory alike) at 0.4, 0.45, 0.5, 0.55 and 0.6.

What the paper reports (Huang et al. 2026, arXiv 2605.29548, Fig. 2 and its appendix): the
heatmap is a staircase, rarer tasks learned only at larger widths, and the dashed predicted
boundary matches the measured one; with large complexity gaps, utility — not frequency alone —
predicts which tasks are learned. What we measured: docs/experiments.md "Reproducing the paper"
(``docs/results/fig2_phase_diagram_2026-12-01.json``).

Runtime: about 7 minutes on a 2-core CPU (5 seeds; ``--smoke``: under 20 s, tiny configs whose
numbers are not the figure's, 2 seeds).
"""
from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

import rarelearn
from rarelearn import expt
from rarelearn.analysis import claims, plots, theory
from rarelearn.core import configlib

NAME = 'fig2_phase_diagram'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
SENSITIVITY = (0.4, 0.45, 0.5, 0.55, 0.6)  # "learned" thresholds around the fixed one (0.5)


def agreements(summary: dict, seed: int | None = None, threshold: float | None = None) -> dict:
  """How often each prediction's learned/unlearned call matches the measured one (over the
  members of one ``seed``, or all), "learned" at the run's threshold or at ``threshold``."""
  freqs = [t['frequency'] for t in summary['tasks']]
  spectra = [np.asarray(t['spectrum']) for t in summary['tasks']]
  widths = [m['width'] for m in summary['members']]
  if threshold is None:
    threshold = summary['learned_threshold']
    learned = np.asarray(summary['final']['learned'])
    utility = np.asarray(summary['predicted']['learned'])
  else:
    learned = theory.is_learned(summary['final']['task_score'], threshold)
    utility = theory.is_learned(summary['predicted']['task_score'], threshold)
  by_freq = theory.is_learned(theory.frequency_only_scores(freqs, spectra, widths), threshold)
  rows = [m['seed'] == seed or seed is None for m in summary['members']]
  return {'agreement_utility': float(np.mean((learned == utility)[rows])),
          'agreement_frequency_only': float(np.mean((learned == by_freq)[rows])),
          'max_abs_score_error': summary['max_abs_score_error'],
          'frequency_only_learned': by_freq.tolist()}


def fig2_claims(summaries: dict, threshold: float | None = None) -> list[dict]:
  """The docstring's claims, per seed ("learned" at the runs' threshold, or ``threshold``)."""
  seeds = sorted({m['seed'] for m in summaries['complexity']['members']})
  per_seed = {name: [agreements(summaries[name], s, threshold) for s in seeds]
              for name in ('sweep', 'complexity')}
  share = 'share of (member, task) cells whose learned call the utility ranking gets right'
  return [
      claims.over_seeds('utility_predicts_default', 'on the default sweep the utility ranking '
                        'predicts which cells are learned', share,
                        [a['agreement_utility'] for a in per_seed['sweep']], above=0.9),
      claims.over_seeds('utility_predicts_complexity', 'on the complexity sweep the utility '
                        'ranking predicts which cells are learned', share,
                        [a['agreement_utility'] for a in per_seed['complexity']], above=0.9),
      claims.over_seeds('utility_beats_frequency', 'on the complexity sweep the utility ranking '
                        'calls more cells right than frequency rank alone',
                        'share right by utility − share right by frequency rank alone',
                        [a['agreement_utility'] - a['agreement_frequency_only']
                         for a in per_seed['complexity']], above=0.0)]


def sensitivity(summaries: dict) -> list[dict]:
  """Each claim's value and how many hold with "learned" at ``SENSITIVITY``'s thresholds."""
  out = []
  for t in SENSITIVITY:
    held = fig2_claims(summaries, t)
    out.append({'threshold': t, **{c['name']: c['value'] for c in held},
                'claims_holding': sum(c['holds'] for c in held)})
  return out


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv)
  variant = ':smoke' if args.smoke else ''
  summaries = {}
  for name in ('sweep', 'complexity'):
    config = configlib.load_config_file(os.path.join(CONFIGS, f'{name}.py') + variant)
    config.measure.every = 0  # the learned sets are all this figure needs
    if not args.smoke:  # the claims' seeds
      config.population.seeds = max(5, config.population.seeds)
    print(f'{NAME}: training configs/{name}.py{variant}', file=sys.stderr)
    summaries[name] = rarelearn.train(config, os.path.join(args.workdir, name),
                                      overwrite=True, progress=not args.smoke).summary

  default, complexity = agreements(summaries['sweep']), agreements(summaries['complexity'])
  results = {
      'agreement_utility': complexity['agreement_utility'],
      'agreement_frequency_only': complexity['agreement_frequency_only'],
      'max_abs_score_error': complexity['max_abs_score_error'],
      'default': {k: v for k, v in default.items() if k != 'frequency_only_learned'},
      'claims': fig2_claims(summaries),
      'sensitivity': sensitivity(summaries),
      'seeds': summaries['complexity']['members'][-1]['seed'] + 1,
      'smoke': args.smoke,
  }

  fig, axes = plt.subplots(1, 2, figsize=(17, 5.2), gridspec_kw={'width_ratios': [2, 1.1]})
  im = plots.draw_phase_diagram(axes[0], summaries['sweep'])
  axes[0].set_title(f'32 tasks of equal complexity: agreement with utility theory '
                    f'{default["agreement_utility"]:.3f}')
  plots.draw_phase_diagram(axes[1], summaries['complexity'], {
      'frequency rank only': ('r:', complexity['frequency_only_learned'])})
  axes[1].set_title(f'complexity sweep (odd tasks simple): agreement\nutility '
                    f'{complexity["agreement_utility"]:.3f}, frequency only '
                    f'{complexity["agreement_frequency_only"]:.3f}')
  for ax in axes:  # below the heatmaps, where it hides no cell
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8,
              facecolor='0.45', labelcolor='white')
  fig.colorbar(im, ax=axes, label='ℓ_k = 1 − L_k', fraction=0.03)
  for line in (f'default sweep:    utility {default["agreement_utility"]:.3f}   '
               f'frequency only {default["agreement_frequency_only"]:.3f}',
               f'complexity sweep: utility {complexity["agreement_utility"]:.3f}   '
               f'frequency only {complexity["agreement_frequency_only"]:.3f}'):
    print(f'{NAME}: agreement, {line}')
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


if __name__ == '__main__':
  main()
