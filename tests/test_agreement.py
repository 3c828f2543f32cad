"""Linear populations trained long enough learn what the utility theory predicts, on several
task sets (other K, d, Zipf exponents, offsets, per-task decays, explicit frequencies, rotation).
The oracle is theory.predicted_scores (Eckart–Young), independent of training."""
import numpy as np
import pytest

import rarelearn
from rarelearn import families
from rarelearn.analysis import theory

TASK_SETS = {
    'k8_d4_zipf1.2_offset0.3': dict(
        tasks=dict(num_tasks=8, dims_per_task=4, zipf=1.2, offset=0.3, decay=(1.0,)),
        widths=(2, 4, 8, 16, 32)),
    'k6_d6_zipf1.5_offset1_rotated': dict(
        tasks=dict(num_tasks=6, dims_per_task=6, zipf=1.5, offset=1.0, decay=(0.5,),
                   rotate=True), widths=(3, 6, 12, 24, 36)),
    'k10_d3_per_task_decay': dict(
        tasks=dict(num_tasks=10, dims_per_task=3, zipf=0.7,
                   decay=(3.0, 0.2, 2.0, 0.5, 1.5, 0.0, 2.5, 1.0, 0.3, 2.0)),
        widths=(2, 5, 9, 17, 30)),
    'k5_d5_explicit_frequencies': dict(
        tasks=dict(num_tasks=5, dims_per_task=5, frequencies=(0.05, 0.4, 0.1, 0.3, 0.15),
                   decay=(1.5,)), widths=(1, 4, 7, 13, 25)),
}


def _separated(widths, config):
  """Moves each width (by at most 3) to where the utility gap at the cut is largest.

  Where the N-th and (N+1)-th utilities (nearly) tie, the optimum is (nearly) not unique and
  the time to resolve it grows as 1/gap; such cuts test patience, not the theory.
  """
  u = np.sort(theory.utilities(*families.get(config.family).task_setup(config)[:2])[0])[::-1]
  gap = lambda w: 1.0 if w >= len(u) else (u[w - 1] - u[w]) / u[w - 1]
  out = tuple(max(range(max(1, w - 3), w + 4), key=gap) for w in widths)
  assert min(gap(w) for w in out) >= 0.05
  return out


@pytest.mark.parametrize('name', sorted(TASK_SETS))
def test_learned_set_matches_utility_theory(name, smoke_config, tmp_path):
  setup = TASK_SETS[name]
  config = smoke_config
  for key, value in setup['tasks'].items():
    config.tasks[key] = value
  config.population.widths = _separated(setup['widths'], config)
  config.population.seeds = 2
  config.model.init_scale = 0.1
  config.train.num_steps = 2000
  config.train.batch_size = 128
  config.train.steps_per_chunk = 500
  config.train.checkpoint_every_chunks = 6
  config.measure.every = 0  # the smoke config's per-task gradients every 10 steps: not needed
  summary = rarelearn.train(config, str(tmp_path / name), progress=False).summary
  score = np.asarray(summary['final']['task_score'])
  predicted = np.asarray(summary['predicted']['task_score'])
  print(name, 'agreement', summary['agreement'], 'max |ℓ−ℓ*|', np.abs(score - predicted).max(),
        'mean', np.abs(score - predicted).mean())
  assert summary['agreement'] >= 0.95
  assert np.max(np.abs(score - predicted)) < 0.005  # "to a few thousandths"
