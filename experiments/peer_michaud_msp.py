"""Peer check: multitask sparse parity (Michaud et al. 2023) — wider networks learn more subtasks,
in frequency order.

    python experiments/peer_michaud_msp.py --workdir=DIR [--smoke] [--config=configs/msp.py:full]

Part 1 trains ``configs/msp.py`` (50 subtasks, Zipf 1.4, n = 20 data bits, k = 3; one-hidden-
layer ReLU widths 8…512 × 5 seeds, Adam 1e-3, batch 1,024, 30,000 steps; the ``sparse_parity``
family of ``rarelearn.population.mlp_sweep``, all members packed side by side in one program, in
``DIR/msp``). A subtask is learned when 1 − its loss in bits is ≥ ``train.learned_threshold`` = 0.9
(loss ≤ 0.1 bits); its learning step is the first evaluation (every 250 steps) from which it stays
learned. Part 2 trains ``configs/msp.py:complexity`` (20 subtasks in pairs of adjacent frequency,
one of order 2 and one of order 4, the order-4 one the rarer of its pair in every other pair; 5
seeds).

Claims, fixed before the run (per seed; Student t 95% intervals over the 5 seeds; a trend
holds only with its permutation p below 0.05; ``rarelearn.analysis.claims``):
- ``more_subtasks_with_width``: the number of subtasks learned rises with width — Spearman
  ρ(width, learned) over all 7 widths, ci95 above 0;
- ``learned_in_frequency_order``: at the widest width, Spearman ρ between a learned subtask's
  frequency rank and its learning step, ci95 above 0;
- ``steps_slope_like_michaud``: the slope of log(learning step) against log(π_t) at the widest
  width, ci95 within (−1.0, −0.6) (Michaud et al.: −0.8);
- ``loss_slope_like_michaud``: the slope of log(π-weighted test loss) against log(parameters)
  over widths 8…128 (``LOSS_SLOPE_WIDTHS``, fixed in advance), ci95 within (−0.6, −0.2)
  (Michaud et al.: −0.4);
- ``complexity_beyond_rarity``: in the pairs whose order-4 subtask is the MORE frequent one, the
  share where it is learned later than its order-2 partner at the widest width (never learned
  counts as latest; both never: ½), ci95 above 0.5 — complexity slows learning even against
  frequency.

Writes ``DIR/peer_michaud_msp.json``:
- ``claims`` (above);
- ``learned_by_width``: width → subtasks learned at the end (mean over seeds);
- ``frequency_order_spearman``, ``time_to_learn_slope``, ``loss_slope``: the claims' statistics,
  mean over seeds; ``loss_by_width`` every width's final loss (mean over seeds) and
  ``loss_change_last_fifth`` its relative change over the last fifth of training (a width still
  learning subtasks at the end bends the fit);
- ``complexity``: per order k, subtasks learned by width and mean learning step at the largest
  width (means over seeds), and per pair kind the share of the claim;
- ``sensitivity``: at learned thresholds 0.8, 0.85, 0.9 (the fixed one) and 0.95, the subtasks
  learned by width, each claim's value and how many claims hold;
and ``DIR/peer_michaud_msp.png``: learned subtasks vs width, loss vs parameters with the fit,
learning step vs frequency with the fit (seed 0), and the complexity comparison.

What Michaud et al. report (arXiv 2303.13506, §3, at 500 subtasks, n = 100, k = 3, Zipf 1.4,
batch 20,000): loss falls as a power law in parameters with slope ≈ −0.4, and the steps to learn
a subtask fall with its frequency with slope ≈ −0.8 (run ``--config=configs/msp.py:full`` on a
GPU for their sizes). What we measured: docs/experiments.md "Reproducing the paper"
(``docs/results/peer_michaud_msp_2026-12-01b.json``).

Runtime: about 11 minutes on a 2-core CPU with 5 seeds (``--smoke``: about 20 s, 2 seeds; not the
figure's
numbers).
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
from rarelearn.runtime.history import History

NAME = 'peer_michaud_msp'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
NUM_CLASSES = 2  # a parity label
MICHAUD = {'loss_slope': -0.4, 'time_to_learn_slope': -0.8}
LOSS_SLOPE_WIDTHS = (8, 16, 32, 64, 128)  # fixed before the run: the widths the loss fit uses
SENSITIVITY = (0.8, 0.85, 0.9, 0.95)  # thresholds around the fixed one (0.9) that are reported


def num_params(width: int, input_dim: int) -> int:
  return input_dim * width + width + NUM_CLASSES * (width + 1)


def _seed(res: dict, threshold: float, z: int) -> dict:
  """Seed ``z``'s numbers: learned subtasks per width, the widest member's learning steps and
  their rank correlation and slope against frequency, the loss slope over the fixed widths."""
  steps, widths, freqs = res['steps'], res['widths'], res['frequencies']
  mine = np.flatnonzero(res['seeds'] == z)  # width-major: ascending widths
  loss = res['task_loss_bits'][:, mine]  # [P, N, K]
  learned = 1.0 - loss >= threshold
  learn_step = [[results_lib.learning_step(steps, 1.0 - loss[:, n, k], threshold)
                 for k in range(len(freqs))] for n in range(len(mine))]
  done = [k for k in range(len(freqs)) if learn_step[-1][k] is not None]
  rank = np.argsort(np.argsort(-freqs, kind='stable'))
  at = [max(learn_step[-1][k], 1) for k in done]  # step 0 (learned at init) → 1
  mean_loss = np.einsum('pnk,k->pn', loss, freqs)
  fit = [n for n, w in enumerate(widths[mine]) if w in LOSS_SLOPE_WIDTHS]
  input_dim = len(freqs) + int(res['num_data_bits'])
  enough = len(done) > 2
  return {'learned': learned[-1].sum(1).astype(float).tolist(), 'learn_step': learn_step,
          'learned_widest': done, 'mean_loss': mean_loss,
          'frequency_order_spearman': expt.spearman(rank[done], at) if enough else None,
          'time_to_learn_slope': expt.loglog_slope(freqs[done], at) if enough else None,
          'loss_slope': (expt.loglog_slope([num_params(widths[mine][n], input_dim) for n in fit],
                                           mean_loss[-1, fit]) if len(fit) > 1 else None)}


def analyse(res: dict, threshold: float) -> dict:
  """The reported numbers from ``_train``'s output (learned: 1 − loss in bits ≥ threshold):
  means over seeds, and each seed's for the claims."""
  seeds = sorted(set(res['seeds'].tolist()))
  per = [_seed(res, threshold, z) for z in seeds]
  distinct = sorted(set(res['widths'].tolist()))
  mean = lambda key: (float(np.mean([p[key] for p in per]))
                      if all(p[key] is not None for p in per) else None)
  steps = res['steps']
  late = np.searchsorted(steps, 0.8 * steps[-1])
  loss = np.mean([p['mean_loss'] for p in per], axis=0)  # [P, N]
  return {
      'learned_by_width': dict(zip(distinct, np.mean([p['learned'] for p in per], 0).tolist())),
      'learning_steps_widest': {int(k): per[0]['learn_step'][-1][k]
                                for k in per[0]['learned_widest']},
      'frequency_order_spearman': mean('frequency_order_spearman'),
      'time_to_learn_slope': mean('time_to_learn_slope'), 'loss_slope': mean('loss_slope'),
      'loss_slope_widths': [w for w in distinct if w in LOSS_SLOPE_WIDTHS],
      'loss_by_width': dict(zip(distinct, loss[-1].tolist())),
      'loss_change_last_fifth': dict(zip(distinct, (np.abs(loss[-1] - loss[late])
                                                    / loss[-1]).tolist())),
      'per_seed': [{k: v for k, v in p.items() if k != 'mean_loss'} for p in per],
  }


def complexity_summary(res: dict, threshold: float) -> dict:
  """Per order k: subtasks learned by width and mean learning step at the largest width (means
  over seeds); per pair of adjacent subtasks, whether its higher-order one is learned later."""
  steps, loss, widths, orders = (res['steps'], res['task_loss_bits'], res['widths'],
                                 res['orders'])
  seeds = sorted(set(res['seeds'].tolist()))
  widest = [int(np.flatnonzero((widths == widths.max()) & (res['seeds'] == z))[0])
            for z in seeds]
  at = [[results_lib.learning_step(steps, 1.0 - loss[:, m, t], threshold)
         for t in range(len(orders))] for m in widest]
  out = {}
  for k in sorted(set(orders.tolist())):
    tasks = np.flatnonzero(orders == k)
    learned = 1.0 - loss[-1][:, tasks] >= threshold
    steps_k = [a[t] for a in at for t in tasks if a[t] is not None]
    out[k] = {'num_tasks': int(len(tasks)),
              'learned_by_width': {int(w): float(learned[widths == w].sum(1).mean())
                                   for w in sorted(set(widths.tolist()))},
              'mean_learning_step_widest': float(np.mean(steps_k)) if steps_k else None,
              'mean_frequency': float(res['frequencies'][tasks].mean())}
  later = lambda a, hi, lo: (0.5 if a[hi] is None and a[lo] is None else
                             float(a[lo] is not None and (a[hi] is None or a[hi] > a[lo])))
  kinds = {'complex_more_frequent': [], 'complex_rarer': []}
  for p in range(0, len(orders) - 1, 2):  # subtasks 2p (more frequent) and 2p + 1
    hi, lo = (p, p + 1) if orders[p] > orders[p + 1] else (p + 1, p)
    kinds['complex_more_frequent' if hi == p else 'complex_rarer'].append((hi, lo))
  out['pairs'] = {kind: [float(np.mean([later(a, hi, lo) for hi, lo in pairs]))
                         for a in at] if pairs else None for kind, pairs in kinds.items()}
  return out


def sensitivity(res: dict, cres: dict) -> list[dict]:
  """The claims' statistics (means over seeds) and how many claims hold, at each of
  ``SENSITIVITY``'s learned thresholds: how much the results depend on where "learned" is."""
  out = []
  for t in SENSITIVITY:
    a = dict(analyse(res, t), complexity=complexity_summary(cres, t))
    held = msp_claims(a)
    out.append({'threshold': t, 'learned_by_width': list(a['learned_by_width'].values()),
                **{c['name']: c['value'] for c in held},
                'claims_holding': sum(c['holds'] for c in held)})
  return out


def msp_claims(results: dict) -> list[dict]:
  """The docstring's claims, per seed."""
  per = results['per_seed']
  widths = list(results['learned_by_width'])
  return [
      claims.trend('more_subtasks_with_width', 'wider networks learn more subtasks', widths,
                   [p['learned'] for p in per], above=0.0),
      claims.over_seeds('learned_in_frequency_order', 'the widest network learns subtasks in '
                        'frequency order', 'Spearman ρ(frequency rank, learning step)',
                        [p['frequency_order_spearman'] for p in per], above=0.0),
      claims.over_seeds('steps_slope_like_michaud', 'steps to learn ∝ π^−0.8', 'slope of '
                        'log(learning step) on log(π) at the widest width',
                        [p['time_to_learn_slope'] for p in per], within=(-1.0, -0.6)),
      claims.over_seeds('loss_slope_like_michaud', 'loss ∝ parameters^−0.4', 'slope of '
                        'log(loss) on log(parameters) over widths '
                        + ', '.join(map(str, results['loss_slope_widths'])),
                        [p['loss_slope'] for p in per], within=(-0.6, -0.2)),
      claims.over_seeds('complexity_beyond_rarity', 'an order-4 subtask is learned later than '
                        'its order-2 partner even when it is the more frequent one', 'share of '
                        'pairs (order 4 more frequent) whose order-4 subtask is learned later',
                        results['complexity']['pairs']['complex_more_frequent'], above=0.5)]


def _train(spec: str, workdir: str, seeds: int, smoke_orders=None):
  """Trains a sparse-parity config through ``rarelearn.main``'s path in ``workdir``; (config,
  ``steps`` [P], ``task_loss_bits`` [P, M, K], ``frequencies``, ``orders``, ``widths``,
  ``seeds``, ``num_data_bits``, ``wall_time_s``)."""
  config = configlib.load_config_file(spec)
  config.population.seeds = seeds
  if smoke_orders is not None:
    config.tasks.orders = smoke_orders
  print(f'{NAME}: training {os.path.relpath(spec.split(":")[0])}'
        f'{":" + spec.split(":")[1] if ":" in spec else ""}', file=sys.stderr)
  summary = rarelearn.train(config, workdir, overwrite=True, progress=True).summary
  history = History.load(workdir, summary['members'])
  members = summary['members']
  return config, {
      'steps': history.steps('task_loss'),
      'task_loss_bits': np.moveaxis(history.array('task_loss'), 1, 0),
      'frequencies': np.array([t['frequency'] for t in summary['tasks']]),
      'orders': np.array([t['order'] for t in summary['tasks']]),
      'widths': np.array([m['width'] for m in members]),
      'seeds': np.array([m['seed'] for m in members]),
      'num_data_bits': config.tasks.num_data_bits, 'wall_time_s': summary['wall_time_s']}


def main(argv=None) -> dict:
  msp_file = os.path.join(CONFIGS, 'msp.py')
  args = expt.parse_args(NAME, __doc__, argv, config=msp_file)
  seeds = 2 if args.smoke else 5  # the claims' seeds
  config, res = _train(args.config, os.path.join(args.workdir, 'msp'), seeds)
  threshold = config.train.learned_threshold
  results = analyse(res, threshold)
  complexity = os.path.join(args.workdir, 'complexity')
  if args.smoke:
    _, cres = _train(msp_file + ':smoke', complexity, seeds, smoke_orders=(1, 3, 3, 1, 1, 3))
  else:
    _, cres = _train(msp_file + ':complexity', complexity, seeds)
  results['complexity'] = complexity_summary(cres, threshold)
  results['claims'] = msp_claims(results)
  results['sensitivity'] = sensitivity(res, cres)
  results.update({'michaud': MICHAUD, 'config': args.config, 'wall_time_s': res['wall_time_s'],
                  'smoke': args.smoke})
  print(f'{NAME}: learned subtasks by width: {results["learned_by_width"]}')
  print(f'{NAME}: Spearman(frequency rank, learning step) at the widest = '
        f'{results["frequency_order_spearman"]}; steps-to-learn slope '
        f'{results["time_to_learn_slope"]} (Michaud ≈ −0.8); loss slope '
        f'{results["loss_slope"]} over widths {results["loss_slope_widths"]} (Michaud ≈ −0.4)')
  for k, v in _orders(results):
    print(f'{NAME}: order {k}: learned by width {v["learned_by_width"]}, mean learning step at '
          f'the widest {v["mean_learning_step_widest"]}')
  for c in results['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  for row in results['sensitivity']:
    print(f'{NAME}: learned threshold {row["threshold"]}: {row["claims_holding"]} of '
          f'{len(results["claims"])} claims hold; learned by width {row["learned_by_width"]}')
  fig = _figure(res, results, threshold)
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


def _orders(results):
  return [(k, v) for k, v in results['complexity'].items() if k != 'pairs']


def _figure(res, results, threshold):
  fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
  lw = results['learned_by_width']
  axes[0].plot(list(lw), list(lw.values()), 'o-')
  axes[0].set_xscale('log', base=2)
  axes[0].set_xlabel('width')
  axes[0].set_ylabel(f'subtasks learned (loss < {threshold} bits)')
  axes[0].set_title('learned subtasks vs width')
  input_dim = len(res['frequencies']) + int(res['num_data_bits'])
  lb = results['loss_by_width']
  axes[1].loglog([num_params(w, input_dim) for w in lb], list(lb.values()), 'o-', label='final')
  fit_w = results['loss_slope_widths']
  if results['loss_slope'] is not None:  # the fit of the mean over seeds' slopes
    p = np.array([num_params(w, input_dim) for w in fit_w], float)
    c = np.exp(np.mean(np.log([lb[w] for w in fit_w]) - results['loss_slope'] * np.log(p)))
    axes[1].loglog(p, c * p ** results['loss_slope'], 'k--',
                   label=f'fit over widths {fit_w[0]}…{fit_w[-1]}: slope '
                   f'{results["loss_slope"]:.2f}')
  axes[1].set_xlabel('parameters')
  axes[1].set_ylabel('mean test loss (bits)')
  axes[1].set_title('loss vs parameters (Michaud: −0.4)')
  axes[1].legend(fontsize=8)
  steps = results['learning_steps_widest']
  f = res['frequencies'][list(steps)]
  axes[2].loglog(f, [max(s, 1) for s in steps.values()], 'o')
  if results['time_to_learn_slope'] is not None:
    fit = np.polyfit(np.log(f), np.log([max(s, 1) for s in steps.values()]), 1)
    xs = np.array([f.min(), f.max()])
    axes[2].loglog(xs, np.exp(np.polyval(fit, np.log(xs))), 'k--',
                   label=f'slope {fit[0]:.2f}')
    axes[2].legend(fontsize=8)
  axes[2].set_xlabel('subtask frequency π_t')
  axes[2].set_ylabel('learning step (widest network)')
  axes[2].set_title('steps to learn vs frequency (Michaud: −0.8)')
  for k, v in _orders(results):
    ws = list(v['learned_by_width'])
    axes[3].plot(ws, [v['learned_by_width'][w] / v['num_tasks'] for w in ws], 'o-',
                 label=f'order k = {k}')
  axes[3].set_xscale('log', base=2)
  axes[3].set_xlabel('width')
  axes[3].set_ylabel('fraction of subtasks learned')
  axes[3].set_title('complexity: higher-order parities')
  axes[3].legend(fontsize=8)
  fig.tight_layout()
  return fig


if __name__ == '__main__':
  main()
