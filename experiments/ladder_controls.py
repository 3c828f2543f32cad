"""Controls for the transformer ladder's evidence: is the frontier (Fig. 5) a capacity effect, or
the learning rate, the data budget, the instance count or the gaps?

    python experiments/ladder_controls.py --workdir=DIR --arm=ARM [--seeds=3] [--smoke]
                                          [--config=configs/olmo_tiny.py]

ARM is one of ``long``, ``matched``, ``gaps``, ``one_lr_large``, ``one_lr_small`` or ``all``
(each in turn). Every arm trains on the config's CPU ladder (default ``configs/olmo_tiny.py``:
rungs d16, d32, d64, d96, d128; T_CMP; 2,000 steps of batch 32; a cell learned at final test
accuracy ≥ 0.8, ``train.learned_threshold``) with ``--seeds`` seeds (3), in resumable workdirs
under ``DIR/<arm>/`` (a finished run there is read back, an unfinished one resumed), and writes
``DIR/ladder_controls_<arm>.json`` and ``.png``.

Arms ("the ladder lr": a rung's peak lr in the ladder, ``optimizer.lr`` · (N / N_0)^(-1/3)):
- ``long`` (Definition 2: does more data rescue a small model?): the cells that do not learn at
  2,000 steps in Fig. 5's run — d16 at f = 0.5, d32 at f = 0.2, d64 at f = 0.1 instances per
  sequence — each rung alone at its ladder lr, trained 2,000 steps and 8× as long (16,000; the
  cosine schedule stretched over the run).
- ``matched`` (rarity, or the number of instances seen?): d32 and d64 alone at their ladder lr,
  at f = 0.5, 0.4, 0.25, 0.2 trained 2,000 · 0.5 / f steps (2,000, 2,500, 4,000, 5,000): every
  cell sees the same 32,000 task instances, rarer ones spread over more background steps.
- ``gaps`` (Fig. 6b's size × gap interaction): every rung at its ladder lr, f = 0.25 injected in
  every batch (G = 1) and as 100 batches' worth every 100 batches (G = 100), 2,000 steps.
- ``one_lr_large`` and ``one_lr_small`` (the learning rate): every rung at ONE peak lr — the
  largest rung's ladder lr (1.74e-3) or the smallest rung's (1e-2) — (a) on Fig. 5's grid
  (f = 0.5, 0.2, 0.1, 0.05; 2,000 steps) and (b) under Fig. 8's periodic injection (f = 0.25,
  G = 100, evaluated every 25 steps; drop-weighted retention as ``fig8_retention.py``).

Claims, fixed before any run of this script (statistics per seed; ``ci95`` the Student t 95%
interval of the mean over seeds; a trend is the mean over seeds of each seed's Spearman ρ, and
holds only when its ci95 clears the threshold AND its exact permutation p over the orderings is
below 0.05; ``rarelearn.analysis.claims``):
- ``long``, per cell <rung>_at_<f> (d16_at_0.5, d32_at_0.2, d64_at_0.1):
  - ``long_rescues_<rung>_at_<f>``: the final test accuracy after 16,000 steps, ci95 above
    0.8 (the cell is learned with 8× the data: Definition 2's "more data never rescues the
    small model" does not hold for it);
  - ``long_stays_unlearned_<rung>_at_<f>``: the same statistic, ci95 below 0.8 (8× the data
    does not rescue it: Definition 2 holds for it at this horizon). Neither holding is
    inconclusive.
  - ``long_improves_<rung>_at_<f>``: the final test accuracy at 16,000 steps minus at 2,000
    steps, per seed, ci95 above 0.
- ``matched``, per rung (d32, d64):
  - ``matched_<rung>_accuracy_rises_with_frequency``: ρ(frequency, final test accuracy) over
    the four frequencies at matched instances, ci95 above 0.5 (rarity hurts beyond the count of
    instances);
  - ``matched_<rung>_learns_at_0.2``: the final test accuracy at f = 0.2 after 5,000 steps,
    ci95 above 0.8 (32,000 instances suffice at the rarest frequency).
- ``gaps``:
  - ``gaps_hurt_smaller_rungs_more_accuracy``: ρ(size, final test accuracy at G = 1 minus at
    G = 100) over every rung, ci95 below −0.5;
  - ``gaps_hurt_smaller_rungs_more_loss``: ρ(size, log of the final task train loss at
    G = 100 over G = 1) over every rung, ci95 below −0.5.
- ``one_lr_<arm>`` for arm large and small:
  - ``one_lr_<arm>_frontier_falls_with_size``: ρ(size, each seed's lowest learned frequency;
    a rung that learns at none counts as twice the grid's highest) over every rung, ci95 below
    −0.5 (as Fig. 5's frontier claim);
  - ``one_lr_<arm>_retention_rises_with_size``: ρ(size, drop-weighted retention) over every
    rung, ci95 above 0.5 (as Fig. 8's).

Writes ``DIR/ladder_controls_<arm>.json``: ``claims``, ``arm``, ``cells`` (each run's rung, lr,
frequency, gap, steps and per-seed final test accuracy and task train loss), ``seeds``,
``wall_time_s`` and the arm's statistics per seed; ``DIR/ladder_controls_<arm>.png``.

What the paper reports (Huang et al. 2026, arXiv 2605.29548): Fig. 5, the lowest frequency
learned falls with size (OLMo ladders, learning rates per size); Definition 2, a task is
capacity-bound for a size when more data never makes that size learn it; Fig. 6b, gaps hurt
smaller models more. The paper reports no control of learning rate or instance count.

Runtime on a 2-core CPU with 3 seeds (estimated from Figs 5, 6 and 8): ``long`` ~20 minutes,
``matched`` ~20, ``gaps`` ~40, each ``one_lr`` ~100 (``--smoke``: seconds; not the figure).
"""
from __future__ import annotations

import importlib.util
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
from rarelearn.population import ladder

NAME = 'ladder_controls'
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, os.pardir, 'configs')
ARMS = ('long', 'matched', 'gaps', 'one_lr_large', 'one_lr_small')
LONG_CELLS = (('d16', 0.5), ('d32', 0.2), ('d64', 0.1))
LONGER = 8
MATCHED_RUNGS = ('d32', 'd64')
MATCHED_FREQUENCIES = (0.5, 0.4, 0.25, 0.2)
GAP_FREQUENCY, GAP = 0.25, 100


def sibling(name: str):
  """Another experiment script of this folder, imported (its analysis is reused here)."""
  spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def ladder_lrs(config) -> dict[str, float]:
  """Each rung's peak lr in the whole ladder (the N^-1/3 rule)."""
  return dict(zip(config.model.names, ladder.Ladder(config, skeleton=True).lrs))


def one_rung(config, name: str, lr: float, steps: int):
  """``config`` cut to rung ``name`` alone at peak lr ``lr`` (every rung's, with
  ``optimizer.lr_scaling = 'none'``) for ``steps`` steps (evaluated every gcd(steps, the
  config's interval) steps)."""
  c = config.copy_and_resolve_references()
  keep = list(c.model.names).index(name)
  for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
    c.model[key] = (c.model[key][keep],)
  c.optimizer.lr, c.optimizer.lr_scaling = float(lr), 'none'
  c.train.num_steps = int(steps)
  c.train.steps_per_chunk = math.gcd(int(steps), int(c.train.steps_per_chunk))
  return c


_WALL = []  # each run's training time (s)


def _train(config, workdir: str, settings, progress: bool) -> dict:
  config.task.frequencies = tuple(float(f) for f, _ in settings)
  config.task.gaps = tuple(int(g) for _, g in settings)
  out = ladder.grid(rarelearn.train(config, workdir, overwrite=True, progress=progress))
  _WALL.append(float(out['wall_time_s']))
  return out


def _cell(out: dict, r: int, s: int, name: str, setting, lr: float) -> dict:
  return {'rung': name, 'non_embedding': int(out['rungs'][r]['non_embedding']), 'lr': float(lr),
          'frequency': float(setting[0]), 'gap': int(setting[1]), 'steps': int(out['steps'][-1]),
          'test_accuracy': out['test_accuracy'][r, s, :, -1].tolist(),
          'task_train_loss': out['task_train_loss'][r, s, :, -1].tolist()}


# ------------------------------------------------------------------------------------- arms


def arm_long(config, workdir, progress, smoke):
  lrs, threshold = ladder_lrs(config), float(config.train.learned_threshold)
  base = int(config.train.num_steps)
  cells_ = [(config.model.names[0], float(config.task.frequencies[0]))] if smoke else LONG_CELLS
  longer = 2 if smoke else LONGER
  cells, made = [], []
  for name, f in cells_:
    final = {}
    for steps in (base, longer * base):
      c = one_rung(config, name, lrs[name], steps)
      out = _train(c, os.path.join(workdir, f'{name}_f{f:g}_{steps}steps'), [(f, 1)], progress)
      cells.append(_cell(out, 0, 0, name, (f, 1), lrs[name]))
      final[steps] = out['test_accuracy'][0, 0, :, -1]
    if len(final[base]) >= 2:
      tag = f'{name}_at_{f:g}'
      made += [
          claims.over_seeds(f'long_rescues_{tag}', f'{name} learns T_CMP at f = {f:g} with '
                            f'{longer}× the steps', f'final test accuracy after {longer * base} '
                            'steps', final[longer * base], above=threshold),
          claims.over_seeds(f'long_stays_unlearned_{tag}', f'{name} does not learn T_CMP at f = '
                            f'{f:g} with {longer}× the steps', f'final test accuracy after '
                            f'{longer * base} steps', final[longer * base], below=threshold),
          claims.over_seeds(f'long_improves_{tag}', f'{longer}× the steps raise {name}\'s test '
                            f'accuracy at f = {f:g}', f'final test accuracy at {longer * base} '
                            f'minus at {base} steps', final[longer * base] - final[base],
                            above=0.0)]
  return {'cells': cells, 'claims': made, 'longer': longer}


def arm_matched(config, workdir, progress, smoke):
  lrs, threshold = ladder_lrs(config), float(config.train.learned_threshold)
  base = int(config.train.num_steps)
  rungs = config.model.names if smoke else MATCHED_RUNGS
  freqs = (0.5, 0.25) if smoke else MATCHED_FREQUENCIES
  cells, made, per_rung = [], [], {}
  for name in rungs:
    acc = []
    for f in freqs:
      steps = int(round(base * freqs[0] / f))
      c = one_rung(config, name, lrs[name], steps)
      out = _train(c, os.path.join(workdir, f'{name}_f{f:g}_{steps}steps'), [(f, 1)], progress)
      cells.append(_cell(out, 0, 0, name, (f, 1), lrs[name]))
      acc.append(out['test_accuracy'][0, 0, :, -1])
    acc_ZxF = np.stack(acc, axis=1)
    per_rung[name] = acc_ZxF.tolist()
    if acc_ZxF.shape[0] >= 2 and len(freqs) >= 3:
      made += [
          claims.trend(f'matched_{name}_accuracy_rises_with_frequency', f'{name}, the same '
                       'number of T_CMP instances: the final test accuracy rises with frequency',
                       list(freqs), acc_ZxF, above=0.5, over='frequency'),
          claims.over_seeds(f'matched_{name}_learns_at_{freqs[-1]:g}', f'{name} learns T_CMP '
                            f'at f = {freqs[-1]:g} from as many instances as at f = {freqs[0]:g}',
                            f'final test accuracy at f = {freqs[-1]:g}', acc_ZxF[:, -1],
                            above=threshold)]
  instances = freqs[0] * base * int(config.train.batch_size)
  return {'cells': cells, 'claims': made, 'instances_per_cell': instances,
          'frequencies': list(freqs), 'final_test_accuracy_per_seed': per_rung}


def arm_gaps(config, workdir, progress, smoke):
  lrs = ladder_lrs(config)
  gap = 16 if smoke else GAP
  settings = [(GAP_FREQUENCY, 1), (GAP_FREQUENCY, gap)]
  ladder.periodic_burst(config, GAP_FREQUENCY, gap)  # a bad gap fails before training
  out = _train(config, os.path.join(workdir, 'ladder'), settings, progress)
  names = list(config.model.names)
  cells = [_cell(out, r, s, n, st, lrs[n]) for r, n in enumerate(names)
           for s, st in enumerate(settings)]
  acc, loss = out['test_accuracy'][..., -1], out['task_train_loss'][..., -1]  # [R, 2, Z]
  harm = (acc[:, 0] - acc[:, 1]).T  # [Z, R]
  log_ratio = np.log(loss[:, 1] / loss[:, 0]).T
  sizes = [int(r['non_embedding']) for r in out['rungs']]
  made = []
  if harm.shape[0] >= 2 and len(sizes) >= 3:
    made = [claims.trend('gaps_hurt_smaller_rungs_more_accuracy', 'the test accuracy lost to '
                         f'gaps of {gap} falls with size', sizes, harm, below=-0.5),
            claims.trend('gaps_hurt_smaller_rungs_more_loss', 'the rise of the task train loss '
                         f'with gaps of {gap} falls with size', sizes, log_ratio, below=-0.5)]
  return {'cells': cells, 'claims': made, 'gap': gap, 'frequency': GAP_FREQUENCY,
          'accuracy_lost_to_gaps_per_seed': harm.tolist(),
          'log_loss_ratio_per_seed': log_ratio.tolist(), 'sizes': sizes}


def arm_one_lr(config, workdir, progress, smoke, which: str):
  fig5, fig8 = sibling('fig5_olmo_heatmap'), sibling('fig8_retention')
  lrs = list(ladder_lrs(config).values())
  lr = lrs[-1] if which == 'large' else lrs[0]
  c = config.copy_and_resolve_references()
  c.optimizer.lr, c.optimizer.lr_scaling = float(lr), 'none'
  threshold = float(c.train.learned_threshold)
  freqs = [float(f) for f in c.task.frequencies]
  grid = _train(c, os.path.join(workdir, 'grid'), [(f, 1) for f in freqs], progress)
  final = grid['test_accuracy'][..., -1]  # [R, F, Z]
  sizes = [int(r['non_embedding']) for r in grid['rungs']]
  frontier = fig5.frontier_per_seed(final, freqs, threshold)  # [Z, R]
  gap = 16 if smoke else GAP
  burst = ladder.periodic_burst(c, GAP_FREQUENCY, gap)
  p = c.copy_and_resolve_references()
  p.train.steps_per_chunk = math.gcd(gap, burst)
  periodic = _train(p, os.path.join(workdir, 'periodic'), [(GAP_FREQUENCY, gap)], progress)
  kept = fig8._retention_per_seed(periodic, 'task_test_loss', gap, burst)[..., 0]  # [Z, R]
  names = list(c.model.names)
  cells = [_cell(grid, r, i, n, (f, 1), lr) for r, n in enumerate(names)
           for i, f in enumerate(freqs)]
  made = []
  if frontier.shape[0] >= 2 and len(sizes) >= 3:
    made = [claims.trend(f'one_lr_{which}_frontier_falls_with_size', 'at one learning rate for '
                         'every rung, the lowest frequency learned falls with size', sizes,
                         frontier, below=-0.5),
            claims.trend(f'one_lr_{which}_retention_rises_with_size', 'at one learning rate for '
                         'every rung, larger models keep more of what an injection taught',
                         sizes, np.nan_to_num(kept), above=0.5)]
  return {'cells': cells, 'claims': made, 'lr': float(lr), 'frequencies': freqs,
          'sizes': sizes, 'min_learned_frequency_per_seed': frontier.tolist(),
          'retention_per_seed': kept.tolist(), 'gap': gap, 'burst_steps': burst,
          'test_accuracy_by_size': {str(s): dict(zip(map(str, freqs), final[r].mean(axis=1)
                                                     .tolist())) for r, s in enumerate(sizes)}}


# ----------------------------------------------------------------------------------- output


def figure(arm: str, results: dict):
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for name in dict.fromkeys(c['rung'] for c in results['cells']):
    rows = [c for c in results['cells'] if c['rung'] == name]
    x = [c['steps'] if arm == 'long' else c['frequency'] if arm != 'gaps' else c['gap']
         for c in rows]
    ax.plot(x, [np.mean(c['test_accuracy']) for c in rows], 'o-', label=name)
  ax.axhline(results['learned_threshold'], color='gray', ls=':', lw=1)
  ax.set(ylabel='final test accuracy (mean over seeds)', title=f'ladder controls: {arm}',
         xlabel={'long': 'steps', 'gaps': 'gap G (batches)'}.get(arm, 'instances per sequence'),
         xscale='log')
  ax.legend(fontsize=8)
  fig.tight_layout()
  return fig


ARM_FUNCTIONS = {'long': arm_long, 'matched': arm_matched, 'gaps': arm_gaps,
                 'one_lr_large': lambda *a: arm_one_lr(*a, which='large'),
                 'one_lr_small': lambda *a: arm_one_lr(*a, which='small')}


def _extra_flags(parser):
  parser.add_argument('--arm', required=True, choices=(*ARMS, 'all'), help='which control')
  expt.seeds_flag(parser, 3, 'cell')


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv, config=os.path.join(CONFIGS, 'olmo_tiny.py'),
                         extra=_extra_flags)
  if args.seeds < 2 and not args.smoke:
    expt.fail(NAME, f'--seeds={args.seeds}: the claims need at least 2 seeds')
  done = {}
  for arm in ARMS if args.arm == 'all' else (args.arm,):
    config = configlib.load_config_file(args.config)
    if not args.smoke:
      config.model.seeds = args.seeds
    print(f'{NAME}: arm {arm}', file=sys.stderr)
    _WALL.clear()
    try:
      results = ARM_FUNCTIONS[arm](config, os.path.join(args.workdir, arm), not args.smoke,
                                   args.smoke)
    except ValueError as e:  # a bad config value or token file
      expt.fail(NAME, e)
    results = dict(arm=arm, wall_time_s=sum(_WALL), learned_threshold=float(config.train.learned_threshold),
                   seeds=int(config.model.seeds), **results)
    for c in results['claims']:
      print(f'{NAME}: claim {claims.line(c)}')
    expt.write_results(args.workdir, f'{NAME}_{arm}', results, figure(arm, results))
    done[arm] = results
  return done


if __name__ == '__main__':
  main()
