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
