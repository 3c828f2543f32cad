"""Every committed result with claims (docs/results/*.json) can be checked against git: its
claims were stated in its experiment's docstring at ``criteria_commit``, an ancestor of (or the
same as) the commit the run started from, ``run_commit``; every entry says whether it is a claim
or a check; no trend holds without its permutation p-value below 0.05."""
import ast
import glob
import json
import os
import re
import subprocess

import pytest

from rarelearn.analysis import claims
from rarelearn.analysis.claims import script_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = sorted(glob.glob(os.path.join(ROOT, 'docs', 'results', '*.json')))
WITH_CLAIMS = [p for p in RESULTS if isinstance(json.load(open(p)).get('claims'), list)]


EXPERIMENT_RESULTS = [p for p in RESULTS
                      if os.path.exists(os.path.join(ROOT, script_of(p)))]


def _git(*args) -> subprocess.CompletedProcess:
  return subprocess.run(['git', '-C', ROOT, *args], capture_output=True, text=True, check=False)


IN_GIT = _git('rev-parse', '--is-inside-work-tree').stdout.strip() == 'true'


def stated_names(docstring: str) -> list[re.Pattern]:
  """The ``names`` a docstring states, ``<task>``-style placeholders matching any text."""
  return [re.compile('^' + re.sub(r'<[^>]+>', '.+', re.escape(token)) + '$')
          for token in re.findall(r'``([^`\s]+)``', docstring)]


def test_placeholders_in_stated_names():
  names = stated_names('- ``<task>_frontier_falls_with_size``: … ``long_rescues_<rung>_at_<f>``')
  assert any(p.match('cmp_frontier_falls_with_size') for p in names)
  assert any(p.match('long_rescues_d32_at_0.2') for p in names)
  assert not any(p.match('cmp_frontier_rises') for p in names)


def test_there_are_results_with_claims():
  """Every result of an experiment script has claims but fig1's (a closed form) and one made
  before claims (superseded); the other results (bench tables, plans, suite timings) are
  measurements of the code, not claims."""
  assert len(WITH_CLAIMS) >= 10
  assert [os.path.basename(p) for p in EXPERIMENT_RESULTS if p not in WITH_CLAIMS] == [
      'fig1_scaling_argument_2026-12-01.json', 'peer_michaud_msp_2026-12-01.json']


@pytest.mark.parametrize('path', WITH_CLAIMS, ids=os.path.basename)
def test_claims_are_kinds_and_trends_need_their_p(path):
  made = json.load(open(path))
  for c in made['claims']:
    assert c.get('kind') in claims.KINDS, c['name']
    if 'sizes' in c:  # a trend
      assert c['p_permutation'] is not None, c['name']
      assert not (c['holds'] and c['p_permutation'] >= claims.ALPHA), c['name']


@pytest.mark.skipif(not IN_GIT, reason='outside a git checkout')
@pytest.mark.parametrize('path', EXPERIMENT_RESULTS, ids=os.path.basename)
def test_claims_were_committed_before_the_run(path):
  made = json.load(open(path))
  criteria, run = made['criteria_commit'], made['run_commit']
  assert criteria and run, 'criteria_commit and run_commit'
  assert _git('merge-base', '--is-ancestor', criteria, run).returncode == 0, (
      f'{criteria[:8]} is not an ancestor of {run[:8]}')
  script = script_of(path)
  source = _git('show', f'{criteria}:{script}')
  assert source.returncode == 0, source.stderr
  stated = stated_names(ast.get_docstring(ast.parse(source.stdout)))
  missing = [c['name'] for c in made.get('claims', []) if not any(p.match(c['name'])
                                                                  for p in stated)]
  if made.get('criteria_in_docstring') is False:  # declared: fixed in the code, named there
    assert missing and all(f"'{m}'" in source.stdout for m in missing), made['criteria_note']
    return
  assert not missing, f'not in {script} at {criteria[:8]}: {missing}'
