"""Toy models of superposition (Elhage et al. 2022): sparsity makes a small model represent more
features than it has dimensions — and, asked rarelearn's question, which features does each
hidden size represent when features differ in frequency?

    python experiments/superposition_sparsity.py --workdir=DIR [--seeds=5] [--smoke]

Trains two configs of the ``superposition`` family (configs/superposition.py) through
``rarelearn.main``'s path, in resumable workdirs ``DIR/sparsity`` and ``DIR/zipf``:
- *sparsity* (the default config; Elhage et al.'s first experiment): n = 20 features of
  importance I_i = 0.7^i, hidden size m = 5, every feature of a member present with the same
  probability (density 1 − S) 1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001; 10,000 steps of AdamW
  (lr 1e-3, batch 1,024);
- *zipf* (``:zipf``): n = 40 equally important features present with probabilities
  p_i = 0.2 · (i + 1)^−1.2 (0.2 … 0.0024), hidden sizes m = 2, 4, 6, 8, 12, 16.
A feature is represented when ‖W_i‖ > 0.5 (``train.learned_threshold``) at the end of training.

Claims, fixed before any run of this script (per seed, then the mean over ``--seeds`` seeds;
``ci95`` the Student t 95% interval of the mean; a trend is the mean over seeds of each seed's
Spearman ρ, holding only when its ci95 clears the threshold AND its exact permutation p is below
0.05; ``rarelearn.analysis.claims``):
- ``dense_represents_exactly_top_m``: at density 1, 1 if the represented features are exactly
  the m = 5 most important (0, …, 4), else 0; ci95 above 0.5 (with 3 or more seeds: every seed);
- ``sparse_represents_more_than_m_at_<density>`` for density 0.01, 0.003 and 0.001: the number
  of represented features, ci95 above m = 5;
- ``represented_rises_with_sparsity``: ρ(sparsity S = 1 − density, number represented) over
  the seven densities, ci95 above 0.5;
- ``zipf_represented_rises_with_m``: ρ(m, number represented) over the six hidden sizes, ci95
  above 0.5;
- ``zipf_lowest_represented_frequency_falls_with_m``: ρ(m, the lowest p_i among the represented
  features; a size that represents none counts as twice the highest p_i), ci95 below −0.5 (the
  paper's frontier, Fig. 5, in this family);
- ``zipf_represented_in_frequency_order``: the share of a seed's six members whose represented
  set is exactly the most frequent features (a prefix 0, …, k − 1), ci95 above 0.5.

Writes ``DIR/superposition_sparsity.json``: ``claims``; ``represented_by_density`` and
``represented_by_hidden`` (means over seeds); ``norms`` (‖W_i‖ per member, both configs);
``lowest_represented_frequency`` per hidden size and seed; ``above_threshold_at_init_by_density``
and ``_by_hidden`` (features with ‖W_i‖ > 0.5 at initialization, means over seeds: every column
starts near ``model.init_norm`` = 0.25, so a represented feature is one that training grew);
``wall_time_s``; and ``DIR/superposition_sparsity.png``: ‖W_i‖ against feature for each density
(sparsity) and the represented set of each hidden size against frequency (zipf).

What Elhage et al. report (Toy Models of Superposition, 2022, section "Demonstrating
Superposition", n = 20, m = 5, I_i = 0.7^i): with dense features the model represents the m most
important features in orthogonal directions and ignores the rest; as sparsity rises towards
S = 0.999 it represents more and more features than it has dimensions, in superposition.
The paper summarized in ``shared/paper/BRIEF.md`` has no superposition experiment; the zipf
configuration asks its question of this family.

Runtime: about 10 minutes on a 2-core CPU with 5 seeds (``--smoke``: 2 seeds of 400 steps,
seconds; not the figure's numbers).
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
from rarelearn.runtime.history import History

NAME = 'superposition_sparsity'
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'configs',
                      'superposition.py')
SPARSE = (0.01, 0.003, 0.001)  # the densities of the "more than m" claims


def _train(spec: str, workdir: str, seeds: int, smoke: bool) -> tuple:
  """(config, summary) of a run of ``spec`` with ``seeds`` seeds (resumed where it stopped),
  the summary with ``norm_at_init`` (‖W_i‖ [M][K] at step 0, from the run's metrics);
  ``smoke``: 400 steps of batch 128 at lr 1e-2 (seconds; not the figure)."""
  config = configlib.load_config_file(spec)
  config.model.seeds = seeds
  if smoke:
    config.train.num_steps, config.train.steps_per_chunk, config.train.batch_size = 400, 200, 128
    config.optimizer.lr, config.eval.examples = 1e-2, 1000
  summary = rarelearn_main.train(config, workdir, progress=not smoke)
  at_init = [r for r in History.load(workdir).rows if r['step'] == 0]
  summary['norm_at_init'] = [r['norm'] for r in sorted(at_init, key=lambda r: r['member'])]
  return config, summary


def _by_seed(summary: dict) -> dict:
  """{seed: [(member row, represented bools [K]) …]} in member order."""
  out: dict = {}
  for row, learned in zip(summary['members'], summary['final']['learned']):
    out.setdefault(row['seed'], []).append((row, np.asarray(learned, bool)))
  return out


def _group_means(summary: dict, key: str) -> dict:
  """{value of ``key``: mean over its members of the features with ‖W_i‖ > 0.5 at step 0}."""
  counts: dict = {}
  for row, norms in zip(summary['members'], summary['norm_at_init']):
    counts.setdefault(str(row[key]), []).append(int(np.sum(np.asarray(norms) > 0.5)))
  return {k: float(np.mean(v)) for k, v in counts.items()}


def analyse(sparsity: tuple, zipf: tuple) -> dict:
  """The claims' per-seed statistics and the reported means."""
  (c_sp, s_sp), (c_z, s_z) = sparsity, zipf
  m = max(c_sp.model.hidden)
  densities = list(c_sp.data.density)
  sp = _by_seed(s_sp)
  count_sp = np.asarray([[r.sum() for _, r in sp[z]] for z in sorted(sp)], float)  # [Z, D]
  dense = densities.index(1.0)
  top_m = np.arange(c_sp.model.features) < m
  exact = [float(np.array_equal(sp[z][dense][1], top_m)) for z in sorted(sp)]
  zp = _by_seed(s_z)
  hidden = list(c_z.model.hidden)
  probs = c_z.data.density[0] * np.arange(1, c_z.model.features + 1) ** -c_z.data.zipf
  count_z = np.asarray([[r.sum() for _, r in zp[z]] for z in sorted(zp)], float)  # [Z, N]
  lowest = np.asarray([[probs[r].min() if r.any() else 2 * probs.max() for _, r in zp[z]]
                       for z in sorted(zp)])
  prefix = np.asarray([[float(np.array_equal(r, np.arange(r.size) < r.sum())) for _, r in zp[z]]
                       for z in sorted(zp)])
  return {'densities': densities, 'hidden': hidden, 'frequencies': probs.tolist(),
          'count_sparsity': count_sp, 'exact_top_m': exact, 'count_zipf': count_z,
          'lowest': lowest, 'prefix': prefix, 'm': m,
          'represented_by_density': dict(zip(map(str, densities), count_sp.mean(0).tolist())),
          'represented_by_hidden': dict(zip(map(str, hidden), count_z.mean(0).tolist())),
          'lowest_represented_frequency': lowest.tolist(),
          'above_threshold_at_init_by_density': _group_means(s_sp, 'density'),
          'above_threshold_at_init_by_hidden': _group_means(s_z, 'hidden'),
          'norms': {'sparsity': s_sp['final']['norm'], 'zipf': s_z['final']['norm']},
          'members': {'sparsity': s_sp['members'], 'zipf': s_z['members']}}


def superposition_claims(a: dict) -> list[dict]:
  """The docstring's claims."""
  dens, m = a['densities'], a['m']
  out = [claims.over_seeds(
      'dense_represents_exactly_top_m', f'dense features: exactly the {m} most important are '
      'represented', 'per seed, 1 if the represented set at density 1 is features 0 … m − 1',
      a['exact_top_m'], above=0.5)]
  for d in SPARSE:
    out.append(claims.over_seeds(
        f'sparse_represents_more_than_m_at_{d:g}', f'at density {d:g} more than m = {m} '
        'features are represented', 'number of represented features',
        a['count_sparsity'][:, dens.index(d)], above=m))
  out += [
      claims.trend('represented_rises_with_sparsity', 'sparser features: more represented',
                   [1 - d for d in dens], a['count_sparsity'], above=0.5, over='sparsity'),
      claims.trend('zipf_represented_rises_with_m', 'a larger hidden size represents more '
                   'features', a['hidden'], a['count_zipf'], above=0.5),
      claims.trend('zipf_lowest_represented_frequency_falls_with_m', 'the lowest represented '
                   'frequency falls with the hidden size (the frontier, Fig. 5)', a['hidden'],
                   a['lowest'], below=-0.5),
      claims.over_seeds('zipf_represented_in_frequency_order', 'each size represents the most '
                        'frequent features', 'share of members whose represented set is a '
                        'prefix of the frequency order', a['prefix'].mean(axis=1), above=0.5)]
  return out


def figure(a: dict):
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
  norms = np.asarray(a['norms']['sparsity'])
  for d in a['densities']:
    rows = [i for i, r in enumerate(a['members']['sparsity']) if r['density'] == d]
    ax1.plot(norms[rows].mean(0), marker='o', ms=3, label=f'1 − S = {d:g}')
  ax1.axhline(0.5, color='k', lw=0.5, ls='--')
  ax1.set(xlabel='feature i (importance 0.7^i)', ylabel='‖W_i‖ (mean over seeds)',
          title=f'sparsity: n = {norms.shape[1]}, m = {a["m"]}')
  ax1.legend(fontsize=7)
  freqs, zn = np.asarray(a['frequencies']), np.asarray(a['norms']['zipf'])
  for h in a['hidden']:
    rows = [i for i, r in enumerate(a['members']['zipf']) if r['hidden'] == h]
    ax2.plot(freqs, (zn[rows] > 0.5).mean(0), marker='o', ms=3, label=f'm = {h}')
  ax2.set(xscale='log', xlabel='feature frequency p_i', ylabel='share of seeds representing it',
          title='zipf: which features each size represents')
  ax2.legend(fontsize=7)
  fig.tight_layout()
  return fig


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv,
                         extra=lambda parser: expt.seeds_flag(parser, 5, 'member group'))
  t0 = time.time()
  seeds = 2 if args.smoke else args.seeds
  a = analyse(*(_train(CONFIG + variant, os.path.join(args.workdir, name), seeds, args.smoke)
                for name, variant in (('sparsity', ''), ('zipf', ':zipf'))))
  report = {k: v for k, v in a.items() if k not in ('count_sparsity', 'count_zipf', 'lowest',
                                                     'prefix', 'exact_top_m')}
  results = dict(report, claims=superposition_claims(a), seeds=args.seeds,
                 wall_time_s=round(time.time() - t0, 1))
  expt.write_results(args.workdir, NAME, results, figure(a))
  for c in results['claims']:
    print(claims.line(c))
  return results


if __name__ == '__main__':
  main(sys.argv[1:])
