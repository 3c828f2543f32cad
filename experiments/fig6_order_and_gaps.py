"""Fig. 6: injected token tasks are learned in frequency order, and concentrating the same
number of instances into rarer injections (N every N batches) changes how well they are learned.

    python experiments/fig6_order_and_gaps.py --workdir=DIR [--smoke] [--rung=d64] [--seeds=5]
                                              [--gap_frequency=0.25] [--config=configs/olmo_tiny.py]

One rung of the config's ladder (``--rung``, default the middle one) at its peak learning rate
in the ladder (``optimizer.lr`` · (N / N_0)^(-1/3), ``rarelearn.population.ladder``) trained as one
population of members × ``--seeds`` seeds: (a) every ``task.frequencies`` value injected in
every batch, and (b) the frequency ``--gap_frequency`` injected as G batches' worth of
instances every G batches, G ∈ {1, 10, 20, 50, 100} — the same instances per sequence in the
long run (``tasks.tokens``: with batch 32 and f = 0.25, 8·G instances every G steps, spilling
over consecutive batches when 8·G > 32).

Claims, fixed before the run ("learned": test accuracy ≥ ``train.learned_threshold``, 0.8 on the
CPU ladder, from an evaluation on to the end; statistics per seed, Student t 95% intervals over
the seeds; trends are the mean over seeds of each seed's Spearman ρ over every frequency or gap,
holding only with permutation p below 0.05; ``rarelearn.analysis.claims``):
- ``learned_in_frequency_order``: ρ between frequency and the step from which the task is
  learned (never learned: twice the run's steps), ci95 below −0.5;
- ``larger_gaps_hurt_loss``: ρ between G and the final task train loss, ci95 above 0.5;
- ``larger_gaps_hurt_accuracy``: ρ between G and the final test accuracy, ci95 below −0.5.

Writes ``DIR/fig6_order_and_gaps.json``: ``claims``; ``rung`` (its shape and counts) and ``lr``;
- ``learning_step_by_frequency``: frequency → the first evaluated step from which the seeds'
  mean test accuracy stays ≥ the threshold (null if never); ``steps_to_learn_per_seed``
  [seeds][frequencies] as the first claim counts them;
- ``final_task_loss_by_gap``: G → final task loss at the LABEL position over the train pairs;
  ``final_test_accuracy_by_gap``: G → final test accuracy (means over seeds);
  ``gap_loss_ratio``: the loss at the largest G over the loss at G = 1;
and ``DIR/fig6_order_and_gaps.png``: test accuracy over steps per frequency, and the task loss
curves per gap.

What the paper reports (Huang et al. 2026, Fig. 6, OLMo models): tasks are learned in order of
frequency (more frequent first), and at equal global frequency spreading instances as N every N
batches (N up to 100) hurts learning as N grows, more for smaller models. What we measured:
docs/experiments.md "Reproducing the paper".

Runtime: about 25 minutes on a 2-core CPU with 5 seeds (``--smoke``: seconds; not the figure).
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
from rarelearn.analysis import claims, results as results_lib
from rarelearn.core import configlib
from rarelearn.population import ladder

NAME = 'fig6_order_and_gaps'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
GAPS = (1, 10, 20, 50, 100)


def _extra_flags(parser):
  parser.add_argument('--rung', default=None, help='rung name (default: the middle rung)')
  parser.add_argument('--gap_frequency', type=expt.number(gt=0, le=1), default=0.25,
                      help='instances per sequence of the gap ablation')
  expt.seeds_flag(parser, 5, 'member')


def steps_to_learn_per_seed(out: dict, num_freqs: int, threshold: float) -> np.ndarray:
  """[seeds, frequencies]: the first evaluated step from which the test accuracy stays ≥
  ``threshold`` (``results.learning_step``); a frequency never learned counts as twice the
  run's steps (after all)."""
  steps, acc = out['steps'], out['test_accuracy'][0, :num_freqs]  # [F, Z, P]
  never = 2 * int(steps[-1])
  return np.asarray([[never if (t := results_lib.learning_step(steps, acc[i, z], threshold))
                      is None else t for i in range(num_freqs)] for z in range(acc.shape[1])])


def fig6_claims(out: dict, num_freqs: int, threshold: float) -> list[dict]:
  """The docstring's claims (none with one seed, and a trend only over at least 3 frequencies
  or gaps: smoke)."""
  if out['test_accuracy'].shape[2] < 2:
    return []
  freqs = [float(f) for f in out['frequencies'][:num_freqs]]
  gaps = [int(g) for g in out['gaps'][num_freqs:]]
  final = lambda key: out[key][0, num_freqs:, :, -1].T  # [Z, gaps]
  made = []
  if len(freqs) >= 3:
    made.append(claims.trend('learned_in_frequency_order', 'more frequent tasks are learned '
                             'sooner', freqs, steps_to_learn_per_seed(out, num_freqs, threshold),
                             below=-0.5, over='frequency'))
  if len(gaps) >= 3:
    made += [claims.trend('larger_gaps_hurt_loss', 'at the same global frequency, the final '
                          'task loss rises with the gap between injections', gaps,
                          final('task_train_loss'), above=0.5, over='gap'),
             claims.trend('larger_gaps_hurt_accuracy', 'at the same global frequency, the final '
                          'test accuracy falls with the gap between injections', gaps,
                          final('test_accuracy'), below=-0.5, over='gap')]
  return made


def analyse(out: dict, num_freqs: int, threshold: float) -> dict:
  steps = out['steps']
  acc = out['test_accuracy'][0, :, :, :].mean(axis=1)  # [settings, P]
  loss = out['task_train_loss'][0, :, :, :].mean(axis=1)
  freqs = [float(f) for f in out['frequencies'][:num_freqs]]
  learn = {f: results_lib.learning_step(steps, acc[i], threshold) for i, f in enumerate(freqs)}
  gaps = [int(g) for g in out['gaps'][num_freqs:]]
  by_gap = {g: float(loss[num_freqs + i, -1]) for i, g in enumerate(gaps)}
  acc_by_gap = {g: float(acc[num_freqs + i, -1]) for i, g in enumerate(gaps)}
  return {
      'rung': out['rungs'][0], 'lr': float(out['lrs'][0]), 'learned_threshold': threshold,
      'learning_step_by_frequency': learn,
      'steps_to_learn_per_seed': steps_to_learn_per_seed(out, num_freqs, threshold).tolist(),
      'gap_frequency': float(out['frequencies'][num_freqs]) if gaps else None,
      'final_task_loss_by_gap': by_gap, 'final_test_accuracy_by_gap': acc_by_gap,
      'gap_loss_ratio': by_gap[max(gaps)] / by_gap[min(gaps)],
      'claims': fig6_claims(out, num_freqs, threshold),
      'seeds': int(out['test_accuracy'].shape[2]), 'wall_time_s': float(out['wall_time_s']),
  }


def figure(out: dict, num_freqs: int, results: dict):
  steps = out['steps']
  acc = out['test_accuracy'][0].mean(axis=1)
  loss = out['task_train_loss'][0].mean(axis=1)
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
  for i in range(num_freqs):
    ax1.plot(steps, acc[i], label=f'f = {out["frequencies"][i]:g}')
  ax1.axhline(results['learned_threshold'], color='gray', ls=':', lw=1)
  ax1.set(xlabel='step', ylabel='test accuracy', title=f'{out["rungs"][0]["name"]}: '
          'learned in frequency order')
  ax1.legend(fontsize=8)
  for i in range(num_freqs, len(out['gaps'])):
    ax2.plot(steps, loss[i], label=f'{out["gaps"][i]} × every {out["gaps"][i]} batches')
  ax2.set(xlabel='step', ylabel='task train loss (nats)', yscale='log',
          title=f'equal global frequency f = {results["gap_frequency"]:g}')
  ax2.legend(fontsize=8)
  fig.tight_layout()
  return fig


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  config = configlib.load_config_file(args.config)
  names = list(config.model.names)
  if args.rung is not None and args.rung not in names:
    expt.fail(NAME, f'--rung={args.rung}: expected one of {", ".join(names)}')
  keep = names.index(args.rung) if args.rung else len(names) // 2
  # the rung's own peak learning rate in the ladder (the N^-1/3 rule), not the smallest rung's
  config.optimizer.lr = float(ladder.Ladder(config, skeleton=True).lrs[keep])
  for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
    config.model[key] = (config.model[key][keep],)
  gaps = (1, 2, 5) if args.smoke else GAPS
  settings = ([(float(f), 1) for f in config.task.frequencies]
              + [(args.gap_frequency, g) for g in gaps])
  num_freqs = len(config.task.frequencies)
  config.task.frequencies, config.task.gaps = (tuple(f for f, _ in settings),
                                               tuple(g for _, g in settings))
  if not args.smoke:
    config.model.seeds = args.seeds
  print(f'{NAME}: rung {config.model.names[0]}, {len(settings)} settings × '
        f'{config.model.seeds} seeds', file=sys.stderr)
  try:
    out = ladder.grid(rarelearn.train(config, progress=not args.smoke))
  except ValueError as e:  # a bad config value or token file (TokenFileError)
    expt.fail(NAME, e)
  results = analyse(out, num_freqs, float(config.train.learned_threshold))
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  expt.write_results(args.workdir, NAME, results, figure(out, num_freqs, results))
  return results


if __name__ == '__main__':
  main()
