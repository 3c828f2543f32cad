"""experiments/*.py end to end with --smoke: each writes its JSON and figure, and the numbers it
reports equal an independent recomputation (theory closed forms, hand-worked predictions, or
the run's own metrics.jsonl)."""
import importlib.util
import json
import os

import numpy as np
import pytest
from scipy import stats

from rarelearn import expt
from rarelearn.analysis import theory
from rarelearn.runtime.history import History
from conftest import assert_golden

EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'experiments')


def _module(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(EXPERIMENTS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _run(name, tmp_path_factory):
  module = _module(name)
  workdir = tmp_path_factory.mktemp(name)
  module.main(['--workdir', str(workdir), '--smoke'])
  with open(workdir / f'{name}.json') as f:
    results = json.load(f)
  png = workdir / f'{name}.png'
  assert png.exists() and png.stat().st_size > 10_000
  return results, workdir


@pytest.fixture(scope='module')
def fig1(tmp_path_factory):
  return _run('fig1_scaling_argument', tmp_path_factory)


@pytest.fixture(scope='module')
def fig2(tmp_path_factory):
  return _run('fig2_phase_diagram', tmp_path_factory)


@pytest.fixture(scope='module')
def fig3(tmp_path_factory):
  return _run('fig3_gradient_norms', tmp_path_factory)


def test_fig1_tables_equal_theory(fig1):
  results, _ = fig1
  for key, form in (('n_s_star', theory.PAPER), ('n_s_star_parametric', theory.CHINCHILLA)):
    n_l, n_s = np.array(results[key]).T
    np.testing.assert_array_equal(n_l, [1e7, 1e8, 1e9, 1e10, 1e11])
    np.testing.assert_allclose(n_s, form.n_s_star(n_l, 0.0), rtol=1e-12)
  assert results['eps'] == 0.0


def test_fig1_scaling_of_n_s_star(fig1):
  """Paper form: N_s* = N_l^(0.34/0.46) (a_C = a_∞ = 1). Parametric: N_s*/N_l = 0.0965177."""
  results, _ = fig1
  n_l, n_s = np.array(results['n_s_star']).T
  np.testing.assert_allclose(n_s, n_l ** (0.34 / 0.46), rtol=1e-10)
  assert results['log_slope'] == pytest.approx(0.34 / 0.46)
  ratio = np.array(results['ratio_parametric'])[:, 1]
  np.testing.assert_allclose(ratio, 0.09651768, rtol=1e-6)
  assert results['log_slope_parametric'] == pytest.approx(1.0)


# configs/complexity.py:smoke, worked by hand (tests/test_theory.py checks the theory functions
# on the same example): π ∝ (1, 1/2, 1/3, 1/4), decays (0, 3, 0, 3) over 4 directions.
# Utility: width 2 keeps task 1's first direction and one of task 0's; width 5 all of task 0.
# Frequency only (mean spectrum (.5496, .1781, .1407, .1316)): width 2 learns tasks 0 and 1
# (.5496 each); width 5 tasks 0, 1 and 2 (task 0's third direction, .0675, beats task 3's first,
# .0659).
SMOKE_UTILITY = {2: [False, True, False, False], 5: [True, True, False, False]}
SMOKE_FREQUENCY_ONLY = {2: [True, True, False, False], 5: [True, True, True, False]}


def test_fig2_agreements_against_hand_predictions(fig2):
  results, workdir = fig2
  with open(workdir / 'complexity' / 'summary.json') as f:
    summary = json.load(f)
  assert_golden('complexity_smoke', summary['final'])
  widths = [m['width'] for m in summary['members']]
  learned = np.array(summary['final']['learned'])
  assert learned.shape == (4, 4)  # widths (2, 5) × 2 seeds, 4 tasks
  by_utility = np.array([SMOKE_UTILITY[w] for w in widths])
  by_frequency = np.array([SMOKE_FREQUENCY_ONLY[w] for w in widths])
  assert results['agreement_utility'] == pytest.approx(np.mean(learned == by_utility))
  assert results['agreement_frequency_only'] == pytest.approx(np.mean(learned == by_frequency))
  for name in ('sweep', 'complexity'):
    assert (workdir / name / 'summary.json').exists()
  # the claims, per seed from the hand predictions; 2 seeds: each interval is their range
  seeds = np.array([m['seed'] for m in summary['members']])
  right = lambda by: [float(np.mean((learned == by)[seeds == z])) for z in sorted(set(seeds))]
  diff = np.subtract(right(by_utility), right(by_frequency))
  claimed = {c['name']: c for c in results['claims']}
  assert claimed['utility_predicts_complexity']['per_seed'] == pytest.approx(right(by_utility))
  assert claimed['utility_beats_frequency']['per_seed'] == pytest.approx(diff)
  assert claimed['utility_beats_frequency']['ci95'] == pytest.approx([min(diff), max(diff)])
  # the sensitivity table at the run's own threshold (0.5), recomputed from the scores, is the
  # claims' values from the stored learned sets
  at_half = next(r for r in results['sensitivity'] if r['threshold'] == 0.5)
  assert {k: at_half[k] for k in claimed} == pytest.approx(
      {k: c['value'] for k, c in claimed.items()})


def test_fig3_norms_and_bound_from_metrics(fig3):
  results, workdir = fig3
  with open(workdir / 'sweep' / 'metrics.jsonl') as f:
    rows = [json.loads(line) for line in f if 'grad_norm_probe' in line]
  # configs/sweep.py:smoke: widths (2, 4, 8) × 2 seeds, measured every 10 of 60 steps; the
  # final 20% of training holds the measurements at steps 50 and 60; tasks 0-3 are the
  # 4 most frequent (Zipf).
  assert results['measurements'] == len(rows) == 3 * 2 * 6
  assert results['final_steps'] == [50, 60]
  for width in (2, 4, 8):
    want = np.mean([np.mean(r['grad_norm_probe'][:4]) for r in rows
                    if r['width'] == width and r['step'] >= 50])
    assert results['final_common_grad_norm_by_width'][str(width)] == pytest.approx(want)
  violations = sum(int(np.sum(np.array(r['grad_norm_probe']) > np.array(r['grad_bound_probe'])
                              * (1 + 1e-5))) for r in rows)
  assert results['bound_violations'] == violations == 0
  # the claims, per seed from the rows; the trend's ρ from scipy on the means over seeds
  by_seed = [[np.mean([np.mean(r['grad_norm_probe'][:4]) for r in rows
                       if (r['width'], r['seed']) == (w, z) and r['step'] >= 50])
              for w in (2, 4, 8)] for z in (0, 1)]
  ratio = [max(max(np.array(r['grad_norm_probe']) / np.maximum(r['grad_bound_probe'], 1e-30))
               for r in rows if r['seed'] == z) for z in (0, 1)]
  claimed = {c['name']: c for c in results['claims']}
  trend = claimed['common_gradient_falls_with_width']
  np.testing.assert_allclose(trend['per_seed'], by_seed, rtol=1e-12)
  assert trend['value'] == pytest.approx(stats.spearmanr((2, 4, 8), np.mean(by_seed, 0))[0])
  assert claimed['residual_bound_holds']['per_seed'] == pytest.approx(ratio)


@pytest.fixture(scope='module')
def fig4(tmp_path_factory):
  return _run('fig4_injection', tmp_path_factory)


def test_fig4_retention_and_gap_sweep_from_the_runs(fig4):
  """configs/injection.py:smoke: bursts of 4 batches every 20 steps from step 10 (steps 10, 30,
  50; the one at 50 has no successor within 60 steps); gap sweep G ∈ {1, 5} over 20 steps."""
  from rarelearn.measure import retention  # pylint: disable=g-import-not-at-top
  results, workdir = fig4
  with open(workdir / 'injection' / 'summary.json') as f:
    assert_golden('injection_smoke', json.load(f)['final'])
  with open(workdir / 'injection' / 'metrics.jsonl') as f:
    all_rows = [json.loads(line) for line in f if line.strip()]
  rows = [r for r in all_rows if 'task_score' in r]
  for width in (2, 8):
    mine = [r for r in rows if r['width'] == width]
    steps, score = [r['step'] for r in mine], [r['task_score'][3] for r in mine]
    at = dict(zip(steps, score))
    assert results['final_score_by_width'][str(width)] == pytest.approx(at[60])
    gains = [at[14] - at[10], at[34] - at[30]]
    assert results['gains_by_width'][str(width)] == pytest.approx(gains)
    want = retention.retention(steps, score, 20, 4, 10)['mean_retained']
    got = results['retention_by_width'][str(width)]
    assert (got is None and np.isnan(want)) or got == pytest.approx(want)
  measured = [r for r in all_rows if 'ref_cos_batch' in r]
  for width in (2, 8):
    mine = [r for r in measured if r['width'] == width]
    want = retention.burst_aligned([r['step'] for r in mine], [r['ref_cos_batch'] for r in mine],
                                   20, 10)
    assert set(want) == set(range(0, 20, 2))  # measured every 2 steps
    assert results['cos_by_burst_phase'][str(width)] == pytest.approx(
        {str(k): v for k, v in want.items()})
  assert results['burst_steps_by_gap'] == {'1': 1, '5': 1}  # round(G·32·0.12) ≤ 32
  with open(workdir / 'gaps' / 'summary.json') as f:
    summary = json.load(f)
  assert summary['steps'] == 20
  assert [(m['width'], m['gap']) for m in summary['members']] == [
      (w, g) for w in (2, 8) for g in (1, 5)]
  for i, member in enumerate(summary['members']):
    assert results['final_score_by_gap'][str(member['gap'])][str(member['width'])] == (
        pytest.approx(summary['final']['task_score'][i][3]))


def test_fig4_claims_on_hand_made_seeds():
  fig4 = _module('fig4_injection')
  bursts = {32: {'final': [-0.9, -0.8, -1.0], 'retention': [-0.1, 0.2, 0.6], 'burst_end': [0] * 3},
            256: {'final': [0.99, 0.98, 0.97], 'retention': [1.0, 0.9, 0.95], 'burst_end': [1] * 3}}
  # gap → width → 3 seeds: width 32 falls with G in every seed, width 256 rises at G = 1000
  by_gap = {1: {32: [0.5, 0.4, 0.6], 256: [0.9] * 3}, 10: {32: [0.3, 0.3, 0.2], 256: [0.8] * 3},
            50: {32: [0.1, 0.2, 0.1], 256: [0.7] * 3}, 1000: {32: [0.0, 0.0, 0.0],
                                                              256: [0.95, 0.9, 0.99]}}
  got = {c['name']: c for c in fig4.fig4_claims(bursts, by_gap)}
  # retained −0.1, 0.2, 0.6: mean 0.2333, s = 0.3512, t interval 0.2333 ∓ 4.3027 · 0.3512 / √3
  np.testing.assert_allclose(got['narrow_forgets']['ci95'], [-0.639067, 1.105734], atol=1e-6)
  assert not got['narrow_forgets']['holds']
  # 0.99, 0.98, 0.97: 0.98 ∓ 4.3027 · 0.01 / √3 = [0.955, 1.005]; a check, not evidence
  assert got['wide_keeps']['holds'] and got['wide_keeps']['kind'] == 'check'
  assert not got['wide_retains_more']['holds']  # differences 1.1, 0.7, 0.35: [−0.22, 1.65]
  assert got['larger_gaps_hurt_at_width_32']['value'] == -1.0
  assert got['larger_gaps_hurt_at_width_32']['holds']
  # means 0.9, 0.8, 0.7, 0.947: ranks 3 2 1 4, Σd² = 8, ρ = 1 − 6·8 / (4·15)
  assert got['larger_gaps_hurt_at_width_256']['rho_of_means'] == pytest.approx(0.2)
  assert not got['larger_gaps_hurt_at_width_256']['holds']
  one = {w: {k: v[:1] for k, v in b.items()} for w, b in bursts.items()}
  assert fig4.fig4_claims(one, by_gap) == []  # one seed (smoke): no claims


def test_lever_claims_on_a_hand_made_analysis():
  """Widths 8, 16, 32 × π_r .005, .01, .02, .04 × 2 seeds; the theory's critical widths 60, 30,
  12, 5 round up to none, 32, 16, 8. Seed 0's smallest learning widths are none, 32, 16, 8 (4
  of 4 agree: neither learns at .005), seed 1's none, none, 16, 8 (3 of 4). Seed 0 routes
  widths 8 (up-weight, Δ 0.3) and 16 (scale); seed 1 width 8 (up-weight, Δ 0.05)."""
  lever = _module('lever_upweight_vs_scale')
  sizes = [100.0, 200.0, 400.0]
  route = lambda seed, size, cheaper, change: {
      'seed': seed, 'size': size, 'cheaper': cheaper, 'upweight': {'other_loss_change': change}}
  res = {'labels': ['width 8', 'width 16', 'width 32'], 'sizes': sizes, 'seeds': [0, 1],
         'theory': {'critical_width': {0.005: 60, 0.01: 30, 0.02: 12, 0.04: 5}, 'kappa': 0.9},
         'frontier': {'by_frequency': [{'smallest_size': [None, None]},
                                       {'smallest_size': [400.0, None]},
                                       {'smallest_size': [200.0, 200.0]},
                                       {'smallest_size': [100.0, 100.0]}]},
         'routes': [route(0, 100.0, 'upweight', 0.3), route(0, 200.0, 'scale', 0.0),
                    route(1, 100.0, 'upweight', 0.05)],
         'power_law': {'fit': {'kappa_ci95': [0.5, 0.8]}}}
  assert lever.toy_seed_values(res) == [(1.0, 0.5, 0.3), (0.75, 1.0, 0.05)]
  got = {c['name']: c for c in lever.toy_claims(res)}
  assert not got['toy_kappa_matches_theory']['holds']  # 0.9 is outside [0.5, 0.8]
  # seeds 1.0 and 0.75: 0.875 ∓ t(0.975, 1) · 0.17678 / √2 = 0.875 ∓ 12.7062 · 0.125
  assert got['toy_frontier_matches_theory']['ci95'] == pytest.approx([-0.713276, 2.463276])
  assert not got['toy_frontier_matches_theory']['holds']
  assert not got['toy_upweight_cheaper']['holds']  # seed 0's 0.5 is not above 0.5
  assert not got['toy_upweight_costs_others_little']['holds']  # seed 0's 0.3
  res['power_law']['fit']['kappa_ci95'] = [0.5, 1.2]
  assert {c['name']: c for c in lever.toy_claims(res)}['toy_kappa_matches_theory']['holds']
  # held out: width 32's frontier 0.02 [0.015, 0.03] inside (0.01, 0.05); width 16's outside
  held = {'frontier': {'by_size': [
      {'label': 'width 8', 'size': 100.0, 'geometric_mean': 0.1, 'ci95': [0.1, 0.1],
       'midpoint': [0.1, 0.1]},
      {'label': 'width 16', 'size': 200.0, 'geometric_mean': 0.06, 'ci95': [0.05, 0.07],
       'midpoint': [0.05, 0.07]},
      {'label': 'width 32', 'size': 400.0, 'geometric_mean': 0.02, 'ci95': [0.015, 0.03],
       'midpoint': [0.015, 0.03]}]},
      'power_law': {'predictions': [{}, {'held_out': True, 'interval': [0.02, 0.05]},
                                    {'held_out': True, 'interval': [0.01, 0.05]}]}}
  made = lever.heldout_claims('toy', held)
  assert [(c['name'], c['holds']) for c in made] == [('toy_heldout_width_16_inside', False),
                                                     ('toy_heldout_width_32_inside', True)]


@pytest.fixture(scope='module')
def lever_run(tmp_path_factory):
  return _run('lever_upweight_vs_scale', tmp_path_factory)


def test_lever_run_reports_its_own_trajectories(lever_run):
  """configs/lever.py:smoke: widths (2, 4, 8) × factors (1, 4) on task 3 (π = .12); the final
  scores and learning steps equal metrics.jsonl's, the rule recomputed here."""
  results, workdir = lever_run
  with open(workdir / 'toy' / 'summary.json') as f:
    assert_golden('lever_smoke', json.load(f)['final'])
  res = results['toy']['all']
  assert res['frequencies'] == pytest.approx([0.12, 0.48])
  assert res['sizes'] == [2 * w * 8 + w + 8 for w in (2, 4, 8)]  # D = 4·2, weights and biases
  with open(workdir / 'toy' / 'metrics.jsonl') as f:
    rows = [json.loads(line) for line in f if 'task_score' in line]
  for i, w in enumerate((2, 4, 8)):
    for j, factor in enumerate((1.0, 4.0)):
      mine = [r for r in rows if r['width'] == w and r['factor'] == factor]
      curve = [r['task_score'][3] for r in mine]
      assert res['final_score'][i][j][0] == pytest.approx(curve[-1])
      want = next((mine[t]['step'] for t in range(len(curve))
                   if curve[t] >= 0.5 and min(curve[t:]) >= 0.45), None)
      assert res['learning_step'][i][j][0] == want
  # one seed (no toy claims); no fit on the one size left: the held-out claims do not hold
  assert [(c['name'], c['holds']) for c in results['claims']] == [
      ('toy_heldout_width_4_inside', False), ('toy_heldout_width_8_inside', False)]
  assert results['claims'][0]['criterion'].startswith('value within no interval (the power law')


def test_msp_analysis_on_a_synthetic_population():
  """Five subtasks learned by the widest member at steps 10, 20, 40, 80, 160 with
  π_t ∝ step_t^(−1/0.8): slope exactly −0.8 and Spearman 1; the narrower members' constant
  losses follow parameters^−0.4 from the widest one's final loss: loss slope exactly −0.4."""
  peer = _module('peer_michaud_msp')
  learn_at = np.array([10, 20, 40, 80, 160])
  freqs = learn_at ** (-1 / 0.8)
  freqs /= freqs.sum()
  steps = np.arange(0, 1001, 10)
  widths, input_dim = np.array([4, 8, 16]), 5 + 3
  loss = np.zeros((len(steps), 3, 5))
  loss[:, 2, :] = np.where(steps[:, None] >= learn_at[None, :], 0.01, 1.0)
  params = np.array([peer.num_params(w, input_dim) for w in widths], float)
  assert params[0] == 8 * 4 + 4 + 2 * 5
  for m in (0, 1):
    loss[:, m, :] = 0.01 * (params[m] / params[2]) ** -0.4
  res = {'steps': steps, 'task_loss_bits': loss, 'widths': widths, 'seeds': np.zeros(3, int),
         'frequencies': freqs, 'num_data_bits': 3}
  out = peer.analyse(res, 0.1)
  assert out['learned_by_width'] == {4: float(np.sum(loss[-1, 0] < 0.1)),
                                     8: float(np.sum(loss[-1, 1] < 0.1)), 16: 5.0}
  assert out['learning_steps_widest'] == dict(enumerate(learn_at.tolist()))
  assert out['frequency_order_spearman'] == pytest.approx(1.0)
  assert out['time_to_learn_slope'] == pytest.approx(-0.8)
  assert out['loss_slope_widths'] == [8, 16]  # the fixed widths 8…128 that the run has
  assert out['loss_slope'] == pytest.approx(-0.4)


@pytest.fixture(scope='module')
def msp_run(tmp_path_factory):
  return _run('peer_michaud_msp', tmp_path_factory)


def test_msp_run_writes_its_numbers(msp_run):
  """configs/msp.py:smoke (widths 4, 8, 16 × 2 seeds; 6 subtasks of order 2) and its complexity
  part (orders 1, 3, 3, 1, 1, 3: in the middle pair the order-3 subtask is the more frequent):
  the counts agree with every member's learning steps, and the complexity claim's per-seed
  values with learning steps recomputed from the run's metrics."""
  results, workdir = msp_run
  per = results['per_seed']
  assert len(per) == 2
  assert {w: float(np.mean([sum(s is not None for s in p['learn_step'][i]) for p in per]))
          for i, w in enumerate(('4', '8', '16'))} == results['learned_by_width']
  assert set(results['complexity']) == {'1', '3', 'pairs'}
  assert all(results['complexity'][k]['num_tasks'] == 3 for k in ('1', '3'))
  history = History.load(str(workdir / 'complexity'))
  steps, loss = history.steps('task_loss'), history.array('task_loss')  # [M, P, K]
  threshold = 0.9
  first = lambda ok: next((int(steps[i]) for i in range(len(ok)) if all(ok[i:])), None)
  want = []
  for m, member in enumerate(history.members):
    if member['width'] == 16:  # the widest member of each seed
      hi, lo = (first(1.0 - loss[m, :, t] >= threshold) for t in (2, 3))
      want.append(0.5 if hi is None and lo is None else
                  float(lo is not None and (hi is None or hi > lo)))
  assert results['complexity']['pairs']['complex_more_frequent'] == want
  claimed = {c['name']: c for c in results['claims']}
  assert claimed['complexity_beyond_rarity']['per_seed'] == want
  assert claimed['more_subtasks_with_width']['per_seed'] == [p['learned'] for p in per]
  assert results['michaud'] == {'loss_slope': -0.4, 'time_to_learn_slope': -0.8}
  # the sensitivity table: subtasks learned at the end at each threshold, from the metrics
  main = History.load(str(workdir / 'msp'))
  final = main.array('task_loss')[:, -1]  # [M, K]
  widths = np.array([m['width'] for m in main.members])
  for row in results['sensitivity']:
    assert row['learned_by_width'] == [
        float(np.mean(np.sum(1.0 - final[widths == w] >= row['threshold'], axis=1)))
        for w in (4, 8, 16)]
  assert [row['threshold'] for row in results['sensitivity']] == [0.8, 0.85, 0.9, 0.95]


def test_fig5_frontier_and_claims_on_a_hand_made_grid():
  fig5 = _module('fig5_olmo_heatmap')
  freqs = [0.5, 0.2, 0.1, 0.05]
  acc = np.array([[0.85, 0.3, 0.1, 0.0],    # smallest: learns at 0.5 only
                  [0.9, 0.81, 0.2, 0.1],    # 0.2
                  [0.95, 0.9, 0.85, 0.79],  # 0.1
                  [0.85, 0.2, 0.1, 0.0]])   # only at 0.5 again: the frontier rises
  assert fig5.min_learned(acc, freqs, 0.8) == [0.5, 0.2, 0.1, 0.5]
  # 3 rungs × 3 frequencies × 2 seeds, worked by hand
  seed0 = [[0.85, 0.3, 0.1], [0.9, 0.81, 0.2], [0.6, 0.9, 0.85]]
  seed1 = [[0.5, 0.1, 0.0], [0.9, 0.5, 0.1], [0.6, 0.85, 0.2]]
  grid = np.stack([seed0, seed1], axis=-1)  # [R, F, Z]
  freqs = [0.5, 0.2, 0.1]
  # lowest learned per seed; never → 2 × 0.5; each seed falls (ρ = −1), but over 3 rungs the
  # smallest permutation p is 1/6: it cannot hold
  np.testing.assert_array_equal(fig5.frontier_per_seed(grid, freqs, 0.8),
                                [[0.5, 0.2, 0.1], [1.0, 0.5, 0.2]])
  made = {c['name']: c for c in fig5.task_claims('cmp', ['10', '20', '40'], freqs, grid, 0.8)}
  frontier = made['cmp_frontier_falls_with_size']
  assert (frontier['value'], frontier['ci95'], frontier['holds']) == (-1.0, [-1.0, -1.0], False)
  assert frontier['p_permutation'] == pytest.approx(1 / 6) and 'cannot hold' in frontier['note']
  # at 0.5 seed 0 ranks 2, 3, 1 (ρ −0.5), seed 1 1, 3, 2 (ρ 0.5): mean 0; the means 0.675,
  # 0.9, 0.6 rank 2, 3, 1 (ρ −0.5)
  at = made['cmp_accuracy_rises_with_size_at_0.5']
  assert at['value'] == pytest.approx(0.0) and at['rho_of_means'] == pytest.approx(-0.5)
  assert not at['holds']
  # at 0.2 (0.2, 0.655, 0.875) and 0.1 (0.05, 0.15, 0.525) both seeds rise: ρ = 1, and still
  # no claim over 3 rungs holds
  assert all(made[f'cmp_accuracy_rises_with_size_at_{f}']['value'] == 1.0 and
             not made[f'cmp_accuracy_rises_with_size_at_{f}']['holds'] for f in ('0.2', '0.1'))
  # at 0.9: rung 1 learns 0.5 in both seeds, rung 2 learns 0.2 in seed 0 only (1.0 in seed 1)
  rows = {r['threshold']: r for r in fig5.sensitivity('cmp', ['10', '20', '40'], freqs, grid)}
  np.testing.assert_allclose(rows[0.9]['min_learned_frequency_mean'], [1.0, 0.5, 0.6])
  assert fig5.task_claims('cmp', ['10', '20'], freqs, grid[:2], 0.8) == []  # 2 rungs: none


def test_fig5_and_fig7_smoke_report_their_own_cells_of_one_run(tmp_path_factory):
  """fig5 trains the ladder in DIR/ladder_cmp; fig7 with the same DIR reads that run back."""
  results, workdir = _run('fig5_olmo_heatmap', tmp_path_factory)
  _fig7_smoke(workdir, results)
  raw = np.load(workdir / 'fig5_olmo_heatmap.npz')
  acc = results['test_accuracy']['cmp']
  assert len(acc) == 2 and all(len(row) == 2 for row in acc.values())  # 2 rungs × 2 freqs
  threshold = results['learned_threshold']
  steps = raw['cmp.steps']
  for r, (size, row) in enumerate(acc.items()):
    learned = [float(f) for f, a in row.items() if a >= threshold]
    assert results['min_learned_frequency_by_size']['cmp'][size] == (min(learned) if learned
                                                                       else None)
    assert results['min_learned_frequency_per_seed']['cmp'][0][r] == (
        min(learned) if learned else 2 * max(map(float, row)))
    for i, (f, a) in enumerate(row.items()):
      curve = raw['cmp.test_accuracy'][r, i, 0]
      assert a == pytest.approx(float(curve[-1]))
      hits = np.flatnonzero(curve < threshold)  # learned from the evaluation after the last miss
      want = None if curve[-1] < threshold else int(steps[hits[-1] + 1] if hits.size else 0)
      assert results['learning_step']['cmp'][size][f] == want
  sizes = [int(s) for s in acc]
  assert sizes == sorted(sizes) and [r['non_embedding'] for r in results['rungs']] == sizes
  # the ladder's own arrays (rarelearn.population.ladder.grid): [rungs, frequencies, seeds,
  # evaluations]
  P = len(steps)
  assert raw['cmp.test_accuracy'].shape == (2, 2, 1, P) and raw['cmp.train_loss'].shape == (
      2, 2, 1, P - 1)
  bg = raw['cmp.background_loss']
  np.testing.assert_allclose(bg[..., 0], np.log(160), atol=0.05)  # std-0.02 init: ≈ uniform
  assert np.all(bg[..., -1] < bg[..., 0])
  # peak lr × (N / N_0)^(-1/3), by hand
  n = np.asarray(sizes, float)
  np.testing.assert_allclose([r['lr'] for r in results['rungs']], 1e-2 * (n / n[0]) ** (-1 / 3),
                             rtol=1e-6)
  # accuracies are fractions of the 5,000 test pairs
  counts = raw['cmp.test_accuracy'] * 5000
  np.testing.assert_allclose(counts, np.round(counts), atol=2e-3)
  # the lever reads the same run: its grid is fig5's arrays, its costs by hand
  from rarelearn import lever  # pylint: disable=g-import-not-at-top
  grid = lever.read([str(workdir / 'ladder_cmp')])
  assert grid.sizes.tolist() == sizes and grid.freqs.tolist() == [0.1, 0.5]
  np.testing.assert_array_equal(grid.score, raw['cmp.test_accuracy'][:, ::-1])
  assert grid.train_instances == 5000 and grid.base_frequency == 0.1
  np.testing.assert_allclose(grid.instances_per_step, [[0.8, 4.0]] * 2)  # batch 8 × f
  for (d, depth), n, flops in zip(((8, 1), (16, 2)), sizes, grid.flops_per_step[:, 0]):
    # 8 × 16 tokens × (6 × (non-embedding + half of input and output embeddings) + attention)
    assert flops == 128 * (6 * (n + 160 * d) + 12 * depth * 16 * d)


def test_fig6_smoke_reports_order_and_gaps(tmp_path_factory):
  results, workdir = _run('fig6_order_and_gaps', tmp_path_factory)
  assert set(results['final_task_loss_by_gap']) == {'1', '2', '5'}
  by_gap = results['final_task_loss_by_gap']
  assert results['gap_loss_ratio'] == pytest.approx(by_gap['5'] / by_gap['1'])
  steps = results['learning_step_by_frequency']
  assert set(steps) == {'0.5', '0.1'}
  assert results['claims'] == []  # one seed
  # the middle rung, d16, at its peak lr in the ladder: 1e-2 · (N / N_d8)^(-1/3) with
  # non-embedding counts by hand: 4d² attention + 3·d·mlp SwiGLU + 2d norms per layer, + d
  n_d8, n_d16 = 4 * 64 + 3 * 8 * 32 + 16 + 8, 2 * (4 * 256 + 3 * 16 * 64 + 32) + 16
  assert results['rung']['name'] == 'd16' and results['rung']['non_embedding'] == n_d16
  assert results['lr'] == pytest.approx(1e-2 * (n_d16 / n_d8) ** (-1 / 3), rel=1e-6)


def test_fig6_claims_on_a_hand_made_run():
  fig6 = _module('fig6_order_and_gaps')
  steps = np.arange(0, 1001, 200)  # 6 evaluations
  acc = np.zeros((1, 6, 2, 6))  # frequencies 0.5, 0.2, 0.1 then gaps 1, 10, 100; 2 seeds
  acc[0, 0, :, 2:] = 0.9  # f = 0.5: learned from step 400 in both seeds
  acc[0, 1, :, 3:] = 0.85  # f = 0.2: from 600
  acc[0, 2, 0, 4:] = 0.9  # f = 0.1: from 800 in seed 0, never in seed 1 (→ 2 × 1000)
  acc[0, 3:, :, -1] = [[0.7, 0.6], [0.5, 0.6], [0.2, 0.1]]
  loss = np.ones((1, 6, 2, 6))
  loss[0, 3:, :, -1] = [[0.3, 0.35], [0.4, 0.3], [0.9, 1.0]]
  out = {'steps': steps, 'test_accuracy': acc, 'task_train_loss': loss,
         'frequencies': np.array([0.5, 0.2, 0.1, 0.25, 0.25, 0.25]),
         'gaps': np.array([1, 1, 1, 1, 10, 100])}
  np.testing.assert_array_equal(fig6.steps_to_learn_per_seed(out, 3, 0.8),
                                [[400, 600, 800], [400, 600, 2000]])
  got = {c['name']: c for c in fig6.fig6_claims(out, 3, 0.8)}
  order = got['learned_in_frequency_order']
  # both seeds in frequency order (ρ −1), but 3 frequencies cannot give p < 0.05 (1/6)
  assert (order['value'], order['ci95'], order['holds']) == (-1.0, [-1.0, -1.0], False)
  assert order['statistic'] == 'Spearman ρ(frequency, value), mean over seeds'
  # accuracy: seed 0 falls (ρ −1), seed 1 0.6, 0.6, 0.1 (ρ −√3/2): mean −0.933, and with 2
  # seeds t(0.975, 1) = 12.706: the interval reaches −1 (clipped) … −0.082
  acc_claim = got['larger_gaps_hurt_accuracy']
  assert acc_claim['per_seed_rho'] == pytest.approx([-1.0, -np.sqrt(3) / 2])
  assert acc_claim['value'] == pytest.approx(-(1 + np.sqrt(3) / 2) / 2)
  assert acc_claim['statistic'] == 'Spearman ρ(gap, value), mean over seeds'
  assert acc_claim['ci95'] == pytest.approx(
      [-1.0, acc_claim['value'] + 12.7062 * (1 - np.sqrt(3) / 2) / 2], abs=1e-4)
  assert acc_claim['rho_of_means'] == -1.0 and not acc_claim['holds']
  # loss: the means 0.325, 0.35, 0.95 rise (ρ 1), seed 1's 0.35, 0.3, 1.0 has ρ 0.5: mean 0.75
  loss_claim = got['larger_gaps_hurt_loss']
  assert loss_claim['value'] == 0.75 and loss_claim['rho_of_means'] == 1.0
  assert not loss_claim['holds']


def _fig7_smoke(workdir, fig5):
  fig7 = _module('fig7_features')
  saved = lambda: sorted((p.name, p.stat().st_mtime_ns)
                         for p in (workdir / 'ladder_cmp').rglob('*') if p.is_file()
                         and 'checkpoint' in str(p))
  before = saved()
  fig7.main(['--workdir', str(workdir), '--smoke'])
  with open(workdir / 'fig7_features.json') as f:
    results = json.load(f)
  assert before and saved() == before  # read back, not trained again: no checkpoint written
  score, acc = results['feature_score']['cmp'], results['accuracy']['cmp']
  assert acc == fig5['test_accuracy']['cmp']
  pairs = [(score[s][f], acc[s][f]) for s in score for f in score[s]]
  assert results['correlation']['cmp'] == pytest.approx(
      expt.spearman(*zip(*pairs)) if len(set(p[0] for p in pairs)) > 1 else 0.0)
  for name in ('best', 'worst'):
    d = results['order_direction'][name]
    y = np.asarray(d['rank'], float) - np.mean(d['rank'])
    proj = np.asarray(d['projection'])
    # a 1-D least-squares fit: residual orthogonal to the fit, R² = ‖fit‖² / ‖y‖²
    assert abs(proj @ (y - proj)) < 1e-3 * (y @ y)
    assert d['direction_r2'] == pytest.approx(proj @ proj / (y @ y), rel=1e-4, abs=1e-6)
  assert results['order_direction']['best']['score'] >= results['order_direction']['worst'][
      'score']


def test_fig7_statistics_against_textbook_formulas():
  """The partial ρ against the precision-matrix formula of a partial correlation; the
  within-frequency null against its exact distribution for 3 sizes."""
  fig7 = _module('fig7_features')
  rng = np.random.default_rng(3)
  size, freq = np.repeat([1e3, 1e4, 1e5, 1e6, 1e7], 4), np.tile([0.5, 0.2, 0.1, 0.05], 5)
  for trial in range(5):
    score, acc = rng.random(20) + np.log(size) / 5, rng.random(20) + trial * np.log(freq)
    data = np.stack([stats.rankdata(score), stats.rankdata(acc), np.log(size), np.log(freq)])
    precision = np.linalg.inv(np.corrcoef(data))
    want = -precision[0, 1] / np.sqrt(precision[0, 0] * precision[1, 1])
    assert fig7.partial_rho(score, acc, size, freq) == pytest.approx(want, abs=1e-12)
  # 3 sizes, 1 frequency: ρ of a shuffle is 1, 0.5, −0.5, −1 with probability 1, 2, 2, 1 / 6
  null = fig7.within_frequency_null(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [5.0],
                                                                              [9.0]]))
  values, counts = np.unique(np.round(null, 9), return_counts=True)
  np.testing.assert_array_equal(values, [-1.0, -0.5, 0.5, 1.0])
  np.testing.assert_allclose(counts / null.size, [1 / 6, 1 / 3, 1 / 3, 1 / 6], atol=0.02)
  assert fig7.within_frequency_rho(np.array([[1.0, 1.0], [2.0, 1.0]]),
                                   np.array([[0.1, 0.3], [0.2, 0.1]])) == 1.0  # constant: left out


def _periodic_out(curves, steps, probes=None):
  out = {'steps': np.asarray(steps), 'frequencies': np.asarray([0.25]), 'wall_time_s': 1.0,
         'rungs': [dict(name=f'r{i}', non_embedding=10 ** (i + 3)) for i in range(len(curves))]}
  c = np.asarray(curves, float)[:, None, None, :]  # [R, F=1, S=1, P]
  out['task_test_loss'], out['task_train_loss'] = c, c + 0.5
  if probes is not None:
    out['probes'] = probes
  return out


def test_fig8_retention_on_hand_made_trajectories():
  fig8 = _module('fig8_retention')
  steps = np.arange(0, 31)  # gap 10, bursts of 2 steps at 0, 10, 20
  small, large = np.full(31, 4.0), np.full(31, 4.0)
  for k, s in enumerate((0, 10, 20)):  # each burst drops the loss by 1 nat
    small[s + 2:s + 10] = 3.0 + np.linspace(0, 1.0, 8)  # all of it lost by the next burst
    before = 4.0 - 0.75 * k
    large[s:s + 2] = before
    large[s + 2:s + 10] = before - 1 + np.linspace(0, 0.25, 8)  # a quarter of it lost
  large[30] = 4.0 - 0.75 * 3
  res = fig8.analyse(_periodic_out([small, large], steps), gap=10, burst=2)
  assert res['retention_by_size']['1000'] == pytest.approx(0.0)
  assert res['retention_by_size']['10000'] == pytest.approx(0.75)
  assert res['drop_by_size']['10000'] == pytest.approx(1.0)
  assert res['per_injection']['10000']['loss_before'] == [4.0, 3.25, 2.5]
  np.testing.assert_allclose(res['retention_per_seed'], [[0.0, 0.75]])
  assert res['claims'] == []
  # 3 rungs × 2 seeds of [drop-weighted, plain] retention, by hand
  per_seed = np.array([[[0.0, 0.1], [0.5, 0.2], [0.75, 0.3]], [[0.1, 0.3], [0.4, 0.2], [0.8, 0.1]]])
  got = {c['name']: c for c in fig8.fig8_claims(['1', '2', '3'], per_seed)}
  rises = got['retention_rises_with_size']  # both seeds rise, but over 3 rungs p ≥ 1/6
  assert rises['value'] == 1.0 and not rises['holds'] and 'cannot hold' in rises['note']
  # seed 0 rises, seed 1 falls: mean ρ 0, interval [−1, 1]
  plain = got['plain_retention_rises_with_size']
  assert plain['value'] == 0.0 and plain['ci95'] == [-1.0, 1.0] and not plain['holds']
  climbs = got['loss_climbs_back']
  # 2 seeds: 0.775 ∓ 12.706 · 0.0354 / √2 = [0.457, 1.093] does not clear 1
  assert climbs['per_seed'] == [0.75, 0.8] and climbs['kind'] == 'check' and not climbs['holds']


def test_fig9_statistics_on_hand_made_probes():
  fig9 = _module('fig9_gradient_decomposition')
  from rarelearn.population import lm_training  # pylint: disable=g-import-not-at-top
  assert fig9.probe_phases(100, 25) == ((0, 12), (37, 62, 87))
  assert fig9.probe_phases(8, 2) == ((0, 1), (3, 5, 7))
  cols = [lm_training.PROBES.index(k) for k in ('cos_g', 'cos_gt', 'cos_gnt', 'instances')]
  probes = np.full((2, 1, 1, 20, len(lm_training.PROBES)), np.nan)
  # gap 10, burst 2: probes at 0 (injection) and 5 (between) of each cycle
  probes[0, 0, 0, [[0], [10]], cols] = [[0.1, 0.5, -0.2, 3], [0.3, 0.7, 0.4, 3]]
  probes[0, 0, 0, [[5], [15]], cols] = [[0.2, np.nan, 0.2, 0], [0.4, np.nan, 0.4, 0]]
  probes[1, 0, 0, [[0], [10], [5], [15]], cols] = [[0.05, 0.3, 0.0, 3], [0.05, 0.3, 0.02, 3],
                                                  [0.0, np.nan, 0.0, 0], [0.01, np.nan, 0.01, 0]]
  res = fig9.analyse(_periodic_out([[0.0], [0.0]], [0], probes), gap=10, burst=2)
  assert res['probe_steps'] == {'at_injection': [0, 10], 'between': [5, 15]}
  small = res['cosines']['1000']
  assert small['at_injection']['cos_gnt'] == pytest.approx({'mean': 0.1, 'std': 0.3, 'n': 2})
  assert small['between']['cos_gt'] == {'mean': None, 'std': None, 'n': 0}
  assert small['all']['cos_g']['mean'] == pytest.approx(0.25)
  assert res['cosines']['10000']['at_injection']['cos_gnt']['std'] == pytest.approx(0.01)
  np.testing.assert_allclose(res['spread_at_injection_per_seed']['cos_gnt'], [[0.3, 0.01]])
  assert res['claims'] == []  # 2 rungs, 1 seed
  # 3 rungs × 2 seeds × 2 injection probes: spreads of cos_gnt 0.3/0.2/0.1 (seed 0) and
  # 0.4/0.2/0.05; the random null's 0.1/0.05/0.025 halve with size, so the ratio 3, 4, 4 rises
  # in seed 0; the shuffled null's spread is constant 0.1, so that ratio falls like the spread
  gnt = [[0.3, 0.2, 0.1], [0.4, 0.2, 0.05]]
  made = np.zeros((3, 2, 2, len(lm_training.PROBES)))
  for z in range(2):
    for r in range(3):
      made[r, z, :, lm_training.PROBES.index('cos_gnt')] = [gnt[z][r], -gnt[z][r]]
      made[r, z, :, lm_training.PROBES.index('cos_gnt_random')] = [0.1 / 2 ** r, -0.1 / 2 ** r]
      made[r, z, :, lm_training.PROBES.index('cos_gnt_shuffled')] = [0.1, -0.1]
      made[r, z, :, lm_training.PROBES.index('cos_g')] = [0.2 - 0.2 * r, 0.1]
  got = {c['name']: c for c in fig9.fig9_claims(['1', '2', '3'], made, np.array([True, True]))}
  # every seed's spread falls (ρ −1), but over 3 rungs no trend holds (p ≥ 1/6)
  assert got['gnt_spread_shrinks']['value'] == -1.0 and not got['gnt_spread_shrinks']['holds']
  assert got['gnt_spread_shrinks_beyond_shuffled']['value'] == -1.0
  beyond_random = got['gnt_spread_shrinks_beyond_random']  # ratios 3, 4, 4 and 4, 4, 2
  np.testing.assert_allclose(beyond_random['per_seed'], [[3, 4, 4], [4, 4, 2]])
  assert not beyond_random['holds']
  g = got['g_aligned_at_injection']  # min over sizes of the mean cos(g, g_r): (−0.2 + 0.1) / 2
  assert g['per_seed'] == pytest.approx([-0.05, -0.05]) and not g['holds']
  assert g['kind'] == 'check'


def test_fig8_fig9_smoke_runs_report_their_own_probes(tmp_path_factory):
  fig8, _ = _run('fig8_retention', tmp_path_factory)
  assert fig8['gap'] == 16 and fig8['burst_steps'] == 4  # 16 · round(0.25 · 8) = 32: 4 batches
  for size, rows in fig8['per_injection'].items():
    assert rows['starts'] == [0, 16]
    assert rows['loss_next'][:-1] == rows['loss_before'][1:]
    np.testing.assert_allclose(rows['drop'], np.subtract(rows['loss_before'],
                                                         rows['loss_after']), atol=1e-6)
  fig9, _ = _run('fig9_gradient_decomposition', tmp_path_factory)
  # gap 16, bursts of 4: probes at phases 0, 2 (injection) and 6, 10, 14 (between) of 40 steps
  assert fig9['probe_steps'] == {'at_injection': [0, 2, 16, 18, 32, 34],
                                 'between': [6, 10, 14, 22, 26, 30, 38]}
  for size, where in fig9['cosines'].items():
    assert where['at_injection']['cos_gt']['n'] == 6 and where['between']['cos_gt']['n'] == 0


def test_provenance_records_the_code_the_run_started_with(tmp_path, monkeypatch):
  """A commit made while an experiment trains is not the code it ran: the commit and the changed
  files are read when the script parses its arguments."""
  expt.parse_args('x', None, ['--workdir', str(tmp_path), '--smoke'])
  started = expt.provenance()
  monkeypatch.setattr(expt, '_code_state',
                      lambda: {'commit': 'later', 'uncommitted_changes_in': []})
  later = expt.provenance()
  assert later['commit'] == started['commit'] != 'later' and len(started['commit']) == 40
  assert later['uncommitted_changes_in'] == started['uncommitted_changes_in']
  assert started['run_commit'] == started['commit'] and started['criteria_commit'] is None


def test_a_run_whose_claims_are_not_committed_is_refused(tmp_path):
  """Claims before runs: a script that is not the one in git (here: none is) may run as a
  smoke test only."""
  with pytest.raises(SystemExit) as stop:
    expt.parse_args('not_committed', None, ['--workdir', str(tmp_path)])
  assert stop.value.code == 2


def test_ladder_controls_long_arm_smoke(tmp_path):
  """configs/olmo_tiny.py:smoke, the long arm: rung d8 alone at f = 0.5 for 40 and 2 × 40 steps
  at its ladder lr (the smallest rung's: optimizer.lr); with one seed no claims. One learning
  rate for every rung: ``optimizer.lr_scaling = 'none'`` against the N^-1/3 rule."""
  from rarelearn.core import configlib
  from rarelearn.population import ladder  # pylint: disable=g-import-not-at-top
  controls = _module('ladder_controls')
  config = configlib.load_config_file(os.path.join(EXPERIMENTS, os.pardir, 'configs', 'olmo_tiny.py') + ':smoke')
  lrs = controls.ladder_lrs(config)
  n = np.array([ladder.Ladder(config, skeleton=True).ladder[i].counts(160)['non_embedding']
                for i in range(2)], float)
  assert lrs == pytest.approx({'d8': 1e-2, 'd16': 1e-2 * (n[1] / n[0]) ** (-1 / 3)})
  cut = controls.one_rung(config, 'd16', 0.003, 60)
  assert ladder.Ladder(cut, skeleton=True).lrs == [0.003] and cut.train.steps_per_chunk == 20
  config.optimizer.lr_scaling = 'none'
  assert ladder.Ladder(config, skeleton=True).lrs == [1e-2, 1e-2]
  results = controls.main(['--workdir', str(tmp_path), '--smoke', '--arm=long'])['long']
  assert [(c['rung'], c['frequency'], c['steps'], c['lr']) for c in results['cells']] == [
      ('d8', 0.5, 40, 1e-2), ('d8', 0.5, 80, 1e-2)]
  assert results['claims'] == [] and results['wall_time_s'] > 0
  with open(tmp_path / 'ladder_controls_long.json') as f:
    written = json.load(f)
  assert written['run_commit'] == written['provenance']['commit']
  assert (tmp_path / 'ladder_controls_long.png').exists()


def test_superposition_numbers_equal_the_runs_final_norms(tmp_path_factory):
  """experiments/superposition_sparsity.py --smoke (400 steps, 2 seeds): every count, the
  dense claim's per-seed values and the lowest represented frequencies recomputed from the
  final rows of each run's metrics.jsonl (‖W_i‖ > 0.5)."""
  results, workdir = _run('superposition_sparsity', tmp_path_factory)
  final = {}
  for name in ('sparsity', 'zipf'):
    history = History.load(str(workdir / name))
    final[name] = (history.members, history.array('norm')[:, -1] > 0.5)  # [M, K]
  members, rep = final['sparsity']
  for density, mean in results['represented_by_density'].items():
    rows = [m for m, r in enumerate(members) if r['density'] == float(density)]
    assert mean == pytest.approx(rep[rows].sum(1).mean())
  dense = [m for m, r in enumerate(members) if r['density'] == 1.0]  # one per seed
  top = np.arange(20) < 5
  by_name = {c['name']: c for c in results['claims']}
  assert by_name['dense_represents_exactly_top_m']['per_seed'] == [
      float(np.array_equal(rep[m], top)) for m in dense]
  members, rep = final['zipf']
  freqs = 0.2 * np.arange(1, 41) ** -1.2
  np.testing.assert_allclose(results['frequencies'], freqs)
  for z in (0, 1):
    mine = [m for m, r in enumerate(members) if r['seed'] == z]
    np.testing.assert_allclose(results['lowest_represented_frequency'][z],
                               [freqs[rep[m]].min() if rep[m].any() else 0.4 for m in mine])
  assert [c['kind'] for c in results['claims']] == ['claim'] * 8
  assert all(c['seeds'] == 2 for c in results['claims'])


def test_the_ladder_arm_trains_each_rung_alone_at_its_ladder_lr():
  """experiments/interference_interventions.py's token_ladder runs: d32 alone (interventions,
  up-weighted), d128 alone (disturb at 0, 0.01, 0.1), each at its lr in the whole ladder (d32
  5.01e-3, d128 1.74e-3 by the N^-1/3 rule; a ladder cut to one rung would give it 1e-2)."""
  module = _module('interference_interventions')
  ladder = module.ladder
  lr_of = lambda c: ladder.peak_lrs(c, [r.counts(c.model.vocab)['non_embedding']
                                        for r in ladder.rungs(c)])  # as a run trains it
  for run, rung, lr, kinds, strengths in (
      ('interventions', 'd32', 5.0113e-3, ('none', 'protect', 'control'), (1.0,)),
      ('disturb', 'd128', 1.7395e-3, ('disturb',), (0.0, 0.01, 0.1)),
      ('upweighted', 'd32', 5.0113e-3, ('none',), (1.0,))):
    config = module._config('token_ladder', run, 3, smoke=False)
    assert config.model.names == (rung,) and config.model.d_model == (int(rung[1:]),)
    assert lr_of(config) == [pytest.approx(lr, rel=1e-4)]
    assert (config.intervention.kinds, config.intervention.strengths) == (kinds, strengths)


def test_intervention_claims_equal_the_runs_final_norms(tmp_path):
  """experiments/interference_interventions.py --smoke --family=superposition: each claim's
  per-seed values recomputed from the runs' summary.json (‖W_14‖ > 0.5 of the members of that
  size, intervention and strength), the up-weighted run's from its own."""
  module = _module('interference_interventions')
  module.main(['--workdir', str(tmp_path), '--smoke', '--family=superposition'])
  with open(tmp_path / 'interference_interventions_superposition.json') as f:
    results = json.load(f)
  assert (tmp_path / 'interference_interventions_superposition.png').stat().st_size > 10_000

  def represented(run, hidden, kind=None, strength=None):
    with open(tmp_path / 'superposition' / run / 'summary.json') as f:
      summary = json.load(f)
    rows = sorted((r['seed'], m) for m, r in enumerate(summary['members'])
                  if r['hidden'] == hidden and r.get('intervention', None) in (kind, None)
                  and strength in (None, r.get('strength')))
    return [float(summary['final']['norm'][m][14] > 0.5) for _, m in rows]
  want = {'small_plain_misses': represented('interventions', 4, 'none'),
          'protect_learns': represented('interventions', 4, 'protect'),
          'control_does_not': represented('interventions', 4, 'control'),
          'large_plain_learns': represented('interventions', 8, 'none'),
          'disturb_loses': represented('disturb', 8, 'disturb', 0.1),
          'upweighted_learns': represented('upweighted', 4)}
  got = {c['name'].replace('superposition_', ''): c['per_seed'] for c in results['claims']}
  assert got == want and all(len(v) == 2 for v in want.values())
  assert results['per_seed']['large disturb 0.01'] == represented('disturb', 8, 'disturb', 0.01)
