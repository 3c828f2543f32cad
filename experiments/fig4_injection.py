"""Fig. 4: a rare task injected at its own frequency is forgotten by a narrow model, kept by a wide one.

    python experiments/fig4_injection.py --workdir=DIR [--smoke]

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

Writes ``DIR/fig4_injection.json``: ``final_score_by_width`` (ℓ_12 at the end of part 1),
``retention_by_width`` (mean fraction of a burst's gain kept until the next burst; bursts that
gain < 0.05 are left out), ``burst_end_score_by_width`` (mean ℓ_12 at burst ends),
``final_score_by_gap`` (G → width → final ℓ_12), ``burst_steps_by_gap``,
``cos_by_burst_phase`` (width → steps since the last burst's start → mean cos(g, G_12) over the
bursts: Mechanism I's alignment around a burst); and
``DIR/fig4_injection.png``: ℓ_12 over time with the bursts shaded, the cosine traces, and final
ℓ_12 against G per width. Run directories are ``DIR/injection`` and ``DIR/gaps``.

What the paper reports (Huang et al. 2026, arXiv 2605.29548, Fig. 4, 6b and 8): with the rare task
withheld for G steps and then injected, small models learn it during the burst and forget it
before the next (learn-then-forget), large models accumulate it; in OLMo pretraining larger gaps
at the same frequency hurt. A quick check of this toy recorded in the issue: ℓ_r ≈ 0.6 at each
burst's end at width 32, falling below 0 before the next; ℓ_r = 1.0 kept at width 256.

Runtime: about 7 minutes on a 2-core CPU (``--smoke``: about 20 s; not the figure's numbers).
"""
from __future__ import annotations

import math
import os
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import configlib, expt, run
from rarelearn.measure import retention
from rarelearn.tasks import mixture

NAME = 'fig4_injection'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
GAPS = (1, 10, 50, 200, 1000)
GAP_WIDTHS = (32, 64, 128, 256)
GAP_STEPS = 5000
SMOKE_GAPS, SMOKE_GAP_STEPS = (1, 5), 20


def _trajectory(rows, width, key, index=None):
  mine = [r for r in rows if r['width'] == width and r['seed'] == 0 and key in r]
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


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv)
  variant = ':smoke' if args.smoke else ''
  config = configlib.load_config_file(os.path.join(CONFIGS, 'injection.py') + variant)
  r, m = config.mixture.rare_task, config.mixture
  print(f'{NAME}: part 1, configs/injection.py{variant}', file=sys.stderr)
  summary = run.train_and_evaluate(config, os.path.join(args.workdir, 'injection'),
                                   overwrite=True, progress=not args.smoke)
  rows = run.read_metrics(os.path.join(args.workdir, 'injection'))
  widths = sorted({x['width'] for x in summary['members']})
  final, kept, burst_end, traces, cos_cycle = {}, {}, {}, {}, {}
  for w in widths:
    steps, score = _trajectory(rows, w, 'task_score', r)
    res = retention.retention(steps, score, m.gap, m.burst_steps, m.offset)
    final[w], kept[w] = score[-1], res['mean_retained']
    burst_end[w] = float(np.mean([score[steps.index(s + m.burst_steps)] for s in res['starts']]))
    traces[w] = {'steps': steps, 'score': score, 'gain': res['gain'],
                 'retained': res['retained'], 'cos': _trajectory(rows, w, 'ref_cos_batch')}
    cos_cycle[w] = retention.burst_aligned(*traces[w]['cos'], m.gap, m.offset)

  gaps, gap_widths = (SMOKE_GAPS, config.population.widths) if args.smoke else (GAPS, GAP_WIDTHS)
  num_steps = SMOKE_GAP_STEPS if args.smoke else GAP_STEPS
  c = gap_config(config, gaps, gap_widths, num_steps)
  freq = configlib.frequencies(c)[r]
  burst_steps = {g: mixture.shortest_burst(freq, g, c.train.batch_size) for g in gaps}
  print(f'{NAME}: part 2, gaps {gaps} × widths {tuple(gap_widths)} in one population '
        f'(bursts of {burst_steps} batches)', file=sys.stderr)
  swept = run.train_and_evaluate(c, os.path.join(args.workdir, 'gaps'), overwrite=True,
                                 progress=not args.smoke)
  by_gap = {g: {} for g in gaps}
  for i, mem in enumerate(swept['members']):
    by_gap[mem['gap']][mem['width']] = float(np.asarray(swept['final']['task_score'])[i, r])

  results = {'rare_task': r, 'final_score_by_width': final, 'retention_by_width': kept,
             'burst_end_score_by_width': burst_end, 'final_score_by_gap': by_gap,
             'burst_steps_by_gap': burst_steps, 'gap_sweep_steps': num_steps,
             'gains_by_width': {w: traces[w]['gain'] for w in widths},
             'retained_by_width': {w: traces[w]['retained'] for w in widths},
             'cos_by_burst_phase': cos_cycle,
             'smoke': args.smoke}
  fig = _figure(traces, widths, m, r, by_gap)
  for w in widths:
    print(f'{NAME}: width {w}: ℓ_{r} at burst ends {burst_end[w]:.3f}, retention {kept[w]:.3f}, '
          f'final {final[w]:.3f}')
  for gap, scores in by_gap.items():
    print(f'{NAME}: gap {gap:5d}: final ℓ_{r} ' + ', '.join(f'N={w}: {v:.3f}'
                                                         for w, v in scores.items()))
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


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
