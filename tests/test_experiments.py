"""experiments/*.py end to end with --smoke: each writes its JSON and figure, and the numbers it
reports equal an independent recomputation (theory closed forms, hand-worked predictions, or
the run's own metrics.jsonl)."""
import importlib.util
import json
import os

import numpy as np
import pytest
from scipy import stats

from rarelearn import expt, results, theory
from rarelearn import results as results_lib
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


def test_lever_frontiers_and_routes_on_a_hand_made_grid():
  """Widths (8, 16, 32) × π_r (.01, .02, .04): learned where the width doubles with each halving
  of π_r. Width 8 learns only at .04 after 300 steps: (2·8·256+8+256)·300 parameter-steps;
  scaling to width 32 at .01 takes 100 steps: (2·32·256+32+256)·100."""
  lever = _module('lever_upweight_vs_scale')
  assert lever.num_params(8, 256, 1) == 2 * 8 * 256 + 8 + 256
  assert lever.num_params(8, 256, 2) == 2 * 8 * 256 + 8 + 256 + 8 * 8 + 8
  widths, freqs = [8, 16, 32], [0.01, 0.02, 0.04]
  learned = np.array([[False, False, True], [False, True, True], [True, True, True]])
  by_width, by_freq = results.frontier(learned, widths, freqs)
  assert by_width == {8: 0.04, 16: 0.02, 32: 0.01}
  assert by_freq == {0.01: 32, 0.02: 16, 0.04: 8}
  assert results.is_monotone(learned)
  broken = learned.copy()
  broken[1, 2] = False  # width 16 learns at .02 but not at .04: same frontiers, not monotone
  assert results.frontier(broken, widths, freqs) == (by_width, by_freq)
  assert not results.is_monotone(broken)
  assert not results.is_monotone([[True], [False]])  # the wider model loses the task
  assert results.is_monotone(np.zeros((2, 3), bool))
  steps = [[None, None, 300], [None, 200, 100], [100, 100, 100]]
  cost = [[None if s is None else lever.num_params(w, 256, 1) * s for s in row]
          for w, row in zip(widths, steps)]
  other = np.array([[1.0, 1.1, 1.3], [0.5, 0.6, 0.7], [0.2, 0.2, 0.2]])
  routes = lever.routes(widths, freqs, steps, cost, learned, other)
  assert set(routes) == {8, 16}  # width 32 learns the task at its own frequency
  assert routes[8]['upweight_cost'] == (2 * 8 * 256 + 8 + 256) * 300 == 1_308_000
  assert routes[8]['scale_cost'] == (2 * 32 * 256 + 32 + 256) * 100 == 1_667_200
  assert routes[8]['cheaper'] == 'upweight' and routes[8]['scale_width'] == 32
  assert routes[8]['other_tasks_loss_change'] == pytest.approx(0.3)
  assert routes[16]['upweight_cost'] == (2 * 16 * 256 + 16 + 256) * 200 == 1_692_800
  assert routes[16]['cheaper'] == 'scale'


@pytest.fixture(scope='module')
def lever_run(tmp_path_factory):
  return _run('lever_upweight_vs_scale', tmp_path_factory)


def test_lever_run_reports_its_own_trajectories(lever_run):
  """configs/lever.py:smoke: widths (2, 4, 8) × factors (1, 4) on task 3 (π = .12)."""
  results, workdir = lever_run
  with open(workdir / 'lever' / 'summary.json') as f:
    assert_golden('lever_smoke', json.load(f)['final'])
  assert results['frequencies'] == pytest.approx([0.12, 0.48])
  with open(workdir / 'lever' / 'metrics.jsonl') as f:
    rows = [json.loads(line) for line in f if 'task_score' in line]
  for i, w in enumerate((2, 4, 8)):
    for j, factor in enumerate((1.0, 4.0)):
      mine = [r for r in rows if r['width'] == w and r['factor'] == factor]
      assert results['final_score'][i][j] == pytest.approx(mine[-1]['task_score'][3])
      ok = [r['task_score'][3] >= 0.5 for r in mine]
      want = next((mine[t]['step'] for t in range(len(ok)) if all(ok[t:])), None)
      assert results['steps_to_learn'][i][j] == want


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
  history = results_lib.History.load(str(workdir / 'complexity'))
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
  main = results_lib.History.load(str(workdir / 'msp'))
  final = main.array('task_loss')[:, -1]  # [M, K]
  widths = np.array([m['width'] for m in main.members])
  for row in results['sensitivity']:
    assert row['learned_by_width'] == [
        float(np.mean(np.sum(1.0 - final[widths == w] >= row['threshold'], axis=1)))
        for w in (4, 8, 16)]
  assert [row['threshold'] for row in results['sensitivity']] == [0.8, 0.85, 0.9, 0.95]


def test_fig5_frontier_on_a_hand_made_grid():
  fig5 = _module('fig5_olmo_heatmap')
  freqs = [0.5, 0.2, 0.1, 0.05]
  acc = np.array([[0.85, 0.3, 0.1, 0.0],    # smallest: learns at 0.5 only
                  [0.9, 0.81, 0.2, 0.1],    # 0.2
                  [0.95, 0.9, 0.85, 0.79],  # 0.1
                  [0.85, 0.2, 0.1, 0.0]])   # only at 0.5 again: the frontier rises
  assert fig5.min_learned(acc, freqs, 0.8) == [0.5, 0.2, 0.1, 0.5]
  assert fig5.frontier_checks([0.5, 0.2, 0.1, 0.5]) == (False, False)
  assert fig5.frontier_checks([None, 0.5, 0.5, 0.1]) == (True, True)
  assert fig5.frontier_checks([0.5, None]) == (False, False)


def test_fig5_smoke_reports_its_own_cells(tmp_path_factory):
  results, workdir = _run('fig5_olmo_heatmap', tmp_path_factory)
  raw = np.load(workdir / 'fig5_olmo_heatmap.npz')
  acc = results['test_accuracy']['cmp']
  assert len(acc) == 2 and all(len(row) == 2 for row in acc.values())  # 2 rungs × 2 freqs
  threshold = results['learned_threshold']
  steps = raw['cmp.steps']
  for r, (size, row) in enumerate(acc.items()):
    learned = [float(f) for f, a in row.items() if a >= threshold]
    assert results['min_learned_frequency_by_size']['cmp'][size] == (min(learned) if learned
                                                                       else None)
    for i, (f, a) in enumerate(row.items()):
      curve = raw['cmp.test_accuracy'][r, i, 0]
      assert a == pytest.approx(float(curve[-1]))
      hits = np.flatnonzero(curve < threshold)  # learned from the evaluation after the last miss
      want = None if curve[-1] < threshold else int(steps[hits[-1] + 1] if hits.size else 0)
      assert results['learning_step']['cmp'][size][f] == want
  sizes = [int(s) for s in acc]
  assert sizes == sorted(sizes) and [r['non_embedding'] for r in results['rungs']] == sizes
  # the ladder's own arrays (rarelearn.ladder.train): [rungs, frequencies, seeds, evaluations]
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


def test_fig6_smoke_reports_order_and_gaps(tmp_path_factory):
  results, _ = _run('fig6_order_and_gaps', tmp_path_factory)
  assert set(results['final_task_loss_by_gap']) == {'1', '2', '5'}
  by_gap = results['final_task_loss_by_gap']
  assert results['larger_gaps_hurt'] == (by_gap['5'] > by_gap['1'])
  assert results['gap_loss_ratio'] == pytest.approx(by_gap['5'] / by_gap['1'])
  steps = results['learning_step_by_frequency']
  assert set(steps) == {'0.5', '0.1'}
  order = [np.inf if steps[f] is None else steps[f] for f in ('0.5', '0.1')]
  assert results['learned_in_frequency_order'] == (order[1] >= order[0])


def test_fig7_smoke_correlates_its_own_cells(tmp_path_factory):
  results, _ = _run('fig7_features', tmp_path_factory)
  score, acc = results['feature_score']['cmp'], results['accuracy']['cmp']
  assert len(score) == 2 and all(len(row) == 2 for row in score.values())
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
  # 100 task tokens: the order score is an adjusted R² (≤ 1), the control a count of ≤ 50 per
  # representation
  assert all(v <= 1 for row in score.values() for v in row.values())
  assert all(0 <= v <= 50 * 3 for row in results['control_score']['cmp'].values()
             for v in row.values())


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
  assert res['largest_retains_more']


def test_fig9_statistics_on_hand_made_probes():
  fig9 = _module('fig9_gradient_decomposition')
  assert fig9.probe_phases(100, 25) == ((0, 12), (37, 62, 87))
  assert fig9.probe_phases(8, 2) == ((0, 1), (3, 5, 7))
  probes = np.full((2, 1, 1, 20, 4), np.nan)
  # gap 10, burst 2: probes at 0 (injection) and 5 (between) of each cycle
  probes[0, 0, 0, [0, 10]] = [[0.1, 0.5, -0.2, 3], [0.3, 0.7, 0.4, 3]]
  probes[0, 0, 0, [5, 15]] = [[0.2, np.nan, 0.2, 0], [0.4, np.nan, 0.4, 0]]
  probes[1, 0, 0, [0, 10, 5, 15]] = [[0.05, 0.3, 0.0, 3], [0.05, 0.3, 0.02, 3],
                                     [0.0, np.nan, 0.0, 0], [0.01, np.nan, 0.01, 0]]
  res = fig9.analyse(_periodic_out([[0.0], [0.0]], [0], probes), gap=10, burst=2)
  assert res['probe_steps'] == {'at_injection': [0, 10], 'between': [5, 15]}
  small = res['cosines']['1000']
  assert small['at_injection']['cos_gnt'] == pytest.approx({'mean': 0.1, 'std': 0.3, 'n': 2})
  assert small['between']['cos_gt'] == {'mean': None, 'std': None, 'n': 0}
  assert small['all']['cos_g']['mean'] == pytest.approx(0.25)
  assert res['cosines']['10000']['at_injection']['cos_gnt']['std'] == pytest.approx(0.01)
  assert res['gnt_spread_shrinks'] and res['gnt_spread_shrinks_all_probes']


def test_fig8_fig9_smoke_runs_report_their_own_probes(tmp_path_factory):
  fig8, _ = _run('fig8_retention', tmp_path_factory)
  assert fig8['gap'] == 16 and fig8['burst_steps'] == 4  # 16 · round(0.25 · 8) = 32: 4 batches
  for size, rows in fig8['per_injection'].items():
    assert rows['starts'] == [0, 16]
    assert rows['loss_next'][:-1] == rows['loss_before'][1:]
    np.testing.assert_allclose(rows['drop'], np.subtract(rows['loss_before'],
                                                         rows['loss_after']), atol=1e-6)
  fig9, _ = _run('fig9_gradient_decomposition', tmp_path_factory)
  assert fig9['probe_steps'] == {'at_injection': [0, 1, 8, 9, 16, 17, 24, 25, 32, 33],
                                 'between': [s + p for s in range(0, 40, 8) for p in (3, 5, 7)]}
  for size, where in fig9['cosines'].items():
    assert where['at_injection']['cos_gt']['n'] == 10 and where['between']['cos_gt']['n'] == 0
