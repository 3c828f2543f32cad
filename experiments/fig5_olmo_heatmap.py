"""Fig. 5: a token task injected into pretraining is learned by larger models at lower frequency.

    python experiments/fig5_olmo_heatmap.py --workdir=DIR [--smoke] [--tasks=cmp,add]
                                            [--seeds=3] [--config=configs/olmo_tiny.py]

Trains the config's model ladder × injection frequencies × ``--seeds`` seeds as one population
per rung (``rarelearn.population.ladder``; default ``configs/olmo_tiny.py``: five rungs d_model
16…128,
frequencies 0.5, 0.2, 0.1, 0.05 instances per sequence, 2,000 steps of batch 32, sequences of 16
tokens) once per task in ``--tasks`` (default ``cmp``; ``add`` needs far more steps than a CPU
gives — ``configs/olmo_tiny.py:long`` on an accelerator), and reads off each cell's final test
accuracy over the 5,000 held-out pairs and task train loss. The runs live in
``DIR/ladder_<task>`` (resumable; ``fig7_features.py`` with the same DIR reads them back).

Claims, fixed before the run ("learned": final test accuracy ≥ the track's threshold in the
config, ``train.learned_threshold``: 0.8 on the CPU ladder, 0.9 on the accelerator ladders;
statistics per seed, 95% intervals over the seeds; ``rarelearn.analysis.claims``), per task:
- ``<task>_frontier_falls_with_size``: the lowest frequency a rung learns falls with size —
  Spearman ρ between the non-embedding parameter count and the seeds' mean lowest learned
  frequency over every rung (a rung that learns at no frequency of the grid counts as twice the
  grid's highest), ci95 below −0.5;
- ``<task>_accuracy_rises_with_size_at_<f>``: at each frequency f the final test accuracy rises
  with size — Spearman ρ over every rung, ci95 above 0.5.

Writes ``DIR/fig5_olmo_heatmap.json``:
- ``claims`` (above) and ``sensitivity``: task → per threshold in 0.7, 0.75, 0.8, 0.85, 0.9 the
  seeds' mean lowest learned frequency per size and the frontier claim's ρ and verdict;
- ``test_accuracy``: task → size → frequency → final test accuracy, mean over seeds (sizes are
  non-embedding parameter counts; frequencies instances per sequence);
- ``task_train_loss``: the same layout, the loss at the LABEL position over the train pairs;
- ``min_learned_frequency_by_size``: task → size → the lowest frequency whose mean test
  accuracy is ≥ the threshold (null if none); ``min_learned_frequency_per_seed``: task →
  [seeds][sizes] as the frontier claim counts it;
- ``learning_step``: task → size → frequency → the first evaluated step from which the mean
  test accuracy stays ≥ the threshold (null if never); ``grokking_delay``: that step minus the
  step from which the accuracy on the train pairs stays ≥ the threshold (null if either never);
- ``rungs`` (name, d_model, heads, layers, parameter counts, peak lr), ``seeds``,
  ``wall_time_s``;
``DIR/fig5_olmo_heatmap.png``: size × frequency heatmaps of test accuracy and task train loss
for every task; and ``DIR/fig5_olmo_heatmap.npz``: every evaluation of every cell
(``<task>.<key>`` arrays [rungs, frequencies, seeds, evaluations] and ``<task>.steps``).

What the paper reports (Huang et al. 2026, arXiv 2605.29548, Fig. 5, OLMo 4M–4B on real
pretraining data): the minimum injection frequency at which T_CMP and T_ADD are learned falls
with model size; small models never learn them at the lowest frequencies. What we measured:
docs/experiments.md "Reproducing the paper" (its committed ``docs/results`` JSON).

Runtime: about 40 minutes on a 2-core CPU for ``cmp`` with 3 seeds (``--smoke``: seconds; not
the figure).
"""
from __future__ import annotations

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import expt
from rarelearn.analysis import claims, results as results_lib

NAME = 'fig5_olmo_heatmap'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')


SENSITIVITY = (0.7, 0.75, 0.8, 0.85, 0.9)  # "learned" thresholds around the track's own


def min_learned(acc_RxF: np.ndarray, freqs, threshold: float) -> list[float | None]:
  """Per rung, the lowest frequency with accuracy ≥ threshold (None if none):
  ``results.frontier``."""
  by_rung, _ = results_lib.frontier(np.asarray(acc_RxF) >= threshold, range(len(acc_RxF)), freqs)
  return list(by_rung.values())


def frontier_per_seed(acc_RxFxZ: np.ndarray, freqs, threshold: float) -> np.ndarray:
  """[seeds, rungs]: each seed's lowest learned frequency per rung; a rung that learns at no
  frequency of the grid counts as twice the grid's highest (a rank above every learned one)."""
  above = 2 * max(freqs)
  return np.asarray([[above if m is None else m for m in min_learned(acc_RxFxZ[:, :, z], freqs,
                                                                      threshold)]
                     for z in range(acc_RxFxZ.shape[2])])


def task_claims(task: str, sizes, freqs, acc_RxFxZ: np.ndarray, threshold: float) -> list[dict]:
  """The docstring's claims for one task from its final test accuracies [rungs, frequencies,
  seeds] ("learned" at ``threshold``); none with fewer than 3 rungs or 2 seeds (smoke)."""
  if len(sizes) < 3 or acc_RxFxZ.shape[2] < 2:
    return []
  sizes = [int(s) for s in sizes]
  out = [claims.trend(
      f'{task}_frontier_falls_with_size', f'T_{task.upper()}: the lowest injection frequency '
      f'learned (test accuracy ≥ {threshold:g}) falls with model size',
      sizes, frontier_per_seed(acc_RxFxZ, freqs, threshold), below=-0.5)]
  for i, f in enumerate(freqs):
    out.append(claims.trend(
        f'{task}_accuracy_rises_with_size_at_{f:g}', f'T_{task.upper()}: at {f:g} instances per '
        'sequence the final test accuracy rises with model size', sizes, acc_RxFxZ[:, i].T,
        above=0.5))
  return out


def sensitivity(task: str, sizes, freqs, acc_RxFxZ: np.ndarray) -> list[dict]:
  """The frontier claim and the lowest learned frequency per size (seeds' mean; twice the
  highest frequency where never learned) with "learned" at each of ``SENSITIVITY``."""
  rows = []
  for t in SENSITIVITY:
    held = task_claims(task, sizes, freqs, acc_RxFxZ, t)
    rows.append({'threshold': t,
                 'min_learned_frequency_mean': frontier_per_seed(acc_RxFxZ, freqs, t).mean(
                     axis=0).tolist(),
                 **({'frontier_rho': held[0]['value'], 'frontier_holds': held[0]['holds']}
                    if held else {})})
  return rows


def _learning_steps(out: dict, sizes, freqs, threshold: float) -> tuple[dict, dict]:
  steps = out['steps']
  test_acc = out['test_accuracy'].mean(axis=2)  # [R, F, P], mean over seeds
  train_acc = out['train_accuracy'].mean(axis=2)
  learn, delay = {}, {}
  for r, size in enumerate(sizes):
    learn[size], delay[size] = {}, {}
    for i, f in enumerate(freqs):
      test_step = results_lib.learning_step(steps, test_acc[r, i], threshold)
      train_step = results_lib.learning_step(steps, train_acc[r, i], threshold)
      learn[size][str(f)] = test_step
      delay[size][str(f)] = (test_step - train_step if None not in (test_step, train_step)
                             else None)
  return learn, delay


def analyse(outs: dict, threshold: float) -> dict:
  results = {'test_accuracy': {}, 'task_train_loss': {}, 'min_learned_frequency_by_size': {},
             'min_learned_frequency_per_seed': {}, 'learning_step': {}, 'grokking_delay': {},
             'sensitivity': {}, 'claims': [], 'learned_threshold': threshold}
  for task, out in outs.items():
    sizes = [str(r['non_embedding']) for r in out['rungs']]
    freqs = [float(f) for f in out['frequencies']]
    final = out['test_accuracy'][..., -1]  # [R, F, Z]
    acc = final.mean(axis=2)  # [R, F], mean over seeds
    loss = out['task_train_loss'][:, :, :, -1].mean(axis=2)
    results['test_accuracy'][task] = {s: dict(zip(map(str, freqs), row.tolist()))
                                      for s, row in zip(sizes, acc)}
    results['task_train_loss'][task] = {s: dict(zip(map(str, freqs), row.tolist()))
                                        for s, row in zip(sizes, loss)}
    results['learning_step'][task], results['grokking_delay'][task] = _learning_steps(
        out, sizes, freqs, threshold)
    results['min_learned_frequency_by_size'][task] = dict(
        zip(sizes, min_learned(acc, freqs, threshold)))
    results['min_learned_frequency_per_seed'][task] = frontier_per_seed(
        final, freqs, threshold).tolist()
    results['claims'] += task_claims(task, sizes, freqs, final, threshold)
    results['sensitivity'][task] = sensitivity(task, sizes, freqs, final)
    results['rungs'] = [dict(r, lr=float(lr)) for r, lr in zip(out['rungs'], out['lrs'])]
    results['seeds'] = int(final.shape[2])
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
  expt.seeds_flag(parser, 3, 'cell')


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  try:  # the run lives in DIR/ladder_<task>: fig7_features.py reads the same one back
    outs, config = expt.train_token_tasks(args.config, [t for t in args.tasks.split(',') if t],
                                          progress=not args.smoke,
                                          seeds=None if args.smoke else args.seeds,
                                          workdir=args.workdir)
  except ValueError as e:  # a bad config value or token file (TokenFileError)
    expt.fail(NAME, e)
  results = analyse(outs, float(config.train.learned_threshold))
  np.savez_compressed(os.path.join(args.workdir, f'{NAME}.npz'),
                      **{f'{task}.{key}': value for task, out in outs.items()
                         for key, value in out.items() if isinstance(value, np.ndarray)})
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  expt.write_results(args.workdir, NAME, results, figure(outs, results))
  return results


if __name__ == '__main__':
  main()
