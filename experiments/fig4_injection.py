"""Fig. 4: a rare task injected at its own frequency is forgotten by a narrow model, kept by a wide
one.

    python experiments/fig4_injection.py --workdir=DIR [--smoke] [--seeds=5]

Part 1 trains ``configs/injection.py``: the 32-task toy, linear widths 32 and 256, rare task 12
(π = 0.019, outside a width-32 model's top utilities) withheld except for a 100-batch burst every
1,000 steps that carries its long-run share (matched-frequency injection). ℓ_12 is evaluated at
every burst's start and end; ``measure.retention`` gives each burst's gain and the fraction of it
retained until the next burst; cos(g, G_12) (``ref_cos_batch``) is traced every 100 steps.

Part 2, the gap sweep: the same toy for widths 32, 64, 128, 256 × gaps G ∈ {1, 10, 50, 200,
1000} at the same global frequency, all 20 members in one population (``population.sweep.gap``).
Bursts are one batch long where round(G·B·π) fits in one batch (G ≤ 52 here: "N instances every
N batches"), else the fewest batches that hold them. The run ends at a burst boundary of every
gap, so the final ℓ_12 is what survived the last gap.

Claims, fixed before the run (statistics per seed — ``--seeds`` seeds of every member, 5 by
default — with Student t 95% intervals over the seeds; a trend holds only with its permutation
p below 0.05; ``rarelearn.analysis.claims``):
- ``narrow_forgets``: at width 32 the mean fraction of a burst's gain retained until the next
  burst is below 0.5 (ci95 below 0.5): learn-then-forget;
- ``wide_keeps`` (a check: width 256 = D, full rank keeps every task): at width 256 the
  final ℓ_12 is above 0.9 (ci95);
- ``wide_retains_more``: width 256's retained fraction minus width 32's, ci95 above 0;
- ``larger_gaps_hurt_at_width_<N>``, for each gap-sweep width: Spearman ρ between G and the
  final ℓ_12 over the 5 gaps, ci95 below −0.5.

Writes ``DIR/fig4_injection.json``: ``claims``; ``final_score_by_width`` (ℓ_12 at the end of part
1), ``retention_by_width`` (mean fraction of a burst's gain kept until the next burst; bursts
that gain < 0.05 are left out), ``burst_end_score_by_width`` (mean ℓ_12 at burst ends) — means
over seeds, each seed's in ``per_seed``; ``final_score_by_gap`` (G → width → final ℓ_12, mean
over seeds; ``final_score_by_gap_per_seed``), ``burst_steps_by_gap``, ``cos_by_burst_phase``
(width → steps since the last burst's start → mean cos(g, G_12) over the bursts, seed 0:
Mechanism I's alignment around a burst); and ``DIR/fig4_injection.png``: ℓ_12 over time with
the bursts shaded, the cosine traces (seed 0), and final ℓ_12 against G per width. Run
directories are ``DIR/injection`` and ``DIR/gaps``.

What the paper reports (Huang et al. 2026, arXiv 2605.29548, Fig. 4, 6b and 8): with the rare task
withheld for G steps and then injected, small models learn it during the burst and forget it
before the next (learn-then-forget), large models accumulate it; in OLMo pretraining larger gaps
at the same frequency hurt. What we measured: docs/experiments.md "Reproducing the paper".

Runtime: about 33 minutes on a 2-core CPU with 5 seeds (``--smoke``: about 20 s; not the
figure's numbers).
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
from rarelearn import expt
from rarelearn.analysis import claims
from rarelearn.core import configlib
from rarelearn.measure import retention
from rarelearn.population import mlp_setup
from rarelearn.runtime import workdir as wd
from rarelearn.tasks import mixture

NAME = 'fig4_injection'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
GAPS = (1, 10, 50, 200, 1000)
GAP_WIDTHS = (32, 64, 128, 256)
GAP_STEPS = 5000
SMOKE_GAPS, SMOKE_GAP_STEPS = (1, 5), 20


def _trajectory(rows, width, key, index=None, seed: int = 0):
  mine = [r for r in rows if r['width'] == width and r['seed'] == seed and key in r]
  return ([r['step'] for r in mine],
          [r[key] if index is None else r[key][index] for r in mine])


def gap_config(config, gaps, widths, num_steps: int):
  """``config`` as one population over widths × gaps: bursts every G steps from step 0, each as
  short as it can be (``mixture.burst_steps=0``), no measurements."""
  c = config.copy_and_resolve_references()
  c.population.widths = tuple(widths)
  c.population.sweep.gap = tuple(gaps)
  c.mixture.offset, c.mixture.burst_steps = 0, 0
  c.train.num_steps = num_steps
  c.train.steps_per_chunk = math.gcd(num_steps, 250)
  c.train.checkpoint_every_chunks = 1000
  c.measure.every = 0
  return c


def per_seed_bursts(rows, widths, r: int, m, seeds: int) -> dict:
  """width → {'final', 'retention', 'burst_end'}: one value per seed of the final ℓ_r, its mean
  retained fraction over the bursts and its mean at burst ends."""
  out = {}
  for w in widths:
    out[w] = {'final': [], 'retention': [], 'burst_end': []}
    for z in range(seeds):
      steps, score = _trajectory(rows, w, 'task_score', r, seed=z)
      res = retention.retention(steps, score, m.gap, m.burst_steps, m.offset)
      out[w]['final'].append(score[-1])
      out[w]['retention'].append(res['mean_retained'])
      out[w]['burst_end'].append(float(np.mean([score[steps.index(s + m.burst_steps)]
                                                for s in res['starts']])))
  return out


def fig4_claims(bursts: dict, by_gap_seed: dict) -> list[dict]:
  """The docstring's claims (none with one seed: smoke). ``by_gap_seed``: gap → width →
  [final ℓ_r per seed]."""
  narrow, wide = bursts[min(bursts)], bursts[max(bursts)]
  if len(narrow['final']) < 2:
    return []
  out = [
      claims.over_seeds('narrow_forgets', f'width {min(bursts)} loses what a burst taught '
                        'before the next burst', 'mean retained fraction over the bursts',
                        narrow['retention'], below=0.5),
      claims.over_seeds('wide_keeps', f'width {max(bursts)} keeps the rare task',
                        'final ℓ_r', wide['final'], above=0.9,
                        kind='check'),  # width = D: full rank keeps every task
      claims.over_seeds('wide_retains_more', f'width {max(bursts)} retains more of a burst '
                        f'than width {min(bursts)}', 'difference of the mean retained fractions',
                        np.subtract(wide['retention'], narrow['retention']), above=0.0)]
  gaps = sorted(by_gap_seed)
  for w in sorted(by_gap_seed[gaps[0]]):
    out.append(claims.trend(
        f'larger_gaps_hurt_at_width_{w}', f'at width {w} and the same global frequency, the '
        'final ℓ_r falls as the gap between bursts grows', gaps,
        np.asarray([by_gap_seed[g][w] for g in gaps]).T, below=-0.5, over='gap'))
  return out


def _gap_sweep(args, config, r: int) -> tuple[dict, dict, int]:
  """Part 2: (gap → width → final ℓ_r per seed, burst steps per gap, steps)."""
  gaps, gap_widths = (SMOKE_GAPS, config.population.widths) if args.smoke else (GAPS, GAP_WIDTHS)
  num_steps = SMOKE_GAP_STEPS if args.smoke else GAP_STEPS
  c = gap_config(config, gaps, gap_widths, num_steps)
  freq = mlp_setup.frequencies(c)[r]
  burst_steps = {g: mixture.shortest_burst(freq, g, c.train.batch_size) for g in gaps}
  print(f'{NAME}: part 2, gaps {gaps} × widths {tuple(gap_widths)} × {c.population.seeds} '
        f'seeds in one population (bursts of {burst_steps} batches)', file=sys.stderr)
  swept = rarelearn.train(c, os.path.join(args.workdir, 'gaps'), overwrite=True,
                          progress=not args.smoke).summary
  by_gap = {g: {w: [] for w in gap_widths} for g in gaps}
  for i, mem in enumerate(swept['members']):  # seeds in order
    by_gap[mem['gap']][mem['width']].append(
        float(np.asarray(swept['final']['task_score'])[i, r]))
  return by_gap, burst_steps, num_steps


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, extra=_extra_flags)
  variant = ':smoke' if args.smoke else ''
  config = configlib.load_config_file(os.path.join(CONFIGS, 'injection.py') + variant)
  if not args.smoke:
    config.population.seeds = args.seeds
  r, m = config.mixture.rare_task, config.mixture
  print(f'{NAME}: part 1, configs/injection.py{variant}', file=sys.stderr)
  summary = rarelearn.train(config, os.path.join(args.workdir, 'injection'),
                            overwrite=True, progress=not args.smoke).summary
  rows = wd.read_metrics(os.path.join(args.workdir, 'injection'))
  widths = sorted({x['width'] for x in summary['members']})
  bursts = per_seed_bursts(rows, widths, r, m, config.population.seeds)
  traces, cos_cycle = {}, {}
  for w in widths:  # seed 0's, for the figure and the per-burst lists
    steps, score = _trajectory(rows, w, 'task_score', r)
    res = retention.retention(steps, score, m.gap, m.burst_steps, m.offset)
    traces[w] = {'steps': steps, 'score': score, 'gain': res['gain'],
                 'retained': res['retained'], 'cos': _trajectory(rows, w, 'ref_cos_batch')}
    cos_cycle[w] = retention.burst_aligned(*traces[w]['cos'], m.gap, m.offset)
  by_gap_seed, burst_steps, num_steps = _gap_sweep(args, config, r)
  by_gap = {g: {w: float(np.mean(v)) for w, v in row.items()} for g, row in by_gap_seed.items()}
  mean = lambda key: {w: float(np.mean(bursts[w][key])) for w in widths}
  results = {'rare_task': r, 'final_score_by_width': mean('final'),
             'retention_by_width': mean('retention'), 'burst_end_score_by_width': mean('burst_end'),
             'per_seed': {w: bursts[w] for w in widths}, 'final_score_by_gap': by_gap,
             'final_score_by_gap_per_seed': by_gap_seed,
             'burst_steps_by_gap': burst_steps, 'gap_sweep_steps': num_steps,
             'gains_by_width': {w: traces[w]['gain'] for w in widths},
             'retained_by_width': {w: traces[w]['retained'] for w in widths},
             'cos_by_burst_phase': cos_cycle, 'claims': fig4_claims(bursts, by_gap_seed),
             'seeds': config.population.seeds, 'smoke': args.smoke}
  fig = _figure(traces, widths, m, r, by_gap)
  for gap, scores in by_gap.items():
    print(f'{NAME}: gap {gap:5d}: final ℓ_{r} ' + ', '.join(f'N={w}: {v:.3f}'
                                                         for w, v in scores.items()))
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


def _extra_flags(parser):
  expt.seeds_flag(parser, 5, 'member')


def _figure(traces, widths, m, r, by_gap):
  fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
  cmap = plt.get_cmap('viridis')
  last = max(max(t['steps']) for t in traces.values())
  for ax in axes[:2]:
    for s in range(m.offset, last, m.gap):
      ax.axvspan(s, s + m.burst_steps, color='0.85', lw=0)
  for i, w in enumerate(widths):
    color = cmap(i / max(len(widths) - 1, 1))
    axes[0].plot(traces[w]['steps'], traces[w]['score'], color=color, label=f'N = {w}')
    axes[1].plot(*traces[w]['cos'], color=color, label=f'N = {w}')
  axes[0].set_ylabel(f'ℓ_{r} = 1 − L_{r}')
  axes[0].set_title(f'rare task {r}: bursts shaded (matched frequency)')
  axes[1].set_ylabel(f'cos(g, G_{r})')
  axes[1].set_title('batch gradient vs the rare task\'s gradient')
  for ax in axes[:2]:
    ax.set_xlabel('step')
    ax.legend(fontsize=8)
  gaps = sorted(by_gap)
  for i, w in enumerate(sorted(next(iter(by_gap.values())))):
    axes[2].plot(gaps, [by_gap[g][w] for g in gaps], 'o-', label=f'N = {w}',
                 color=cmap(i / max(len(by_gap[gaps[0]]) - 1, 1)))
  axes[2].set_xscale('log')
  axes[2].set_xlabel('gap G between bursts (same global frequency)')
  axes[2].set_ylabel(f'final ℓ_{r}')
  axes[2].set_title('gap sweep')
  axes[2].legend(fontsize=8)
  fig.tight_layout()
  return fig


if __name__ == '__main__':
  main()
