"""Transformer-ladder runs through rarelearn.main: workdir, resume, inspect, bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rarelearn import inspect, main
from rarelearn.core import configlib
from rarelearn.population import ladder
from rarelearn.runtime import workdir as wd, workdir as workdir_lib
from conftest import REPO, assert_golden

TINY = os.path.join(REPO, 'configs', 'olmo_tiny.py')


def _main(*args):
  return subprocess.run([sys.executable, '-m', 'rarelearn.main', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


def _smoke():
  return configlib.load_config_file(f'{TINY}:smoke')  # 2 rungs × 2 frequencies, 40 steps


def test_ladder_run_resumes_and_inspects(tmp_path, capsys):
  """One test, so that one process compiles the smoke ladder once (the programs are cached per
  rung): the run of ``rarelearn.main``, a second config refused in its workdir, then
  inspection."""
  workdir = str(tmp_path / 'run')
  main.train(_smoke(), workdir, progress=False)
  stdout = capsys.readouterr().out
  assert '2 rungs × 2 frequencies × 1 seed(s), 40 steps' in stdout and 'T_CMP: lowest' in stdout
  assert 'd8 never, d16 never' in stdout and workdir in stdout
  with open(os.path.join(workdir, workdir_lib.SUMMARY_FILE)) as f:
    summary = json.load(f)
  assert_golden('ladder_smoke', summary['final'])
  assert sorted(os.listdir(workdir)) == ['checkpoints', 'config.json', 'figures',
                                        'metrics.jsonl', 'summary.json']
  assert sorted(os.listdir(os.path.join(workdir, 'figures'))) == ['heatmap.png',
                                                                  'test_accuracy_curves.png']
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['20', '40']
  rows = wd.read_metrics(workdir)
  assert len(rows) == 3 * 4 and {r['step'] for r in rows} == {0, 20, 40}  # 4 members
  assert [m['rung'] for m in summary['members']] == ['d8', 'd8', 'd16', 'd16']
  assert ([r['test_accuracy'] for r in rows if r['step'] == 40]
          == summary['final']['test_accuracy'])
  # the run's own arithmetic: learned ⇔ accuracy ≥ threshold; the lowest learned frequency
  acc = np.asarray(summary['final']['test_accuracy'])
  assert summary['learned'] == (acc >= 0.8).tolist()
  assert summary['min_learned_frequency_by_rung'] == {'d8': None, 'd16': None}

  # resuming after an interruption: test_run.py's killed runs (every family)
  other = _smoke()
  other.optimizer.lr = 0.02
  with pytest.raises(SystemExit) as exited:
    main.train(other, workdir, progress=False)
  assert exited.value.code == 2 and 'different config' in capsys.readouterr().err

  # inspect: the restored checkpoints re-evaluate to what the run recorded
  ins = inspect.load(workdir)
  assert ins.summary["family"] == "token_ladder" and ins.step == 40 and ins.steps == [20, 40]
  for key, values in summary['final'].items():
    np.testing.assert_allclose([r[key] for r in ins.results], values, rtol=1e-6, atol=1e-7)
  early = {r['member']: r for r in rows if r['step'] == 20}
  for m, result in enumerate(inspect.load(workdir, step=20).results):
    for key in ladder.COLUMNS:
      assert result[key] == pytest.approx(early[m][key], rel=1e-6, abs=1e-7), key
  capsys.readouterr()
  assert inspect.main([f'--workdir={workdir}', '--member=2', '--plot']) == 0
  text = capsys.readouterr().out
  assert '2 rungs × 2 frequencies × 1 seed(s); T_CMP: lowest' in text and 'd16 never' in text
  row = next(line.split() for line in text.splitlines() if line.split()[:2] == ['2', 'd16'])
  assert float(row[5].rstrip('*')) == pytest.approx(acc[2], abs=5e-5)
  for name in ('heatmap.png', 'test_accuracy_curves.png'):
    assert os.path.getsize(os.path.join(workdir, 'inspect', '40', name)) > 5_000
  assert inspect.main([f'--workdir={workdir}', '--json', '--member=1']) == 0
  got = json.loads(capsys.readouterr().out)
  assert got['task'] == 'cmp' and got['members'][0]['frequency'] == 0.1
  assert got['members'][0]['test_accuracy'] == pytest.approx(acc[1], abs=1e-6)
  assert inspect.main([f'--workdir={workdir}', '--task=1']) == 2
  assert '--task 1 is out of range' in capsys.readouterr().err


@pytest.mark.parametrize('override,field', [
    ('--config.task.frequencies=(0.5,2.0)', 'task.frequencies'),
    ('--config.model.num_heads=(3,2)', 'model.num_heads'),
    ('--config.task.kind=mul', 'task.kind'),
    ('--config.train.steps_per_chunk=30', 'train.num_steps'),
    ('--config.train.microbatch=3', 'train.microbatch'),  # does not divide the batch of 8
    ('--config.train.remat=some', 'train.remat'),
    ('--config.model.model_shards=2', 'model.model_shards'),  # one device here
    ('--config.data.background=file --config.data.token_dtype=uint32', 'token_file'),
])
def test_bad_ladder_config_exits_2_with_one_line(tmp_path, override, field):
  tokens = tmp_path / 'tokens.bin'
  np.arange(1, 6, dtype=np.uint16).tofile(tokens)  # 10 bytes: not whole uint32 ids
  wd = tmp_path / 'never'
  out = _main(f'--config={TINY}:smoke', f'--workdir={wd}', f'--config.data.token_file={tokens}',
              *override.split())
  lines = [line for line in out.stderr.splitlines() if line.strip()]
  assert out.returncode == 2 and len(lines) == 1, out.stderr
  assert field in lines[0] and 'Traceback' not in out.stderr
  assert not wd.exists()
