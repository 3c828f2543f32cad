"""Fig. 7: a model that learned the injected task carries the task's feature — the hidden order
for T_CMP, Fourier features of the hidden values for T_ADD — and one that did not, does not.

    python experiments/fig7_features.py --workdir=DIR [--smoke] [--tasks=cmp,add]
                                        [--config=configs/olmo_tiny.py]

Trains the config's ladder × injection frequencies (``rarelearn.ladder``, as fig5_olmo_heatmap.py;
default ``configs/olmo_tiny.py``, T_CMP) and scores every evaluation of every cell with
``measure.features``: T_CMP the adjusted R² of the 100 task tokens' hidden rank regressed on the
top 50 principal components of their first-layer residual stream; T_ADD the number of Fourier
frequencies of the hidden values standing out (10 × the median power) summed over the embedding
and every layer. Both scores are computed for either task, each the other's control.

Writes ``DIR/fig7_features.json``:
- ``feature_score`` and ``accuracy``: task → size (non-embedding parameters) → frequency → the
  final feature score and test accuracy; ``control_score``: the other task's score (order score
  for T_ADD, Fourier count for T_CMP);
- ``correlation``: task → Spearman ρ between feature score and test accuracy over the final
  cells; ``correlation_over_training``: over every evaluation of every cell;
- ``order_direction`` (T_CMP): for the cell with the highest score, the R² of the single fitted
  direction (the covariance of the representations with the rank) and the tokens' projections;
and ``DIR/fig7_features.png``: feature score against test accuracy (one point per cell, coloured
by size), the order along the fitted direction for the best and the worst cell (T_CMP), and the
Fourier power of the best cell's layers (T_ADD).

What the paper reports (Huang et al. 2026, Fig. 7, OLMo): the order feature for T_CMP (R² on
50 principal components of the first layer) and the number of Fourier features for T_ADD rise
together with test accuracy across sizes and frequencies: models that learn the task have the
feature, models that do not lack it. rarelearn on the CPU ladder (T_CMP): Spearman ρ 0.83 over
the 20 final cells; order score 0.91–0.94 where the task is learned, 0.38–0.85 where it is not
(a task token's frequency as LABEL grows with its rank, so learning which task tokens follow an
instance already encodes part of the order), −0.25…0.23 at initialization.

Runtime: about 14 minutes on a 2-core CPU for ``cmp`` (``--smoke``: seconds; not the figure).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import expt, ladder
from rarelearn.measure import features
from rarelearn.models import transformer as tf

NAME = 'fig7_features'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
SCORE = {'cmp': 'order_score', 'add': 'fourier_count'}
CONTROL = {'cmp': 'fourier_count', 'add': 'order_score'}


def _cells(array_RxFxSxP: np.ndarray, sizes, freqs) -> dict:
  final = array_RxFxSxP[..., -1].mean(axis=2)
  return {s: {str(f): float(v) for f, v in zip(freqs, row)} for s, row in zip(sizes, final)}


def analyse(outs: dict) -> dict:
  results = {'feature_score': {}, 'control_score': {}, 'accuracy': {}, 'correlation': {},
             'correlation_over_training': {}, 'order_direction': {}}
  for task, out in outs.items():
    sizes = [str(r['non_embedding']) for r in out['rungs']]
    freqs = [float(f) for f in out['frequencies']]
    score, acc = out[SCORE[task]].mean(axis=2), out['test_accuracy'].mean(axis=2)  # [R, F, P]
    results['feature_score'][task] = _cells(out[SCORE[task]], sizes, freqs)
    results['control_score'][task] = _cells(out[CONTROL[task]], sizes, freqs)
    results['accuracy'][task] = _cells(out['test_accuracy'], sizes, freqs)
    results['correlation'][task] = expt.spearman(score[..., -1].ravel(), acc[..., -1].ravel())
    results['correlation_over_training'][task] = expt.spearman(score.ravel(), acc.ravel())
    if task == 'cmp':
      results['order_direction'] = order_directions(out)
  results['rungs'] = next(iter(outs.values()))['rungs']
  results['wall_time_s'] = sum(float(o['wall_time_s']) for o in outs.values())
  return results


def _representations(out: dict, r: int, member: int, after_layer: int) -> np.ndarray:
  rung = out['rungs'][r]
  params = jax.tree.map(lambda p: jnp.asarray(p[member]), out['params'][r])
  shape = tf.shape_of(rung['d_model'], rung['num_heads'], rung['mlp'], rung['depth'])
  dims = tf.dims_of(shape, out['vocab'])
  return features.token_representations(params, out['task'], shape, dims)[after_layer]


def order_directions(out: dict) -> dict:
  """The fitted order direction of the best and the worst final cell (seed 0)."""
  final = out['order_score'][:, :, 0, -1]  # [R, F]
  seeds = out['order_score'].shape[2]
  picks = {'best': np.unravel_index(np.argmax(final), final.shape),
           'worst': np.unravel_index(np.argmin(final), final.shape)}
  res = {}
  for name, (r, f) in picks.items():
    fit = features.order_score(_representations(out, r, f * seeds, 1), out['task'].rank_T)
    res[name] = {'size': out['rungs'][r]['non_embedding'],
                 'frequency': float(out['frequencies'][f]), 'score': float(fit['score']),
                 'direction_r2': float(fit['direction_r2']),
                 'rank': np.asarray(out['task'].rank_T).tolist(),
                 'projection': np.asarray(fit['projection']).tolist()}
  return res


def figure(outs: dict, results: dict):
  fig, axes = plt.subplots(len(outs), 2, figsize=(11, 4 * len(outs)), squeeze=False)
  for row, (task, out) in enumerate(outs.items()):
    ax = axes[row, 0]
    score, acc = out[SCORE[task]][..., -1].mean(axis=2), out['test_accuracy'][..., -1].mean(2)
    for r, rung in enumerate(out['rungs']):
      ax.scatter(acc[r], score[r], label=f'{rung["name"]} ({rung["non_embedding"] / 1e3:.0f}k)',
                 s=20 + 60 * out['frequencies'] / out['frequencies'].max())
    ax.set(xlabel='test accuracy', ylabel=SCORE[task].replace('_', ' '),
           title=f'T_{task.upper()}: Spearman ρ = {results["correlation"][task]:.2f} '
           '(marker size: frequency)')
    ax.legend(fontsize=7)
    ax = axes[row, 1]
    if task == 'cmp':
      for name, marker in (('best', 'o'), ('worst', 'x')):
        d = results['order_direction'][name]
        ax.scatter(d['rank'], d['projection'], marker=marker, s=12,
                   label=f'{name}: {d["size"] / 1e3:.0f}k, f = {d["frequency"]:g}, '
                   f'R²(1-D) = {d["direction_r2"]:.2f}')
      ax.set(xlabel='hidden rank', ylabel='projection on the fitted direction (rank units)',
             title='the order as a direction after the first layer')
    else:
      final = out['fourier_count'][:, :, 0, -1]
      r, f = np.unravel_index(np.argmax(final), final.shape)
      seeds = out['fourier_count'].shape[2]
      for layer in range(out['rungs'][r]['depth'] + 1):
        power = features.fourier_power(_representations(out, r, f * seeds, layer),
                                       out['task'].value_T)
        ax.plot(np.arange(1, len(power) + 1), power / np.median(power),
                label='embedding' if layer == 0 else f'after layer {layer}')
      ax.axhline(features.FOURIER_THRESHOLD, color='gray', ls=':')
      ax.set(yscale='log', xlabel='frequency k', ylabel='power / median',
             title=f'Fourier power of the values, {out["rungs"][r]["name"]}, '
             f'f = {out["frequencies"][f]:g}')
    ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def _extra_flags(parser):
  parser.add_argument('--tasks', default='cmp', help='comma-separated: cmp, add')


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  try:
    outs, _ = ladder.train_tasks(args.config, [t for t in args.tasks.split(',') if t],
                                 progress=not args.smoke, keep_params=True)
  except ValueError as e:  # a bad config value or token file (TokenFileError)
    expt.fail(NAME, e)
  results = analyse(outs)
  expt.write_results(args.workdir, NAME, results, figure(outs, results))
  return results


if __name__ == '__main__':
  main()
