"""Fig. 7: a model that learned the injected task carries the task's feature — the hidden order
for T_CMP, Fourier features of the hidden values for T_ADD — and one that did not, does not.

    python experiments/fig7_features.py --workdir=DIR [--smoke] [--tasks=cmp,add]
                                        [--config=configs/olmo_tiny.py]

Trains the config's ladder × injection frequencies × ``--seeds`` seeds
(``rarelearn.population.ladder``, as
fig5_olmo_heatmap.py; default ``configs/olmo_tiny.py``, T_CMP; the runs live in
``DIR/ladder_<task>``, so with the DIR of a finished fig5 run nothing is trained again) and
scores every evaluation of every cell with ``measure.features``: T_CMP the adjusted R² of the
100 task tokens' hidden rank regressed on the top 50 principal components of their first-layer
residual stream; T_ADD the Fourier share: the share of the task tokens' representation variance
carried by the 5 strongest frequencies of the hidden values, at the embedding or layer where it
stands out most above its shuffled-values chance (``features.fourier_share``, validated by
``fig7_fourier_validation.py``). Both scores are computed for either
task, each the other's control.

Claims, fixed before the run (per task; each statistic per seed over the final cells — sizes ×
frequencies — and its 95% interval over the seeds; ``rarelearn.analysis.claims``). Size and
frequency raise both the feature and the accuracy, so a pooled correlation alone would follow them:
- ``<task>_feature_tracks_accuracy``: Spearman ρ(feature score, test accuracy) over the final
  cells, ci95 above 0.5;
- ``<task>_feature_beyond_size_and_frequency``: the partial Spearman ρ — both ranked, log size
  and log frequency regressed out of each, the residuals correlated — ci95 above 0;
- ``<task>_feature_beats_within_frequency_null``: the mean over frequencies of ρ across the sizes
  at that frequency, minus the 95th percentile of the same statistic with the accuracies
  shuffled across sizes within every frequency (9,999 draws), ci95 above 0.

Writes ``DIR/fig7_features.json``:
- ``claims`` (above); ``per_seed``: task → each seed's pooled, partial and within-frequency ρ,
  the null's 95th percentile and its p (the share of shuffles at least as large);
- ``feature_score`` and ``accuracy``: task → size (non-embedding parameters) → frequency → the
  final feature score and test accuracy (mean over seeds); ``control_score``: the other task's
  score (order score for T_ADD, Fourier share for T_CMP), ``control_correlation`` its ρ with
  accuracy;
- ``correlation``: task → Spearman ρ between the seeds' mean feature score and accuracy over
  the final cells; ``correlation_over_training``: over every evaluation of every cell;
- ``order_direction`` (T_CMP): for the cell with the highest score, the R² of the single fitted
  direction (the covariance of the representations with the rank) and the tokens' projections;
and ``DIR/fig7_features.png``: feature score against test accuracy (one point per cell, coloured
by size), the order along the fitted direction for the best and the worst cell (T_CMP), and the
Fourier power of the best cell's layers (T_ADD).

What the paper reports (Huang et al. 2026, Fig. 7, OLMo): the order feature for T_CMP (R² on
50 principal components of the first layer) and the number of Fourier features for T_ADD rise
together with test accuracy across sizes and frequencies: models that learn the task have the
feature, models that do not lack it. What we measured: docs/experiments.md "Reproducing the paper".

Runtime: about 40 minutes on a 2-core CPU for ``cmp`` with 3 seeds, seconds with the DIR of a
finished fig5 run (``--smoke``: seconds; not the figure).
"""
from __future__ import annotations

import math
import os
import warnings

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from scipy import stats

from rarelearn import expt
from rarelearn.analysis import claims
from rarelearn.measure import features
from rarelearn.models import transformer as tf

NAME = 'fig7_features'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
SCORE = {'cmp': 'order_score', 'add': 'fourier_share'}
CONTROL = {'cmp': 'fourier_share', 'add': 'order_score'}


def _cells(array_RxFxSxP: np.ndarray, sizes, freqs) -> dict:
  final = array_RxFxSxP[..., -1].mean(axis=2)
  return {s: {str(f): float(v) for f, v in zip(freqs, row)} for s, row in zip(sizes, final)}


NULL_DRAWS = 9999  # within-frequency permutations of the null


def partial_rho(score_C, acc_C, size_C, freq_C) -> float:
  """Spearman's ρ between feature score and accuracy with log size and log frequency partialled
  out: the ranks of each regressed on (1, log size, log frequency), the residuals correlated."""
  design = np.stack([np.ones(len(size_C)), np.log(size_C), np.log(freq_C)], axis=1)
  res = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0]
         for r in (stats.rankdata(score_C), stats.rankdata(acc_C))]
  norm = np.linalg.norm(res[0]) * np.linalg.norm(res[1])
  return float(res[0] @ res[1] / norm) if norm > 0 else math.nan


def within_frequency_rho(score_RxF, acc_RxF) -> float:
  """The mean over frequencies of Spearman's ρ between feature score and accuracy across the
  sizes at that frequency (frequencies where either is constant left out; NaN if all are)."""
  return float(_within(score_RxF, acc_RxF[None])[0])


def _within(score_RxF, acc_DxRxF) -> np.ndarray:
  rho_DxF = np.stack([claims.rank_correlation(score_RxF[:, f], acc_DxRxF[:, :, f])
                      for f in range(score_RxF.shape[1])], axis=1)
  with warnings.catch_warnings():  # all frequencies constant: NaN
    warnings.simplefilter('ignore', RuntimeWarning)
    return np.nanmean(rho_DxF, axis=1)


def within_frequency_null(score_RxF, acc_RxF, seed: int = 0) -> np.ndarray:
  """``within_frequency_rho`` with the accuracies shuffled across sizes independently at every
  frequency (``NULL_DRAWS`` draws): what it is when the feature says nothing about accuracy
  beyond the frequency."""
  rng = np.random.default_rng(seed)
  R, F = acc_RxF.shape
  order = np.argsort(rng.random((NULL_DRAWS, R, F)), axis=1)
  return _within(score_RxF, np.take_along_axis(np.broadcast_to(acc_RxF, order.shape), order, 1))


def per_seed_statistics(score_RxFxZ, acc_RxFxZ, sizes, freqs) -> dict:
  """Per seed, over the final cells: pooled, partial and within-frequency ρ, and the latter's
  permuted null (its 95th percentile and the share of draws at least as large)."""
  size_C = np.repeat(np.asarray(sizes, float), len(freqs))
  freq_C = np.tile(np.asarray(freqs, float), len(sizes))
  out = {k: [] for k in ('pooled', 'partial', 'within_frequency', 'null_q95', 'null_p')}
  for z in range(score_RxFxZ.shape[2]):
    score, acc = score_RxFxZ[:, :, z], acc_RxFxZ[:, :, z]
    within = within_frequency_rho(score, acc)
    null = within_frequency_null(score, acc, seed=z)
    null = null[np.isfinite(null)]
    out['pooled'].append(expt.spearman(score.ravel(), acc.ravel()))
    out['partial'].append(partial_rho(score.ravel(), acc.ravel(), size_C, freq_C))
    out['within_frequency'].append(within)
    out['null_q95'].append(float(np.percentile(null, 95)) if null.size else math.nan)
    out['null_p'].append(float(np.mean(null >= within - 1e-12)) if null.size else math.nan)
  return out


def task_claims(task: str, stat: dict) -> list[dict]:
  """The docstring's claims from ``per_seed_statistics`` (none with one seed: smoke)."""
  if len(stat['pooled']) < 2:
    return []
  name, feature = f'{task}', f'T_{task.upper()}: the {SCORE[task].replace("_", " ")}'
  return [
      claims.over_seeds(f'{name}_feature_tracks_accuracy', f'{feature} rises with test '
                        'accuracy over the final cells', 'Spearman ρ(feature, accuracy) over '
                        'the final cells', stat['pooled'], above=0.5),
      claims.over_seeds(f'{name}_feature_beyond_size_and_frequency', f'{feature} tracks test '
                        'accuracy beyond what size and frequency explain', 'partial Spearman ρ '
                        '(log size and log frequency partialled out)', stat['partial'], above=0.0),
      claims.over_seeds(f'{name}_feature_beats_within_frequency_null', f'{feature} tracks test '
                        'accuracy across sizes at a fixed frequency more than chance', 'mean '
                        'within-frequency ρ minus the 95th percentile of its permuted null',
                        [w - q for w, q in zip(stat['within_frequency'], stat['null_q95'])],
                        above=0.0)]


def analyse(outs: dict) -> dict:
  results = {'feature_score': {}, 'control_score': {}, 'accuracy': {}, 'correlation': {},
             'correlation_over_training': {}, 'control_correlation': {}, 'per_seed': {},
             'order_direction': {}, 'claims': []}
  for task, out in outs.items():
    sizes = [str(r['non_embedding']) for r in out['rungs']]
    freqs = [float(f) for f in out['frequencies']]
    score, acc = out[SCORE[task]].mean(axis=2), out['test_accuracy'].mean(axis=2)  # [R, F, P]
    results['feature_score'][task] = _cells(out[SCORE[task]], sizes, freqs)
    results['control_score'][task] = _cells(out[CONTROL[task]], sizes, freqs)
    results['accuracy'][task] = _cells(out['test_accuracy'], sizes, freqs)
    results['correlation'][task] = expt.spearman(score[..., -1].ravel(), acc[..., -1].ravel())
    results['correlation_over_training'][task] = expt.spearman(score.ravel(), acc.ravel())
    results['control_correlation'][task] = expt.spearman(
        out[CONTROL[task]][..., -1].mean(axis=2).ravel(), acc[..., -1].ravel())
    stat = per_seed_statistics(out[SCORE[task]][..., -1], out['test_accuracy'][..., -1],
                               [int(s) for s in sizes], freqs)
    results['per_seed'][task] = stat
    results['claims'] += task_claims(task, stat)
    if task == 'cmp':
      results['order_direction'] = order_directions(out)
  results['rungs'] = next(iter(outs.values()))['rungs']
  results['seeds'] = int(next(iter(outs.values()))['test_accuracy'].shape[2])
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
  expt.seeds_flag(parser, 3, 'cell')


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  try:  # DIR/ladder_<task>: the run fig5_olmo_heatmap.py made with the same DIR, if it did
    outs, _ = expt.train_token_tasks(args.config, [t for t in args.tasks.split(',') if t],
                                     progress=not args.smoke, keep_params=True,
                                     seeds=None if args.smoke else args.seeds, workdir=args.workdir)
  except ValueError as e:  # a bad config value or token file (TokenFileError)
    expt.fail(NAME, e)
  results = analyse(outs)
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  expt.write_results(args.workdir, NAME, results, figure(outs, results))
  return results


if __name__ == '__main__':
  main()
