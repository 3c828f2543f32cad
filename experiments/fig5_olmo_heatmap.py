"""Fig. 5: a token task injected into pretraining is learned by larger models at lower frequency.

    python experiments/fig5_olmo_heatmap.py --workdir=DIR [--smoke] [--tasks=cmp,add]
                                            [--config=configs/olmo_tiny.py]

Trains the config's model ladder × injection frequencies as one population per rung
(``rarelearn.ladder``; default ``configs/olmo_tiny.py``: five rungs d_model 16…128, frequencies
0.5, 0.2, 0.1, 0.05 instances per sequence, 2,000 steps of batch 32, sequences of 16 tokens)
once per task in ``--tasks`` (default ``cmp``; ``add`` needs far more steps — see below), and
reads off each cell's final test accuracy over the 5,000 held-out pairs and task train loss.

Writes ``DIR/fig5_olmo_heatmap.json``:
- ``test_accuracy``: task → size → frequency → final test accuracy (sizes are non-embedding
  parameter counts; frequencies instances per sequence);
- ``task_train_loss``: the same layout, the loss at the LABEL position over the train pairs;
- ``min_learned_frequency_by_size``: task → size → the lowest frequency whose test accuracy is
  ≥ ``train.learned_threshold`` (null if none);
- ``frontier_non_increasing`` / ``largest_beats_smallest``: per task, whether that minimum
  frequency never rises with size and is strictly lower for the largest rung than for the
  smallest (a rung that learns at no frequency counts as frequency +∞);
- ``learning_step``: task → size → frequency → the first evaluated step from which the test
  accuracy stays ≥ the threshold (null if never); ``grokking_delay``: that step minus the step
  from which the accuracy on the train pairs stays ≥ the threshold (null if either never);
- ``rungs`` (name, d_model, heads, layers, parameter counts, peak lr), ``steps_per_s`` (the
  whole ladder's, compilation included),
  ``wall_time_s``;
``DIR/fig5_olmo_heatmap.png``: size × frequency heatmaps of test accuracy and task train loss
for every task; and ``DIR/fig5_olmo_heatmap.npz``: every evaluation of every cell
(``<task>.<key>`` arrays [rungs, frequencies, seeds, evaluations] and ``<task>.steps``).

What the paper reports (Huang et al. 2026, Fig. 5, OLMo 4M–4B on real pretraining data): the
minimum injection frequency at which T_CMP and T_ADD are learned falls with model size; small
models never learn them at the lowest frequencies. A throwaway check at this CPU scale recorded
in the issue: at frequencies 0.5/0.2/0.1/0.05, test accuracy d16 .78/.37/.13/.05, d32
.90/.72/.30/.17, d64 .91/.70/.37/.25, d128 .935/.85/.51 (2,000 steps), and T_ADD at d128,
f = 0.5 stayed at chance after 2,000 steps — it needs an accelerator:
``--config=configs/olmo_tiny.py:long --tasks=add`` (batch 512, 10,000 steps; 317 s on one H200:
learned from f = 1, 0.5, 0.2, 0.2 by d32…d128, never by d16; README "The transformer track").

Runtime: about 14 minutes on a 2-core CPU for ``cmp`` (``--smoke``: seconds; not the figure).
"""
from __future__ import annotations

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import expt, ladder
from rarelearn import results as results_lib

NAME = 'fig5_olmo_heatmap'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')


def min_learned(acc_RxF: np.ndarray, freqs, threshold: float) -> list[float | None]:
  """Per rung, the lowest frequency with accuracy ≥ threshold (None if none)."""
  by_rung, _ = results_lib.frontier(np.asarray(acc_RxF) >= threshold, range(len(acc_RxF)), freqs)
  return list(by_rung.values())


def frontier_checks(mins: list[float | None]) -> tuple[bool, bool]:
  vals = [np.inf if m is None else m for m in mins]
  return (all(b <= a for a, b in zip(vals, vals[1:])), vals[-1] < vals[0])


def analyse(outs: dict, threshold: float) -> dict:
  results = {'test_accuracy': {}, 'task_train_loss': {}, 'min_learned_frequency_by_size': {},
             'frontier_non_increasing': {}, 'largest_beats_smallest': {}, 'steps_per_s': {},
             'learning_step': {}, 'grokking_delay': {}, 'learned_threshold': threshold}
  for task, out in outs.items():
    sizes = [str(r['non_embedding']) for r in out['rungs']]
    freqs = [float(f) for f in out['frequencies']]
    acc = out['test_accuracy'][:, :, :, -1].mean(axis=2)  # [R, F], mean over seeds
    loss = out['task_train_loss'][:, :, :, -1].mean(axis=2)
    results['test_accuracy'][task] = {s: dict(zip(map(str, freqs), row.tolist()))
                                      for s, row in zip(sizes, acc)}
    results['task_train_loss'][task] = {s: dict(zip(map(str, freqs), row.tolist()))
                                        for s, row in zip(sizes, loss)}
    steps = out['steps']
    test_acc = out['test_accuracy'].mean(axis=2)  # [R, F, P]
    train_acc = out['train_accuracy'].mean(axis=2)
    learn, delay = {}, {}
    for r, size in enumerate(sizes):
      learn[size], delay[size] = {}, {}
      for i, f in enumerate(freqs):
        test_step = results_lib.steps_to_reach(steps, test_acc[r, i] >= threshold)
        train_step = results_lib.steps_to_reach(steps, train_acc[r, i] >= threshold)
        learn[size][str(f)] = test_step
        delay[size][str(f)] = (test_step - train_step if None not in (test_step, train_step)
                               else None)
    results['learning_step'][task], results['grokking_delay'][task] = learn, delay
    mins = min_learned(acc, freqs, threshold)
    results['min_learned_frequency_by_size'][task] = dict(zip(sizes, mins))
    monotone, beats = frontier_checks(mins)
    results['frontier_non_increasing'][task] = monotone
    results['largest_beats_smallest'][task] = beats
    results['steps_per_s'][task] = float(out['steps_per_s'])
    results['rungs'] = [dict(r, lr=float(lr)) for r, lr in zip(out['rungs'], out['lrs'])]
  results['wall_time_s'] = sum(float(o['wall_time_s']) for o in outs.values())
  return results


def figure(outs: dict, results: dict):
  fig, axes = plt.subplots(len(outs), 2, figsize=(10, 3.6 * len(outs)), squeeze=False)
  for row, (task, out) in enumerate(outs.items()):
    freqs = out['frequencies']
    names = [f"{r['name']}\n{r['non_embedding'] / 1e3:.0f}k" for r in out['rungs']]
    for col, (key, cmap, title) in enumerate((('test_accuracy', 'viridis', 'test accuracy'),
                                              ('task_train_loss', 'magma_r', 'task train loss'))):
      ax = axes[row, col]
      grid = out[key][:, :, :, -1].mean(axis=2).T  # [F, R]
      im = ax.imshow(grid, cmap=cmap, aspect='auto', origin='lower')
      ax.set_xticks(range(len(names)), names, fontsize=7)
      ax.set_yticks(range(len(freqs)), [f'{f:g}' for f in freqs])
      ax.set_xlabel('model (non-embedding parameters)')
      ax.set_ylabel('instances per sequence')
      ax.set_title(f'T_{task.upper()}: {title}')
      for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, f'{v:.2f}', ha='center', va='center', fontsize=7,
                color='w' if (v < 0.5) == (col == 0) else 'k')
      fig.colorbar(im, ax=ax)
  fig.suptitle(f'learned at test accuracy ≥ {results["learned_threshold"]}')
  fig.tight_layout()
  return fig


def _extra_flags(parser):
  parser.add_argument('--tasks', default='cmp', help='comma-separated: cmp, add')


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  try:
    outs, config = ladder.train_tasks(args.config, [t for t in args.tasks.split(',') if t],
                                      progress=not args.smoke)
  except ValueError as e:  # a bad config value or token file (TokenFileError)
    expt.fail(NAME, e)
  results = analyse(outs, float(config.train.learned_threshold))
  np.savez_compressed(os.path.join(args.workdir, f'{NAME}.npz'),
                      **{f'{task}.{key}': value for task, out in outs.items()
                         for key, value in out.items() if isinstance(value, np.ndarray)})
  expt.write_results(args.workdir, NAME, results, figure(outs, results))
  return results


if __name__ == '__main__':
  main()
