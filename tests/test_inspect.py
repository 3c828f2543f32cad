"""rarelearn.inspect: a restored checkpoint re-evaluates to exactly what the run recorded."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rarelearn
from rarelearn import inspect
from rarelearn.core import configlib
from rarelearn.runtime import workdir as wd
from conftest import REPO, SWEEP


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  config = configlib.load_config_file(f'{SWEEP}:smoke')
  config.population.sweep.lr = (0.01, 0.03)  # swept members show up in the table
  workdir = str(tmp_path_factory.mktemp('run'))
  summary = rarelearn.train(config, workdir, progress=False).summary
  return workdir, summary


def test_load_latest_equals_the_runs_summary(finished):
  workdir, summary = finished
  ins = inspect.load(workdir)
  assert ins.step == 60 and ins.steps == [40, 60]  # smoke: keep 2, a checkpoint every chunk
  np.testing.assert_array_equal(ins.summary['final']['task_loss'], summary['final']['task_loss'])
  assert ins.summary['agreement'] == summary['agreement']
  assert [r['lr'] for r in ins.results] == [m['lr'] for m in summary['members']]


def test_load_an_earlier_step_equals_the_live_evaluation(finished):
  """The chunk-end rows of metrics.jsonl were evaluated live, from the training state."""
  workdir, _ = finished
  ins = inspect.load(workdir, step=40)
  rows = {r['member']: r for r in wd.read_metrics(workdir) if r['step'] == 40 and 'task_loss' in r}
  for m, result in enumerate(ins.results):
    np.testing.assert_allclose(result['task_loss'], rows[m]['task_loss'], rtol=1e-6, atol=1e-7)


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'rarelearn.inspect', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_command_line_json_and_plot(finished):
  workdir, summary = finished
  out = _cli(f'--workdir={workdir}', '--json', '--member=1', '--task=2', '--task=0', '--plot')
  assert out.returncode == 0, out.stderr
  text = out.stdout[:out.stdout.rindex('}') + 1]
  got = json.loads(text)
  assert got['step'] == 60 and got['tasks'] == [2, 0]
  assert got['members'][0]['task_score'] == pytest.approx(
      [summary['final']['task_score'][1][k] for k in (2, 0)], abs=1e-6)
  for name in ('phase_diagram.png', 'task_curves.png'):
    assert os.path.getsize(os.path.join(workdir, 'inspect', '60', name)) > 10_000
def test_table_and_errors(finished, capsys):
  workdir, summary = finished
  assert inspect.main([f'--workdir={workdir}']) == 0
  out = capsys.readouterr().out
  assert 'agreement with the utility theory' in out
  assert len([line for line in out.splitlines() if ' ℓ* ' in line]) == len(summary['members'])
  for args, message in (((f'--workdir={workdir}', '--step=7'), 'no checkpoint at step 7'),
                        ((f'--workdir={workdir}', '--task=9'), '--task 9 is out of range'),
                        (('--workdir=/nonexistent',), 'holds no rarelearn run')):
    assert inspect.main(list(args)) == 2
    assert message in capsys.readouterr().err


def test_a_sparse_parity_run_through_main_opens_in_inspect(tmp_path):
  """configs/msp.py:smoke through ``python -m rarelearn.main`` (the one-line result counts the
  subtasks learned per width), then ``rarelearn.inspect``: the restored members re-evaluate to
  the run's final losses, and the table has no theory row (the utility theory is the toy's)."""
  wd = str(tmp_path / 'msp')
  out = subprocess.run([sys.executable, '-m', 'rarelearn.main',
                        f'--config={REPO}/configs/msp.py:smoke', f'--workdir={wd}',
                        '--noprogress'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  summary = json.load(open(os.path.join(wd, 'summary.json')))
  learned = np.asarray(summary['final']['learned']).sum(1)  # widths 4, 8, 16 × 1 seed
  assert f'by width: 4 {learned[0]:g}, 8 {learned[1]:g}, 16 {learned[2]:g}' in out.stdout
  ins = inspect.load(wd)
  np.testing.assert_allclose(ins.summary['final']['task_loss'], summary['final']['task_loss'],
                             rtol=1e-6, atol=1e-7)
  assert inspect.main([f'--workdir={wd}']) == 0
  assert 'ℓ*' not in inspect.table(ins) and len(inspect.table(ins).splitlines()) == 4
  # the lever reads it with the subtasks' own frequencies as the frequency axis
  from rarelearn import lever  # pylint: disable=g-import-not-at-top
  res = lever.main([f'--workdir={wd}'])
  pi = np.array([t['frequency'] for t in summary['tasks']])
  order = np.argsort(pi)
  np.testing.assert_allclose(res['frequencies'], pi[order])
  np.testing.assert_allclose(np.asarray(res['final_score'])[:, :, 0],
                             np.asarray(summary['final']['task_score'])[:, order], atol=1e-6)
  assert res['routes'] == [] and os.path.exists(os.path.join(wd, 'lever', 'lever.json'))
