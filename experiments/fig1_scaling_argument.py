"""Fig. 1: below a size N_s*, no amount of data reaches the large model's loss.

Command: ``python experiments/fig1_scaling_argument.py --workdir=DIR [--smoke]``. Pure numpy;
about 4 s on a CPU, mostly importing matplotlib (``--smoke`` only thins the plotted curves; the
table is the same).

Shows, side by side, two forms of the argument (``rarelearn.analysis.theory``, "Scaling-law
argument"):
  - paper form: L_C(N) = a_C N^-γ (compute-optimal data), L_∞(N) = a_∞ N^-α (unlimited data),
    γ = 0.34, α = 0.46, a_C = a_∞ = 1 [ours];
  - parametric form: L(N, D) = E + A/N^α + B/D^β with Hoffmann et al. 2022 (Approach 3) constants
    under C = 6ND, from which L_C(N) = E + A (1 + α/β) N^-α and L_∞(N) = E + A N^-α.
For each, L_C and L_∞ against N, the large model's compute-optimal loss L_C(N_l) as the target,
and N_s* where L_∞ crosses it: smaller models need a larger model, models in [N_s*, N_l) get
there with more data. A third panel draws loss against compute for the parametric form: the
large model, one model in each region, and their infinite-data floors. Prints and writes N_s*
(ε = 0) for N_l ∈ {1e7, …, 1e11} in both forms.

Paper (Huang et al. 2026, "Why Larger Models Learn More", arXiv 2605.29548), Fig. 1: a
phenomenological argument with L_C ∝ N^-γ, γ ≈ 0.34, and L_∞ ∝ N^-α, α ≈ 0.46. Because α > γ a
smallest size N_s*(ε) exists below which a capability is learnable only by model scaling; for
ε → 0, N_s* ∝ N_l^(γ/α) ≈ N_l^0.74 (paper form here: log-slope 0.739, N_s*/N_l falls from 1.5e-2
at N_l = 1e7 to 1.4e-3 at 1e11). The parametric form does not reproduce that exponent: its L_C
and L_∞ share the exponent α, so N_s*/N_l = (1 + α/β)^(-1/α) ≈ 0.0965 at every N_l (log-slope 1).
Note the paper's γ ≈ 0.34 equals Hoffmann's loss exponent α, and its α ≈ 0.46 matches Hoffmann's
Approach-3 allocation exponent a (N_opt ∝ C^a), not an exponent of L(N, D).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.ticker  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rarelearn import expt
from rarelearn.analysis import theory

NAME = 'fig1_scaling_argument'
N_LARGE = (1e7, 1e8, 1e9, 1e10, 1e11)  # the table's N_l
N_PLOT = 1e9  # the N_l drawn in the figure
EPS = 0.0


def n_s_star_table(form, eps: float = EPS) -> list[list[float]]:
  """[[N_l, N_s*(ε, N_l)], …] over N_LARGE."""
  return [[n_l, float(form.n_s_star(n_l, eps))] for n_l in N_LARGE]


def _log_slope(table) -> float:
  """Least-squares slope of log N_s* against log N_l."""
  x, y = np.log(np.asarray(table)).T
  return float(np.polyfit(x, y, 1)[0])


def _plot_against_n(ax, form, title: str, n_l: float, points: int) -> None:
  n_s = float(form.n_s_star(n_l, EPS))
  n = np.logspace(np.log10(n_s) - 2, np.log10(n_l) + 1.5, points)
  target = float(form.loss_compute_optimal(n_l)) + EPS
  ax.axvspan(n[0], n_s, color='tab:red', alpha=0.12,
             label='needs a larger model (only $N_l$ reaches)')
  ax.axvspan(n_s, n_l, color='tab:green', alpha=0.15, label='fixable by data (both reach)')
  ax.plot(n, form.loss_compute_optimal(n), 'k-', lw=2, label=r'$L_C(N)$, compute-optimal data')
  ax.plot(n, form.loss_infinite_data(n), 'tab:blue', ls='--', lw=2,
          label=r'$L_\infty(N)$, infinite data')
  ax.axhline(target, color='tab:orange', ls=':', lw=1.5, label=r'target $L_C(N_l)+\varepsilon$')
  ax.plot([n_l], [target], 'o', color='tab:orange', ms=8)
  ax.plot([n_s], [target], 'o', color='tab:blue', ms=8)
  ax.annotate(f'$N_l$={n_l:.0e}', (n_l, target), textcoords='offset points', xytext=(6, 8))
  ax.annotate(f'$N_s^*$={n_s:.2g}', (n_s, target), textcoords='offset points', xytext=(-8, -16),
              ha='right')
  ax.set(xscale='log', yscale='log', xlim=(n[0], n[-1]), xlabel='parameters N', ylabel='loss',
         title=f'{title}\n$N_s^*/N_l$ = {n_s / n_l:.3g}  ($\\varepsilon$ = {EPS:g})')
  ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)


def _plot_against_compute(ax, form: theory.ParametricScaling, n_l: float, points: int) -> None:
  n_s = float(form.n_s_star(n_l, EPS))
  sizes = [(n_l, 'k', r'$N_l$'), (np.sqrt(n_s * n_l), 'tab:green', r'$\sqrt{N_s^* N_l}$ (fixable)'),
           (n_s / 4, 'tab:red', r'$N_s^*/4$ (needs larger)')]
  c_l = 6 * n_l * float(form.d_opt(n_l))
  c = np.logspace(np.log10(c_l) - 3, np.log10(c_l) + 4, points)
  target = float(form.loss_compute_optimal(n_l)) + EPS
  floor = float(form.loss_infinite_data(sizes[-1][0]))
  ax.axhspan(target, floor, color='tab:red', alpha=0.12, label=r'$N_s^*/4$ never reaches')
  ax.axhspan(floor, 1e3, color='tab:green', alpha=0.08, label=r'$N_s^*/4$ reaches too')
  ax.axhline(target, color='tab:orange', ls=':', lw=1.5)
  for size, color, label in sizes:
    ax.plot(c, form.loss(size, c / (6 * size)), color=color, lw=2, label=f'N = {label}')
    ax.axhline(float(form.loss_infinite_data(size)), color=color, ls='--', lw=1)
  n_front = np.logspace(np.log10(n_s) - 2, np.log10(n_l) + 1.5, points)
  ax.plot(6 * n_front * form.d_opt(n_front), form.loss_compute_optimal(n_front), color='0.5',
          ls=':', lw=1.5, label=r'compute-optimal frontier $L_C$')
  ax.plot([c_l], [target], '*', color='tab:orange', ms=13, label=r'$L_C(N_l)$ at $C=6N_lD_{opt}$')
  top = float(form.loss(sizes[-1][0], c[0] / (6 * sizes[-1][0])))
  ax.set(xscale='log', yscale='log', xlim=(c[0], c[-1]), ylim=(form.E + 0.15, top),
         xlabel='training compute C = 6ND (FLOPs)', ylabel='loss',
         title='Parametric form, loss vs compute\n(dashed: infinite-data floors $L_\\infty(N)$)')
  ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)


def figure(paper: theory.PaperScaling, parametric: theory.ParametricScaling, points: int):
  """Both forms against N (panels 1, 2); the parametric form against compute (panel 3)."""
  fig, axes = plt.subplots(1, 3, figsize=(18, 6.4))
  _plot_against_n(axes[0], paper, r'Paper form: $L_C=a_CN^{-\gamma}$, '
                  r'$L_\infty=a_\infty N^{-\alpha}$' f' (γ={paper.gamma}, α={paper.alpha})',
                  N_PLOT, points)
  _plot_against_n(axes[1], parametric, 'Parametric form (Chinchilla): '
                  r'$L=E+A/N^{\alpha}+B/D^{\beta}$', N_PLOT, points)
  _plot_against_compute(axes[2], parametric, N_PLOT, points)
  for ax in axes[1:]:  # a loss floor E > 0 spans less than a decade: plain tick labels
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
  fig.suptitle(f'Fig. 1 scaling argument: who reaches the compute-optimal loss of '
               f'$N_l$ = {N_PLOT:.0e} with unlimited data', y=1.02)
  fig.tight_layout()
  return fig


def run(smoke: bool = False, paper: theory.PaperScaling = theory.PAPER,
        parametric: theory.ParametricScaling = theory.CHINCHILLA) -> tuple[dict, object]:
  """(results for the JSON, the figure); ``smoke`` only thins the plotted curves."""
  paper_table, parametric_table = n_s_star_table(paper), n_s_star_table(parametric)
  results = {
      'n_s_star': paper_table,
      'n_s_star_parametric': parametric_table,
      'ratio': [[n_l, n_s / n_l] for n_l, n_s in paper_table],
      'ratio_parametric': [[n_l, n_s / n_l] for n_l, n_s in parametric_table],
      'log_slope': _log_slope(paper_table),  # γ/α
      'log_slope_parametric': _log_slope(parametric_table),  # 1
      'eps': EPS,
      'constants': dataclasses.asdict(paper),
      'constants_parametric': dataclasses.asdict(parametric),
      'smoke': smoke,
  }
  return results, figure(paper, parametric, 40 if smoke else 400)


def main(argv: Sequence[str] | None = None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv)
  results, fig = run(args.smoke)
  print(f'N_s* at ε = {EPS:g}   paper form (γ/α = {results["log_slope"]:.3f})'
        f'   parametric form (slope {results["log_slope_parametric"]:.3f})')
  print(f'{"N_l":>8}  {"paper N_s*":>10}  {"N_s*/N_l":>9}  {"param N_s*":>10}  {"N_s*/N_l":>9}')
  for (n_l, n_p), (_, n_c) in zip(results['n_s_star'], results['n_s_star_parametric']):
    print(f'{n_l:8.0e}  {n_p:10.4g}  {n_p / n_l:9.4g}  {n_c:10.4g}  {n_c / n_l:9.4g}')
  expt.write_results(args.workdir, NAME, results, fig)
  plt.close(fig)
  return results


if __name__ == '__main__':
  main()
