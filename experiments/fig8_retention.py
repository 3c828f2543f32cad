"""Fig. 8: under periodic injection, how much of what a burst of task instances taught is still
there at the next burst — per model size.

    python experiments/fig8_retention.py --workdir=DIR [--smoke] [--gap=100] [--seeds=3]
                                         [--gap_frequency=0.25] [--config=configs/olmo_tiny.py]

Every rung of the config's ladder (default ``configs/olmo_tiny.py``, T_CMP) trained with G
batches' worth of instances every G batches, G = ``--gap`` (100), at the global frequency
``--gap_frequency`` (0.25 instances per sequence: with batch 32, 800 instances every 100 steps,
filling the 25 batches from each injection step on; ``tasks.tokens``). The task loss over the
5,000 held-out pairs is evaluated at every injection's first step s_i, at its end e_i (the
first step without instances) and at the next injection s_{i+1} (evaluations every gcd(G,
burst) steps). Per injection (``measure.retention``, on −loss): the drop ℓ(s_i) − ℓ(e_i) and
the fraction of it still present at the next injection, (ℓ(s_i) − ℓ(s_{i+1})) / drop
(1: all kept; 0: back to where it was; < 0: worse than before the injection). A size's
retention is the drop-weighted mean Σ_i kept_i / Σ_i drop_i over the injections whose drop is at
least 0.05 nats: the first injection, while the model is still learning the background, drops
the task loss by ~0.2 nats and is followed by a rise several times larger, so the plain mean of
the ratios (also reported) follows that one injection.

Claims, fixed before the run (``--seeds`` seeds, 3 by default; intervals over the seeds;
trends are Spearman ρ over every rung; ``rarelearn.analysis.claims``):
- ``retention_rises_with_size``: ρ(size, drop-weighted retention), ci95 above 0.5;
- ``plain_retention_rises_with_size``: the same with the plain mean of the fractions;
- ``loss_climbs_back`` (a check: retention reaches 1 only if nothing is lost between
  injections): the largest drop-weighted retention over the sizes, ci95 below 1.

Writes ``DIR/fig8_retention.json``:
- ``retention_by_size``: size (non-embedding parameters) → drop-weighted retained fraction
  (held-out pairs); ``retention_train_pairs_by_size``: the same on the loss over the train
  pairs; ``mean_retention_by_size``: the plain mean of the per-injection fractions;
- ``drop_by_size``: mean drop per injection (nats); ``per_injection``: size → starts, drops,
  retained fractions and the losses before / after / at the next injection;
- ``claims`` (above); ``retention_per_seed`` and ``mean_retention_per_seed``: [seeds][sizes];
and ``DIR/fig8_retention.png``: the task loss over training per size with the injections
shaded, and retention against size.

What the paper reports (Huang et al. 2026, Fig. 8, OLMo with N instances every N batches,
N = 100): after each injection the task loss drops and then climbs back before the next one;
larger models keep more of the drop. At this CPU scale a batch holds 32 sequences, so an
injection spans several batches (the paper's batches hold far more sequences than N).
What we measured: docs/experiments.md "The mechanism in pretraining".

Runtime: about 15 minutes on a 2-core CPU with 3 seeds (``--smoke``: seconds; not the figure).
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
from rarelearn.population import ladder

NAME = 'fig8_retention'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
MIN_DROP = 0.05  # nats


def _retention_per_seed(out: dict, key: str, gap: int, burst: int) -> np.ndarray:
  """[seeds, rungs, 2]: each seed's drop-weighted and plain-mean retention of −``key``."""
  losses = out[key][:, 0]  # [R, Z, P]
  return np.asarray([[[rt['weighted_retained'], rt['mean_retained']] for rt in (
      retention.retention(out['steps'], -losses[r, z], gap, burst, 0, MIN_DROP)
      for r in range(losses.shape[0]))] for z in range(losses.shape[1])])


def fig8_claims(sizes, per_seed_ZxRx2: np.ndarray) -> list[dict]:
  """The docstring's claims (none with fewer than 3 rungs or 2 seeds: smoke)."""
  if len(sizes) < 3 or per_seed_ZxRx2.shape[0] < 2:
    return []
  sizes = [int(s) for s in sizes]
  weighted, plain = per_seed_ZxRx2[..., 0], per_seed_ZxRx2[..., 1]
  return [
      claims.trend('retention_rises_with_size', 'larger models keep more of what an injection '
                   'taught until the next one (drop-weighted retention, held-out pairs)',
                   sizes, weighted, above=0.5),
      claims.trend('plain_retention_rises_with_size', 'the same with the plain mean of the '
                   'per-injection fractions', sizes, plain, above=0.5),
      claims.over_seeds('loss_climbs_back', 'at every size the task loss climbs back between '
                        'injections', 'the largest drop-weighted retention over the sizes',
                        np.max(weighted, axis=1), below=1.0,
                        kind='check')]  # retention ≤ 1 unless the loss keeps falling


def analyse(out: dict, gap: int, burst: int) -> dict:
  steps = out['steps']
  sizes = [str(r['non_embedding']) for r in out['rungs']]
  per_seed = _retention_per_seed(out, 'task_test_loss', gap, burst)
  results = {'gap': gap, 'burst_steps': burst, 'frequency': float(out['frequencies'][0]),
             'retention_by_size': {}, 'retention_train_pairs_by_size': {},
             'mean_retention_by_size': {}, 'drop_by_size': {},
             'retention_per_seed': per_seed[..., 0].tolist(),
             'mean_retention_per_seed': per_seed[..., 1].tolist(),
             'claims': fig8_claims(sizes, per_seed), 'seeds': int(per_seed.shape[0]),
             'per_injection': {}, 'rungs': out['rungs'], 'wall_time_s': float(out['wall_time_s'])}
  for r, size in enumerate(sizes):
    test = out['task_test_loss'][r, 0].mean(axis=0)  # mean over seeds
    train = out['task_train_loss'][r, 0].mean(axis=0)
    rt = retention.retention(steps, -test, gap, burst, 0, MIN_DROP)
    rt_train = retention.retention(steps, -train, gap, burst, 0, MIN_DROP)
    at = dict(zip(steps.tolist(), test.tolist()))
    results['retention_by_size'][size] = rt['weighted_retained']
    results['retention_train_pairs_by_size'][size] = rt_train['weighted_retained']
    results['mean_retention_by_size'][size] = rt['mean_retained']
    results['drop_by_size'][size] = rt['mean_gain']
    results['per_injection'][size] = {
        'starts': rt['starts'], 'drop': rt['gain'], 'retained': rt['retained'],
        'loss_before': [at[s] for s in rt['starts']],
        'loss_after': [at[s + burst] for s in rt['starts']],
        'loss_next': [at[s + gap] for s in rt['starts']]}
  return results


def figure(out: dict, results: dict):
  steps, gap, burst = out['steps'], results['gap'], results['burst_steps']
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={'width_ratios': [2, 1]})
  for r, rung in enumerate(out['rungs']):
    ax1.plot(steps, out['task_test_loss'][r, 0].mean(axis=0), lw=1,
             label=f'{rung["name"]} ({rung["non_embedding"] / 1e3:.0f}k)')
  for s in range(0, int(steps[-1]), gap):
    ax1.axvspan(s, s + burst, color='gray', alpha=0.15, lw=0)
  ax1.set(xlabel='step', ylabel='task loss, held-out pairs (nats)',
          title=f'{burst} batches of instances every {gap} batches (shaded)')
  ax1.legend(fontsize=8)
  sizes = [r['non_embedding'] for r in out['rungs']]
  ax2.plot(sizes, [results['retention_by_size'][str(s)] for s in sizes], 'o-',
           label='held-out pairs')
  ax2.plot(sizes, [results['retention_train_pairs_by_size'][str(s)] for s in sizes], 's--',
           label='train pairs')
  ax2.axhline(0, color='gray', lw=0.8)
  ax2.set(xscale='log', xlim=(min(sizes) / 1.5, max(sizes) * 1.5),
          xlabel='non-embedding parameters',
          ylabel='fraction of the drop kept at the next injection', title='retention')
  ax2.legend(fontsize=8)
  fig.tight_layout()
  return fig


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=expt.periodic_flags)
  config = configlib.load_config_file(args.config)
  gap = 16 if args.smoke else args.gap
  try:
    burst = ladder.periodic_burst(config, args.gap_frequency, gap)
    config.train.steps_per_chunk = math.gcd(gap, burst)
    if config.train.num_steps % config.train.steps_per_chunk:
      raise ValueError(f'train.num_steps={config.train.num_steps} must be a multiple of '
                       f'{config.train.steps_per_chunk} (gcd of the gap and the burst)')
    print(f'{NAME}: {burst} batches of instances every {gap}, f = {args.gap_frequency}',
          file=sys.stderr)
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
