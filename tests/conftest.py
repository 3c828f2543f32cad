import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(REPO, 'configs', 'sweep.py')


@pytest.fixture
def smoke_config():
  sys.path.insert(0, REPO)
  from rarelearn import configlib
  return configlib.load_config_file(SWEEP + ':smoke')


def assert_golden(name, values, atol=0.0):
  """``values`` equal the golden entry ``name`` of tests/goldens/goldens.json (recorded by
  benchmarks/goldens.py on the code before the one-lifecycle refactor; entries that a change of
  summation order moved name their tolerance there); ``atol``: at least this much anywhere."""
  sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
  import goldens  # pylint: disable=g-import-not-at-top
  bad = goldens.compare(name, values, atol=atol)
  assert not bad, '; '.join(bad)
