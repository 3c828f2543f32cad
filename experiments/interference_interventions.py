"""Is interference the cause? Protect a small model's rare-task direction from the other tasks'
updates (and a random direction as a control), disturb a larger model's, and see whether the
rare task is learned or lost — the causal test the paper does not make.

    python experiments/interference_interventions.py --workdir=DIR --family=FAMILY [--seeds=5]
                                                     [--smoke]

FAMILY is ``superposition``, ``block_regression``, ``sparse_parity`` or ``token_ladder`` (the
last two added, with their claims, after the first two had run and before any run of theirs), or
``all``. Each trains, in
resumable workdirs under ``DIR/<family>/``: ``interventions``, one population of the family's
members at a small and a larger size × the interventions none, protect and control (strength 1)
side by side in one program (``rarelearn/population/interventions.py``: the update changed on
the loss split by task; ``intervention.decay`` 0.99); ``disturb``, the larger size with ``disturb`` at
strengths 0.01 and 0.1 (chosen before any run, not calibrated against the small size's
measured interference: 0.1 is the claim's, 0.01 a second dose reported beside it); and
``upweighted``, the expressivity check: the small size, no intervention, with the target's
frequency raised (the ladder's rungs train apart: below). It writes
``DIR/interference_interventions_<family>.json`` and ``.png``.

- ``superposition`` (configs/superposition.py:zipf — 40 equally important features at
  frequencies 0.2 · (i + 1)^−1.2, 10,000 steps): target feature 14 (p = 0.0077), which a model of
  hidden size m = 4 represents in none of 5 seeds and m = 8 in all 5
  (``docs/results/superposition_sparsity_2026-12-06.json``); small m = 4, larger m = 8;
  expressivity: m = 4 with feature 14's probability × 4. Represented: ‖W_14‖ > 0.5.
- ``block_regression`` (configs/sweep.py: the linear toy, 32 tasks × 8 directions, 256 inputs,
  5,000 steps): target task 6 (π = 0.035), whose critical width is 34 by the utility theory —
  a width below the input dimension, where keeping the task is not guaranteed by rank; small
  width 32, larger width 64; expressivity: width 32 with π_6 × 2 (``mixture.schedule =
  'upweight'``; the theory's critical width then 16). Learned: ℓ_6 = 1 − L_6 ≥ 0.5.
- ``sparse_parity`` (configs/msp.py: 50 subtasks, Zipf 1.4, 30,000 steps; 3 seeds by default,
  ``--seeds``): target subtask 6, which width 64 learned in none of 5 seeds and width 128 in all
  (``docs/results/peer_michaud_msp_2026-12-06.json``: 4–6 and 7–9 subtasks learned, in frequency
  order); small width 64, larger width 128; expressivity: width 64 with π_6 × 4. Learned: the
  score 1 − test loss in bits ≥ 0.9 (``train.learned_threshold``).
- ``token_ladder`` (configs/olmo_tiny.py, T_CMP, 2,000 steps, each rung at its ladder lr; 3 seeds
  by default): the injected task (task 0) at f = 0.2 instances per sequence, which d32 does not
  learn (test accuracy 0.0105) and d128 does (0.864) in Fig. 5's run
  (``docs/results/fig5_olmo_heatmap_2026-12-01.json``); small d32, larger d128; expressivity:
  d32 at f = 0.5 (× 2.5). Learned: test accuracy ≥ 0.8. Each rung trains alone, in its own
  program, at its lr in the whole ladder (d32 5.01e-3, d128 1.74e-3; a d32 member in d128's
  program would be padded to d128 and cost a d128 step): ``interventions`` is d32 × none,
  protect and control; ``disturb`` is d128 × disturb at strengths 0, 0.01 and 0.1, strength 0
  being d128's plain training (bit for bit as none); d128 is not trained with protect or
  control: no claim reads it, and the cost to the other tasks is d32's.

Claims, fixed before any run of this script (per seed, then the mean over ``--seeds`` seeds;
``ci95`` the Student t 95% interval of the mean, ``rarelearn.analysis.claims``; for a 0/1 statistic
"ci95 above 0.5" means in every seed of 3 or more unless they disagree, "below 0.5" in none).
For superposition the per-seed statistic is 1 if the target is represented, else 0; for the
toy it is the target's score ℓ_6; for sparse parity the target's score; for the ladder the test
accuracy; each compared with its family's threshold t (0.5, 0.5, 0.9, 0.8) where the claims
below say 0.5. With <f> the family (``superposition``, ``block_regression``, ``sparse_parity``,
``token_ladder``):
- ``<f>_small_plain_misses``: the small size, no intervention, does not learn the target: ci95
  below 0.5 (the premise);
- ``<f>_protect_learns``: the small size with ``protect`` learns it: ci95 above 0.5 (removing
  the other tasks' conflicting updates along the target's direction suffices, without one more
  parameter);
- ``<f>_control_does_not``: the small size with ``control`` (the same norm removed along a random
  direction) does not: ci95 below 0.5;
- ``<f>_large_plain_learns``: the larger size, no intervention, learns it: ci95 above 0.5 (the
  premise of the next);
- ``<f>_disturb_loses``: the larger size with ``disturb`` at strength 0.1 does not: ci95 below
  0.5 (adding interference takes the task from a size that learns it);
- ``<f>_upweighted_learns``: the small size with the target up-weighted (no intervention)
  learns it: ci95 above 0.5 (an expressible solution exists at that size).
Interference is the cause at this scale (the README verdict) when protect, control and disturb
all hold with both premises; expressivity is the cause when protect does not hold and the
up-weighted check does.

Reported beside them (observations, not claims): the cost to the other tasks (superposition: the
features other than the target represented, protect minus none; the toy and sparse parity: the
π-weighted loss of the other tasks, protect minus none, per seed; the ladder: the background
loss, protect minus none) and the measured first-order interference of the
other tasks' update with the target before and after each intervention (``interference`` in the
metrics rows).

What the paper reports (Huang et al. 2026, arXiv 2605.29548): interference explains why larger
models learn rare tasks (common-task gradients weaken with size; Figs. 3, 8, 9) — evidence that
is correlational; it reports no intervention on the update. Orthogonal gradient descent
(Farajtabar et al. 2019) and PCGrad (Yu et al. 2020) project updates to protect tasks in
continual and multitask learning; neither asks whether protection lets a small model learn a
rare task.

Runtime on a 2-core CPU with 5 seeds: superposition about 15 minutes, block_regression about 10;
sparse_parity (3 seeds) a few hours, by estimate; token_ladder (3 seeds) about 65 minutes, by an
estimate from 30 timed steps of each of its runs on the 2-core CPU shared with two other
training runs (per step: d128's 9 members 1.6 s, about nine tenths of the whole; d32's 9
members 0.18 s; the up-weighted check's 3 members 0.025 s; and an evaluation every 200 steps:
``docs/results/interventions_ladder_timing_2026-12-06.json``). ``--smoke``: seconds
(token_ladder: 7 minutes on that shared CPU); not the figure's numbers.
"""
from __future__ import annotations

import os
import sys
import time

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import expt, main as rarelearn_main
from rarelearn.analysis import claims
from rarelearn.core import configlib
from rarelearn.population import ladder, mlp_setup
from rarelearn.runtime.history import History

NAME = 'interference_interventions'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
KINDS = ('none', 'protect', 'control')  # at strength 1, on both sizes (the ladder: d32 only)
DISTURB = (0.01, 0.1)  # disturb's strengths, on the larger size; the claim's is 0.1
# the ladder's rungs train apart (a d32 member padded to d128 costs a d128 step), and d128
# plainly beside disturb, as disturb at strength 0: plain training bit for bit
LADDER_DISTURB = (0.0, *DISTURB)
# family: (config, target, small size, larger size, size field, up-weighting factor)
ARMS = {'superposition': ('superposition.py:zipf', 14, 4, 8, 'hidden', 4.0),
        'block_regression': ('sweep.py', 6, 32, 64, 'width', 2.0),
        'sparse_parity': ('msp.py', 6, 64, 128, 'width', 4.0),
        'token_ladder': ('olmo_tiny.py', 0, 'd32', 'd128', 'rung', 2.5)}
THRESHOLD = {'superposition': 0.5, 'block_regression': 0.5, 'sparse_parity': 0.9,
             'token_ladder': 0.8}  # the claims' threshold of the per-seed statistic
DEFAULT_SEEDS = {'sparse_parity': 3, 'token_ladder': 3}  # without --seeds; else 5
LADDER_FREQUENCY = 0.2  # the ladder's target frequency (instances per sequence)


def _config(family: str, run: str, seeds: int, smoke: bool):
  """The config of one of a family's runs: ``interventions``, ``disturb`` or ``upweighted``."""
  spec, target, small, large, _, factor = ARMS[family]
  config = configlib.load_config_file(os.path.join(CONFIGS, spec))
  is_ladder = family == 'token_ladder'
  sizes = {'interventions': (small,) if is_ladder else (small, large), 'disturb': (large,),
           'upweighted': (small,)}[run]
  if family == 'superposition':
    config.model.hidden, config.model.seeds = sizes, seeds
    if run == 'upweighted':
      config.data.upweight_feature, config.data.upweight_factor = target, factor
  elif is_ladder:  # one rung, at its lr in the whole ladder (the N^-1/3 rule over every rung)
    (name,) = sizes
    counts = [r.counts(config.model.vocab)['non_embedding'] for r in ladder.rungs(config)]
    lr = dict(zip(config.model.names, ladder.peak_lrs(config, counts)))[name]
    keep = list(config.model.names).index(name)
    for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
      config.model[key] = (config.model[key][keep],)
    config.optimizer.lr, config.optimizer.lr_scaling = float(lr), 'none'
    config.model.seeds = seeds
    config.task.frequencies = (LADDER_FREQUENCY * (factor if run == 'upweighted' else 1.0),)
  else:
    config.population.widths, config.population.seeds = sizes, seeds
    config.measure.every = 0
    if run == 'upweighted':
      config.mixture.schedule, config.mixture.rare_task = 'upweight', target
      config.mixture.factor = factor
  config.intervention.target, config.intervention.decay = target, 0.99
  if run == 'interventions':
    config.intervention.kinds, config.intervention.strengths = KINDS, (1.0,)
  elif run == 'disturb':
    config.intervention.kinds = ('disturb',)
    config.intervention.strengths = LADDER_DISTURB if is_ladder else DISTURB
  if smoke:
    config.train.num_steps, config.train.steps_per_chunk = 200, 100
  return config


def _run(config, workdir: str, progress: bool) -> dict:
  return rarelearn_main.train(config, workdir, progress=progress)


def learned_by_seed(family: str, summary: dict, size: int, kind: str | None,
                    strength: float | None = None) -> np.ndarray:
  """[seeds] the per-seed statistic of the claims for the members of ``size`` (and
  intervention ``kind`` at ``strength``; None: a run without interventions)."""
  _, target, _, _, field, _ = ARMS[family]
  rows = [(m, r) for m, r in enumerate(summary['members'])
          if r[field] == size and (kind is None or r['intervention'] == kind)
          and (strength is None or r['strength'] == strength)]
  rows.sort(key=lambda mr: mr[1]['seed'])
  final = summary['final']
  if family == 'superposition':
    return np.asarray([float(final['norm'][m][target] > 0.5) for m, _ in rows])
  if family == 'token_ladder':
    return np.asarray([final['test_accuracy'][m] for m, _ in rows])
  return np.asarray([1.0 - final['task_loss'][m][target] for m, _ in rows])


def cost_by_seed(family: str, config, summary: dict, size: int) -> np.ndarray:
  """[seeds] protect minus none in the other tasks: superposition the features represented
  (other than the target), the toy the π-weighted loss of the other tasks."""
  _, target, _, _, field, _ = ARMS[family]
  final, out = summary['final'], {}
  for kind in ('none', 'protect'):
    rows = sorted([(r['seed'], m) for m, r in enumerate(summary['members'])
                   if r[field] == size and r['intervention'] == kind])
    if family == 'superposition':
      values = [sum(final['learned'][m]) - final['learned'][m][target] for _, m in rows]
    elif family == 'token_ladder':  # the background's loss
      values = [final['background_loss'][m] for _, m in rows]
    else:
      freqs = mlp_setup.frequencies(config)
      others = np.arange(len(freqs)) != target
      values = [float(freqs[others] @ np.asarray(final['task_loss'][m])[others]
                      / freqs[others].sum()) for _, m in rows]
    out[kind] = np.asarray(values, float)
  return out['protect'] - out['none']


def intervention_claims(family: str, stats: dict) -> list[dict]:
  f = family
  unit = {'superposition': 'represented (‖W_14‖ > 0.5), 1 or 0', 'block_regression':
          'score ℓ_6', 'sparse_parity': 'score of subtask 6 (1 − test loss in bits)',
          'token_ladder': 'test accuracy of T_CMP'}[f]
  rows = [('small_plain_misses', 'the small size misses the target', 'small', 'none', 'below'),
          ('protect_learns', 'protect lets the small size learn it', 'small', 'protect', 'above'),
          ('control_does_not', 'a random-direction control does not', 'small', 'control',
           'below'),
          ('large_plain_learns', 'the larger size learns it', 'large', 'none', 'above'),
          ('disturb_loses', 'disturb takes it from the larger size', 'large', 'disturb 0.1',
           'below'),
          ('upweighted_learns', 'the small size learns it up-weighted', 'small', 'upweighted',
           'above')]
  out = []
  for name, statement, size, kind, side in rows:
    out.append(claims.over_seeds(f'{f}_{name}', statement, f'the target per seed: {unit}',
                                 stats[size, kind], **{side: THRESHOLD[f]}))
  return out


def analyse(family: str, config, runs: dict, histories: dict) -> dict:
  """The claims' per-seed statistics, the cost to the other tasks and the measured
  interference of each (size, intervention, strength): its mean over the run's chunks, before
  and after."""
  _, _, small, large, field, _ = ARMS[family]
  summary = runs['interventions']
  sizes = (('small', small),) if family == 'token_ladder' else (('small', small), ('large', large))
  stats = {(name, kind): learned_by_seed(family, summary, size, kind)
           for name, size in sizes for kind in KINDS}
  if family == 'token_ladder':  # d128 plain: disturb at strength 0
    stats['large', 'none'] = learned_by_seed(family, runs['disturb'], large, 'disturb', 0.0)
  for s in DISTURB:
    stats['large', f'disturb {s:g}'] = learned_by_seed(family, runs['disturb'], large,
                                                       'disturb', s)
  stats['small', 'upweighted'] = learned_by_seed(family, runs['upweighted'], small, None)
  measured = {}
  for run in ('interventions', 'disturb'):
    effect = np.nanmean(histories[run].array('interference'), axis=1)  # [M, 2] over chunks
    for m, row in enumerate(runs[run]['members']):
      key = f'{row[field]} {row["intervention"]} {row["strength"]:g}'
      measured.setdefault(key, []).append(effect[m])
  return {'stats': stats,
          'cost_to_others_per_seed': cost_by_seed(family, config, summary, small).tolist(),
          'interference_before_after': {k: np.mean(v, axis=0).tolist()
                                        for k, v in measured.items()}}


def figure(family: str, stats: dict):
  fig, ax = plt.subplots(figsize=(7, 3.6))
  labels = [f'{size} {kind}' for size, kind in stats]
  means = [np.mean(v) for v in stats.values()]
  ax.bar(range(len(labels)), means, color=['C0' if 'small' in lab else 'C1' for lab in labels])
  for i, v in enumerate(stats.values()):
    ax.scatter([i] * len(v), v, color='k', s=8, zorder=3)
  ax.axhline(THRESHOLD[family], color='k', lw=0.5, ls='--')
  ax.set_xticks(range(len(labels)), labels, rotation=45, ha='right', fontsize=8)
  ax.set_ylabel('the target per seed')
  ax.set_title(f'{family}: interventions on the target\'s direction')
  fig.tight_layout()
  return fig


def run_family(family: str, args) -> dict:
  t0 = time.time()
  folder = os.path.join(args.workdir, family)
  seeds = 2 if args.smoke else args.seeds or DEFAULT_SEEDS.get(family, 5)
  configs = {run: _config(family, run, seeds, args.smoke)
             for run in ('interventions', 'disturb', 'upweighted')}
  runs = {run: _run(c, os.path.join(folder, run), not args.smoke) for run, c in configs.items()}
  histories = {run: History.load(os.path.join(folder, run))
               for run in ('interventions', 'disturb')}
  a = analyse(family, configs['interventions'], runs, histories)
  stats = a.pop('stats')
  results = dict(a, family=family, arm=ARMS[family][:4], seeds=seeds,
                 per_seed={f'{s} {k}': v.tolist() for (s, k), v in stats.items()},
                 claims=intervention_claims(family, stats),
                 wall_time_s=round(time.time() - t0, 1))
  expt.write_results(args.workdir, f'{NAME}_{family}', results, figure(family, stats))
  for c in results['claims']:
    print(claims.line(c))
  return results


def main(argv=None) -> dict:
  def flags(parser):
    parser.add_argument('--family', default='all', choices=(*ARMS, 'all'))
    expt.seeds_flag(parser, None, 'member (default 5; 3 for sparse_parity and token_ladder)')
  args = expt.parse_args(NAME, __doc__, argv, extra=flags)
  families_ = list(ARMS) if args.family == 'all' else [args.family]
  return {f: run_family(f, args) for f in families_}


if __name__ == '__main__':
  main(sys.argv[1:])
