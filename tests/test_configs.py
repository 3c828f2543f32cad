"""Every config in configs/ and each of its variants validates and builds its family's population
(nothing compiled or trained), so a config cannot rot unnoticed; an unknown variant is refused.
The runs themselves: test_run.py (killed and resumed, every family) and the goldens."""
import glob
import os

import pytest

from rarelearn import configlib, families

from conftest import REPO

VARIANTS = {'bench_large.py': ('', 'smoke'), 'complexity.py': ('', 'smoke'),
            'injection.py': ('', 'smoke'), 'lever.py': ('', 'smoke'),
            'msp.py': ('', 'smoke', 'full', 'complexity'),
            'olmo_ladder.py': ('', 'small', 'smoke', 'colab'),
            'olmo_tiny.py': ('', 'smoke', 'long', 'lever', 'lever_long'),
            'superposition.py': ('', 'zipf', 'smoke'), 'sweep.py': ('', 'smoke')}


def test_every_config_file_is_listed():
  names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'configs', '*.py')))
  assert names == sorted(VARIANTS)


@pytest.mark.parametrize('spec', [f'{name}:{v}' if v else name
                                  for name, variants in VARIANTS.items() for v in variants])
def test_config_validates_and_builds_its_population(spec):
  config = configlib.load_config_file(os.path.join(REPO, 'configs', spec))
  configlib.validate(config)
  pop = families.population(config)
  assert pop.num_steps == config.train.num_steps and pop.num_steps % pop.steps_per_chunk == 0
  assert len(pop.members) > 0 and pop.description


def test_an_unknown_variant_is_refused():
  with pytest.raises(ValueError, match='unknown config variant'):
    configlib.load_config_file(os.path.join(REPO, 'configs', 'olmo_ladder.py:huge'))
