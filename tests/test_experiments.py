"""experiments/*.py end to end with --smoke: each writes its JSON and figure, and the numbers it
reports equal an independent recomputation (theory closed forms, hand-worked predictions, or
the run's own metrics.jsonl)."""
import importlib.util
import json
import os

import numpy as np
import pytest

from rarelearn import theory

EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'experiments')


def _run(name, tmp_path_factory):
  spec = importlib.util.spec_from_file_location(name, os.path.join(EXPERIMENTS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
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
  widths = [m['width'] for m in summary['members']]
  learned = np.array(summary['final']['learned'])
  assert learned.shape == (4, 4)  # widths (2, 5) × 2 seeds, 4 tasks
  by_utility = np.array([SMOKE_UTILITY[w] for w in widths])
  by_frequency = np.array([SMOKE_FREQUENCY_ONLY[w] for w in widths])
  assert results['agreement_utility'] == pytest.approx(np.mean(learned == by_utility))
  assert results['agreement_frequency_only'] == pytest.approx(np.mean(learned == by_frequency))
  for name in ('sweep', 'complexity'):
    assert (workdir / name / 'summary.json').exists()
  assert 0.0 <= results['default']['agreement_frequency_only'] <= 1.0


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
  assert results['monotone_decreasing'] == bool(np.all(np.diff(
      [results['final_common_grad_norm_by_width'][str(w)] for w in (2, 4, 8)]) < 0))


@pytest.fixture(scope='module')
def fig4(tmp_path_factory):
  return _run('fig4_injection', tmp_path_factory)


def test_fig4_retention_and_gap_sweep_from_the_runs(fig4):
  """configs/injection.py:smoke: bursts of 4 batches every 20 steps from step 10 (steps 10, 30,
  50; the one at 50 has no successor within 60 steps); gap sweep G ∈ {1, 5} over 20 steps."""
  from rarelearn.measure import retention  # pylint: disable=g-import-not-at-top
  results, workdir = fig4
  with open(workdir / 'injection' / 'metrics.jsonl') as f:
    rows = [json.loads(line) for line in f if 'task_score' in line]
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
  assert results['burst_steps_by_gap'] == {'1': 1, '5': 1}  # round(G·32·0.12) ≤ 32
  for gap in (1, 5):
    with open(workdir / f'gap_{gap}' / 'summary.json') as f:
      summary = json.load(f)
    assert summary['steps'] == 20
    for i, member in enumerate(summary['members']):
      assert results['final_score_by_gap'][str(gap)][str(member['width'])] == pytest.approx(
          summary['final']['task_score'][i][3])
