"""Fig. 9: is the pretraining gradient aligned with the task's direction on the task's neurons —
at injection steps and between them, split into its task-token and other-token parts?

    python experiments/fig9_gradient_decomposition.py --workdir=DIR [--smoke] [--gap=100]
        [--gap_frequency=0.25] [--neurons=16] [--seeds=3] [--config=configs/olmo_tiny.py]

Every rung of the config's ladder (default ``configs/olmo_tiny.py``, T_CMP) × ``--seeds`` seeds
trained with G batches' worth of instances every G batches (as in fig8_retention.py: G = 100,
0.25 instances per sequence, so each injection fills 25 batches). Inside the jitted training
loop (``measure.decomposition``, ``lm_training.Hyper.probe_*``), at probe steps: the task neurons
are the top ``--neurons`` first-layer MLP units by the norm of g_r (the task loss's gradient over
all 10,000 pairs); the batch gradient g is split into g_t (targets written by an instance) and g_nt
(all other targets) in one backward pass; cos(g, g_r), cos(g_t, g_r) and cos(g_nt, g_r) over
those units' parameters, and two nulls for the last on the same parameters: cos(g_nt, u) with
u a random direction (a new one per probe) and cos(g_nt, g_s) with g_s the gradient of the same
pairs with their answers shuffled. Probes: ``INJECTION_PHASES`` of each cycle fall on batches
with instances, ``BETWEEN_PHASES`` on batches without (fractions of G, rounded; at the default,
steps 0 and 12 of every 100 at injection and 37, 62, 87 between). Every probe costs two
gradients over the 10,000 pairs (one forward pass), about 40 training steps of the same model.

Claims, fixed before the run (statistics per seed over the probes at injection steps, 95%
intervals over the seeds; trends are Spearman ρ over every rung; ``rarelearn.analysis.claims``). In
more dimensions any cosine spreads less (a random direction's spread falls as one over the root
of the block's 3·d_model·K coordinates), so the paper's shrinking spread is tested against the
nulls:
- ``gnt_spread_shrinks``: the std of cos(g_nt, g_r) falls with size, ci95 below −0.5;
- ``gnt_spread_shrinks_beyond_random``: the ratio of that std to the std of cos(g_nt, u) falls
  with size, ci95 below −0.5;
- ``gnt_spread_shrinks_beyond_shuffled``: the ratio of that std to the std of cos(g_nt, g_s)
  falls with size, ci95 below −0.5;
- ``g_aligned_at_injection`` (a check: g contains g_r on batches full of instances): the
  smallest over sizes of the mean cos(g, g_r), ci95 above 0.

Writes ``DIR/fig9_gradient_decomposition.json``:
- ``claims`` (above); ``spread_at_injection_per_seed``: cosine → [seeds][sizes] std;
- ``cosines``: size (non-embedding parameters) → {``at_injection``, ``between``, ``all``} →
  {``cos_g``, ``cos_gt``, ``cos_gnt``, ``cos_gnt_random``, ``cos_gnt_shuffled``} → {mean, std,
  n} over the probes of every seed (cos_gt has no value between injections: g_t = 0 there);
- ``paper``: the paper's numbers below, for the figure;
and ``DIR/fig9_gradient_decomposition.png``: mean ± std of each cosine against size, at
injection and between, with the paper's values beside ours, and the traces over training.

What the paper reports (Huang et al. 2026, Fig. 9, OLMo, T_CMP, 100 instances every 100
batches): cos(g, g_r) at injection steps 0.08 ± 0.02 (1B) and 0.04 ± 0.04 (300M), erratic for
20M; cos(g_nt, g_r) 0.10 ± 0.09 (20M) vs ≈0 ± 0.02 (1B): in small models the other tokens'
gradient moves the task neurons along (or against) the task's direction, in large ones it is
orthogonal to it. What we measured: docs/experiments.md "Reproducing the paper".

Runtime: about 30 minutes on a 2-core CPU with 3 seeds (``--smoke``: seconds; not the figure).
"""
from __future__ import annotations

import os
import sys

import matplotlib
import ml_collections

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

import rarelearn
from rarelearn import expt
from rarelearn.analysis import claims
from rarelearn.core import configlib
from rarelearn.population import ladder, lm_training

NAME = 'fig9_gradient_decomposition'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
INJECTION_PHASES = (0.0, 0.125)  # fractions of the gap (rounded down), inside the burst
BETWEEN_PHASES = (0.375, 0.625, 0.875)
COSINES = ('cos_g', 'cos_gt', 'cos_gnt', 'cos_gnt_random', 'cos_gnt_shuffled')
NULLS = ('cos_gnt_random', 'cos_gnt_shuffled')
LABELS = {'cos_g': 'cos(g, g_r)', 'cos_gt': 'cos(g_t, g_r)', 'cos_gnt': 'cos(g_nt, g_r)',
          'cos_gnt_random': 'null: cos(g_nt, random)', 'cos_gnt_shuffled': 'null: cos(g_nt, g_s)'}
PAPER = {'cos_g_at_injection': {'1B': (0.08, 0.02), '300M': (0.04, 0.04), '20M': 'erratic'},
         'cos_gnt': {'20M': (0.10, 0.09), '1B': (0.0, 0.02)}}


def _extra_flags(parser):
  expt.periodic_flags(parser)
  parser.add_argument('--neurons', type=expt.integer(), default=16,
                      help='task neurons K (≤ the smallest rung\'s MLP width)')


def probe_phases(gap: int, burst: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(phases with instances, phases without) of the injection cycle."""
  inject = sorted({min(int(p * gap), burst - 1) for p in INJECTION_PHASES})
  between = sorted({max(int(p * gap), burst) for p in BETWEEN_PHASES} - set(inject))
  return tuple(inject), tuple(between)


def _stats(values) -> dict:
  v = np.asarray(values, float)
  v = v[np.isfinite(v)]
  return {'mean': float(v.mean()) if v.size else None,
          'std': float(v.std()) if v.size else None, 'n': int(v.size)}


def _spread_per_seed(probes_RxZxTxK: np.ndarray, mask_T: np.ndarray, key: str) -> np.ndarray:
  """[seeds, rungs]: the standard deviation of a cosine over the probes in ``mask_T``."""
  values = probes_RxZxTxK[:, :, mask_T, lm_training.PROBES.index(key)]
  return np.nanstd(values, axis=2).T


def fig9_claims(sizes, probes_RxZxTxK: np.ndarray, injecting: np.ndarray) -> list[dict]:
  """The docstring's claims (none with fewer than 3 rungs or 2 seeds: smoke)."""
  if len(sizes) < 3 or probes_RxZxTxK.shape[1] < 2:
    return []
  sizes = [int(s) for s in sizes]
  spread = {k: _spread_per_seed(probes_RxZxTxK, injecting, k) for k in ('cos_gnt',) + NULLS}
  cos_g = np.nanmean(probes_RxZxTxK[:, :, injecting, lm_training.PROBES.index('cos_g')], axis=2).T
  out = [claims.trend('gnt_spread_shrinks', 'the spread (std over the probes at injection) of '
                      'cos(g_nt, g_r) on the task neurons falls with size', sizes,
                      spread['cos_gnt'], below=-0.5)]
  for null, what in (('cos_gnt_random', 'a random direction'),
                     ('cos_gnt_shuffled', 'the shuffled task\'s gradient')):
    out.append(claims.trend(
        f'gnt_spread_shrinks_beyond_{null.split("_")[-1]}', 'the spread of cos(g_nt, g_r) '
        f'falls with size relative to that of cos(g_nt, ·) with {what} on the same neurons '
        '(the ratio of the two spreads)', sizes, spread['cos_gnt'] / spread[null], below=-0.5))
  out.append(claims.over_seeds('g_aligned_at_injection', 'at injection steps the batch '
                               'gradient points along the task\'s on the task neurons, at every '
                               'size', 'the smallest over sizes of the mean cos(g, g_r) at '
                               'injection', np.min(cos_g, axis=1), above=0.0,
                               kind='check'))  # g contains g_r on batches of instances
  return out


def analyse(out: dict, gap: int, burst: int) -> dict:
  probes = out['probes']  # [R, 1, S, steps, PROBES]
  sizes = [str(r['non_embedding']) for r in out['rungs']]
  steps = np.arange(probes.shape[3])
  probed = np.isfinite(probes[0, 0, 0, :, 0])
  injecting = probed & (steps % gap < burst)
  cos = {}
  for r, size in enumerate(sizes):
    p = probes[r, 0]  # [S, steps, PROBES]
    cos[size] = {}
    for where, mask in (('at_injection', injecting), ('between', probed & ~injecting),
                        ('all', probed)):
      cos[size][where] = {k: _stats(p[:, mask, lm_training.PROBES.index(k)]) for k in COSINES}
  spread = {k: _spread_per_seed(probes[:, 0], injecting, k).tolist()
            for k in ('cos_gnt',) + NULLS}
  return {'gap': gap, 'burst_steps': burst, 'frequency': float(out['frequencies'][0]),
          'probe_steps': {'at_injection': steps[injecting].tolist(),
                          'between': steps[probed & ~injecting].tolist()},
          'cosines': cos, 'spread_at_injection_per_seed': spread,
          'claims': fig9_claims(sizes, probes[:, 0], injecting),
          'seeds': int(probes.shape[2]),
          'paper': PAPER, 'rungs': out['rungs'], 'wall_time_s': float(out['wall_time_s'])}


def figure(out: dict, results: dict):
  sizes = [r['non_embedding'] for r in out['rungs']]
  fig, axes = plt.subplots(1, 3, figsize=(15, 4))
  for ax, where in zip(axes[:2], ('at_injection', 'between')):
    for k, marker, color in zip(COSINES, 'osd^v', ('C0', 'C1', 'C2', '0.5', '0.75')):
      stats = [results['cosines'][str(s)][where][k] for s in sizes]
      if all(st['mean'] is None for st in stats):
        continue
      ax.errorbar(sizes, [np.nan if st['mean'] is None else st['mean'] for st in stats],
                  yerr=[0 if st['std'] is None else st['std'] for st in stats], marker=marker,
                  color=color, capsize=3, label=LABELS[k])
    ax.axhline(0, color='gray', lw=0.8)
    ax.set(xscale='log', xlabel='non-embedding parameters', ylabel='cosine on task neurons',
           title=where.replace('_', ' '))
  fig.text(0.01, -0.02, 'paper (OLMo, T_CMP, 100 instances every 100 batches): cos(g, g_r) at '
           'injection 0.08 ± 0.02 (1B), 0.04 ± 0.04 (300M), erratic (20M); cos(g_nt, g_r) '
           '0.10 ± 0.09 (20M), ≈0 ± 0.02 (1B)', fontsize=8, va='top')
  for ax in axes[:2]:
    ax.legend(fontsize=7, loc='upper right')
  probes = out['probes']
  steps = np.arange(probes.shape[3])
  for r in (0, len(sizes) - 1):
    trace = probes[r, 0, 0, :, lm_training.PROBES.index('cos_gnt')]
    keep = np.isfinite(trace)
    axes[2].plot(steps[keep], trace[keep], '.', ms=3,
                 label=f'{out["rungs"][r]["name"]}: cos(g_nt, g_r)')
  axes[2].set(xlabel='step', ylabel='cosine', title='over training')
  axes[2].legend(fontsize=7)
  fig.tight_layout()
  return fig


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  config = configlib.load_config_file(args.config)
  gap = 16 if args.smoke else args.gap  # smoke: 4 batches of instances every 16, as fig8
  try:
    burst = ladder.periodic_burst(config, args.gap_frequency, gap)
    inject, between = probe_phases(gap, burst)
    config.probe = ml_collections.ConfigDict(
        {'neurons': args.neurons, 'period': gap, 'phases': inject + between})
    print(f'{NAME}: {burst} batches of instances every {gap}, f = {args.gap_frequency}; probes '
          f'at phases {inject} (injection) and {between} (between) of every {gap} steps, '
          f'K = {args.neurons}', file=sys.stderr)
    if not args.smoke:
      config.model.seeds = args.seeds
    config.task.frequencies, config.task.gaps = (args.gap_frequency,), (gap,)
    out = ladder.grid(rarelearn.train(config, progress=not args.smoke))
  except ValueError as e:  # a bad flag, config value or token file
    expt.fail(NAME, e)
  results = analyse(out, gap, burst)
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  expt.write_results(args.workdir, NAME, results, figure(out, results))
  return results


if __name__ == '__main__':
  main()
