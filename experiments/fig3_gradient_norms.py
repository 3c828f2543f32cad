"""Fig. 3: common-task gradients are weak in wide models, and bounded by the unexplained residual.

    python experiments/fig3_gradient_norms.py --workdir=DIR [--smoke]

Trains ``configs/sweep.py`` (32 Zipf tasks, linear widths 8…256 × 5 seeds) with per-task
gradient measurement every ``measure.every`` = 250 steps, and reads from ``metrics.jsonl``
``grad_norm_probe`` (||∇ π_k L̂_k|| on a fresh probe batch with 16 examples of every task) and
``grad_bound_probe`` (the residual bound ``measure.gradients.residual_bound`` on the same batch,
||g_k||² ≤ 4 R_k Σ_l c_l² Σ_{b∈k} w_b ||ã_{l,b}||², R_k task k's unexplained loss).

Writes ``DIR/fig3_gradient_norms.json``:
- ``final_common_grad_norm_by_width``: width → mean over the 4 most frequent tasks of
  ``grad_norm_probe``, averaged over seeds and over the measurements in the last 20% of
  training (at least the last one);
- ``final_common_grad_bound_by_width``: the same for ``grad_bound_probe``;
- ``final_common_grad_norm_by_seed``: [seed][width] the same per seed;
- ``max_norm_over_bound_by_seed``: per seed the largest measured norm / its bound;
- ``bound_violations``: the number of (member, measured step, task) with a measured norm above
  its bound (relative tolerance 1e-5 for float32 rounding); must be 0;
- ``measurements``: how many (member, step) measurements were checked;
and ``DIR/fig3_gradient_norms.png``: the common-task norm over training for each width (bound
dashed), and the final norm and bound against width.

Claims, fixed before the run (per seed, Student t intervals over the 5 seeds; a trend holds
only with its permutation p below 0.05; ``rarelearn.analysis.claims``):
- ``common_gradient_falls_with_width``: the final common-task gradient norm falls with width
  over all 6 widths — Spearman ρ(width, norm), ci95 below 0;
- ``residual_bound_holds`` (a check: a theorem): no measured probe gradient exceeds its
  residual bound — the largest ratio norm / bound over every member, measurement and task of a seed,
  ci95 below
  1 + 1e-5 (float32 rounding).

Reading the numbers: for the linear toy every task's *population* gradient vanishes at a width-N
optimum (the block structure makes stationarity hold task by task), so what a narrow model keeps
is the stochastic gradient of the tasks it cannot fit: sampling noise of size ∝ sqrt(R_k / n)
that never averages out of a batch. A task the model has fitted (R_k = 0) pushes nothing at
all; wide models fit the common tasks and their common-task gradients fall to ~0.

What the paper reports (Huang et al. 2026, arXiv 2605.29548, Fig. 3 and Theorem 4): a task set's
gradient norm is bounded by its unexplained (residual) covariance; wider models fit the common
tasks, so their gradients fall toward zero, leaving room for rare tasks; narrow models keep
large common-task gradients.

Runtime: about 7 minutes on a 2-core CPU (5 seeds; ``--smoke``: seconds, 2 seeds; its numbers
are not the figure's).
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
from rarelearn.analysis import claims
from rarelearn.core import configlib
from rarelearn.runtime import workdir as wd

NAME = 'fig3_gradient_norms'
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs')
NUM_COMMON = 4
FINAL_FRACTION = 0.2
RTOL = 1e-5


def analyse(rows: list[dict], freqs, num_steps: int) -> dict:
  """The figure's numbers from the measurement rows of ``metrics.jsonl``."""
  meas = [r for r in rows if 'grad_norm_probe' in r]
  common = np.argsort(-np.asarray(freqs), kind='stable')[:NUM_COMMON]
  widths = sorted({r['width'] for r in meas})
  steps = sorted({r['step'] for r in meas})
  final = [t for t in steps if t >= (1 - FINAL_FRACTION) * num_steps] or steps[-1:]
  curves, norm_by_width, bound_by_width = {}, {}, {}
  for w in widths:
    mine = [r for r in meas if r['width'] == w]
    curve = {t: [np.mean(np.asarray(r['grad_norm_probe'])[common]) for r in mine
                 if r['step'] == t] for t in steps}
    bound = {t: [np.mean(np.asarray(r['grad_bound_probe'])[common]) for r in mine
                 if r['step'] == t] for t in steps}
    curves[w] = ([float(np.mean(curve[t])) for t in steps], [float(np.mean(bound[t])) for t in steps])
    norm_by_width[w] = float(np.mean([v for t in final for v in curve[t]]))
    bound_by_width[w] = float(np.mean([v for t in final for v in bound[t]]))
  violations = sum(int(np.sum(np.asarray(r['grad_norm_probe'])
                              > np.asarray(r['grad_bound_probe']) * (1 + RTOL))) for r in meas)
  seeds = sorted({r['seed'] for r in meas})
  by_seed = [[float(np.mean([np.mean(np.asarray(r['grad_norm_probe'])[common]) for r in meas
                             if (r['width'], r['seed']) == (w, z) and r['step'] in final]))
              for w in widths] for z in seeds]
  ratio = [max(float(np.max(np.asarray(r['grad_norm_probe'])
                            / np.maximum(np.asarray(r['grad_bound_probe']), 1e-30)))
               for r in meas if r['seed'] == z) for z in seeds]
  return {'final_common_grad_norm_by_seed': by_seed, 'max_norm_over_bound_by_seed': ratio,
          'final_common_grad_norm_by_width': norm_by_width,
          'final_common_grad_bound_by_width': bound_by_width,
          'bound_violations': violations, 'measurements': len(meas),
          'common_tasks': common.tolist(), 'final_steps': final,
          'steps': steps, 'curves': curves}


def fig3_claims(res: dict) -> list[dict]:
  """The docstring's claims, per seed."""
  widths = sorted(res['final_common_grad_norm_by_width'])
  return [
      claims.trend('common_gradient_falls_with_width', 'the final common-task gradient norm '
                   'falls with width', widths, res['final_common_grad_norm_by_seed'], below=0.0),
      claims.over_seeds('residual_bound_holds', 'no measured probe gradient exceeds its '
                        'residual bound', 'largest norm / bound over members, measurements '
                        'and tasks', res['max_norm_over_bound_by_seed'], below=1 + RTOL,
                        kind='check')]  # a theorem: holds by construction


def figure(res: dict):
  fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.4))
  widths = sorted(res['final_common_grad_norm_by_width'])
  cmap = plt.get_cmap('viridis')
  floor = 1e-9  # a fitted task's norm is 0 up to float rounding; shown at this floor on log axes
  for i, w in enumerate(widths):
    color = cmap(i / max(len(widths) - 1, 1))
    norm, bound = res['curves'][w]
    ax0.plot(res['steps'], np.maximum(norm, floor), color=color, lw=1.6, label=f'N = {w}')
    ax0.plot(res['steps'], np.maximum(bound, floor), color=color, lw=1, ls='--')
  ax0.set_yscale('log')
  ax0.set_xlabel('step')
  ax0.set_ylabel(f'mean ||g_k|| over the {NUM_COMMON} most frequent tasks')
  ax0.set_title('common-task probe gradient norm (dashed: residual bound)')
  ax0.legend(fontsize=8, ncol=2, loc='lower left')
  ax1.plot(widths, [max(res['final_common_grad_norm_by_width'][w], floor) for w in widths],
           'o-', label='measured')
  ax1.plot(widths, [max(res['final_common_grad_bound_by_width'][w], floor) for w in widths],
           's--', label='residual bound')
  ax1.set_xscale('log', base=2)
  ax1.set_yscale('log')
  ax1.set_xlabel('width N')
  ax1.set_ylabel('final common-task gradient norm')
  ax1.set_title(f'end of training (bound violations: {res["bound_violations"]})')
  ax1.legend(fontsize=8)
  fig.tight_layout()
  return fig


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv)
  variant = ':smoke' if args.smoke else ''
  config = configlib.load_config_file(os.path.join(CONFIGS, 'sweep.py') + variant)
  workdir = os.path.join(args.workdir, 'sweep')
  print(f'{NAME}: training configs/sweep.py{variant} with measurement every '
        f'{config.measure.every} steps', file=sys.stderr)
  if not args.smoke:  # the claims' seeds
    config.population.seeds = max(5, config.population.seeds)
  summary = rarelearn.train(config, workdir, overwrite=True, progress=not args.smoke).summary
  rows = wd.read_metrics(workdir)
  res = analyse(rows, [t['frequency'] for t in summary['tasks']], config.train.num_steps)
  fig = figure(res)
  for w, v in res['final_common_grad_norm_by_width'].items():
    print(f'{NAME}: width {w:4d}: final common-task gradient norm {v:.3e} '
          f'(bound {res["final_common_grad_bound_by_width"][w]:.3e})')
  print(f'{NAME}: bound violations: '
        f'{res["bound_violations"]} (tasks × {res["measurements"]} member-step measurements)')
  out = {k: v for k, v in res.items() if k != 'curves'}
  out['curves'] = {w: {'common_grad_norm': c[0], 'common_grad_bound': c[1]}
                   for w, c in res['curves'].items()}
  out['claims'] = fig3_claims(res)
  for c in out['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  out['smoke'] = args.smoke
  expt.write_results(args.workdir, NAME, out, fig)
  plt.close(fig)
  return out


if __name__ == '__main__':
  main()
