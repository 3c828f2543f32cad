"""The Colab notebooks run headless on a CPU with a tiny parameter set, and the numbers they
compute equal the run's own records."""
import json
import os

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from rarelearn.runtime import workdir as wd
from conftest import REPO

COLABS = os.path.join(REPO, 'colabs')


def _execute(name, workdir):
  """Runs colabs/<name>.ipynb with TINY = True; returns the RESULTS dict its last cell prints."""
  nb = nbformat.read(os.path.join(COLABS, f'{name}.ipynb'), as_version=4)
  params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1
  params[0].source = f'TINY = True\nWORKDIR = {str(workdir)!r}\n'
  NotebookClient(nb, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': COLABS}}).execute()
  text = ''.join(o.get('text', '') for o in nb.cells[-1].outputs if o.output_type == 'stream')
  return json.loads(text.strip().splitlines()[-1])


def test_quickstart(tmp_path):
  workdir = tmp_path / 'quick'
  results = _execute('quickstart', workdir)
  with open(workdir / 'summary.json') as f:
    summary = json.load(f)
  assert results['platform'] == 'cpu'
  assert results['agreement'] == summary['agreement']
  assert results['members'] == len(summary['members']) == 6  # smoke: 3 widths × 2 seeds
  rows = [r for r in wd.read_metrics(str(workdir)) if 'grad_norm_probe' in r and r['seed'] == 0]
  for width in (2, 4, 8):
    last = [r for r in rows if r['width'] == width][-1]
    assert last['step'] == 60
    assert results['final_common_grad_norm'][str(width)] == pytest.approx(
        np.mean(last['grad_norm_probe'][:results['common_tasks']]))


def test_inspect_checkpoint(tmp_path):
  """ℓ_k re-evaluated from each restored checkpoint equals the live evaluation the run wrote to
  metrics.jsonl at that step; each true unit's task shares sum to 1."""
  workdir = tmp_path / 'inspect'
  results = _execute('inspect_checkpoint', workdir)
  assert results['steps'] == [20, 40, 60]  # smoke: a checkpoint every 20-step chunk, all kept
  member = results['member']
  live = {r['step']: r['task_score'] for r in wd.read_metrics(str(workdir))
          if r['member'] == member and 'task_score' in r}
  for step in results['steps']:
    np.testing.assert_allclose(results['task_score'][str(step)], live[step], atol=2e-6)
  with open(workdir / 'summary.json') as f:
    width = json.load(f)['members'][member]['width']
  assert results['units_share_sum'] == pytest.approx(width, rel=1e-5)
