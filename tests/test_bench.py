"""python -m rarelearn.bench --quick runs and prints its machine-readable lines; FLOP counts by
hand."""
import os
import re

import jax
import numpy as np
import pytest

from rarelearn import bench
from rarelearn.core import configlib
from rarelearn.population import interventions


def test_useful_flops_by_hand():
  # D = 4, B = 5: width 2 has 4·2 + 2·4 = 16 multiply-adds per example, width 3 has 24;
  # training = 3 × forward = 3 × 2 FLOPs per multiply-add.
  assert bench.useful_flops_per_step((2, 3), dim=4, batch=5, depth=1) == 6 * 5 * (16 + 24)
  assert bench.useful_flops_per_step((3,), dim=4, batch=5, depth=2) == 6 * 5 * (12 + 9 + 12)


def test_quick_run_prints_every_line(capsys):
  # toy only of the population workloads: msp is the same MLP population (mlp_sweep.Sweep) with
  # another loss; and the interventions' cost per step
  toy, iv = bench.main(['--quick', '--repeats=1', '--workloads=toy,interventions'])
  out = capsys.readouterr().out
  for key in ('speedup_vs_sequential', 'speedup_vs_torch', 'flop_utilization'):
    assert re.search(rf'^{key}: (n/a|[0-9.e+-]+)$', out, re.M), out
    assert re.search(rf'^toy\.{key}: ', out, re.M)
  assert toy['members'] == 6 and toy['speedup_vs_sequential'] > 0
  assert toy['flop_utilization'] == pytest.approx(
      toy['useful_gflop_per_s'] / toy['matmul_gflop_per_s'])
  assert toy['cost_members'] == [3, 6]  # configs/sweep.py:smoke: 3 widths × 1, 2 seeds
  assert 'packed: 28 hidden units' in toy['layout'] and 'padded: 48' in toy['layout']
  for kind in interventions.KINDS:
    for key in (f'{kind}_s_per_step', f'{kind}_vs_none'):
      assert re.search(rf'^interventions\.{key}: [0-9.e+-]+$', out, re.M), out
  assert iv['members'] == 6 and iv['none_vs_none'] == 1 and iv['protect_s_per_step'] > 0


def test_each_kind_trains_as_its_own_population():
  """The bench's intervening kinds share one program, the kind swapped in as each member's
  traced value: disturb's trains as a population configured with disturb alone, bit for bit,
  and not as protect's; none is the plain program."""
  config = configlib.load_config_file(os.path.join(bench.CONFIGS, 'sweep.py:smoke'))
  pops = bench.intervention_populations(config, steps=2)

  def trained(pop):
    state = pop.init()
    return jax.tree.leaves(pop.piece(state, pop.begin(state, 0), 0, 0, 2)[0].params)
  disturb = trained(pops['disturb'])
  for mine, theirs in zip(disturb, trained(bench.intervention_population(config, 2, 'disturb'))):
    np.testing.assert_array_equal(mine, theirs)
  assert not all(np.array_equal(a, b) for a, b in zip(disturb, trained(pops['protect'])))
  assert not pops['none'].intervening and pops['disturb'].intervening


def test_ladder_timers_run_every_member():
  # the ladder workload's own code path, on one rung of configs/olmo_tiny.py:smoke (2 members)
  config = configlib.load_config_file(os.path.join(bench.CONFIGS, 'olmo_tiny.py:smoke'))
  for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
    config.model[key] = config.model[key][:1]
  seconds, loss = bench._ladder_seconds(config, steps=2, repeats=1, one_member=True)
  assert seconds > 0 and abs(loss - np.log(config.model.vocab)) < 0.1  # std-0.02 init


def test_olmo_workload_flops_by_hand():
  # configs/olmo_ladder.py:small: 4M (d 64, 8 layers) and 20M (d 192, 16 layers), 2 members each,
  # 64 × 512 tokens; 6 FLOPs per matmul parameter per token, the input embedding a lookup
  config = configlib.load_config_file(os.path.join(bench.CONFIGS, bench.WORKLOADS['olmo']))
  widths, flops, _, _, _, sequential, _ = bench._figures('olmo', config)
  assert widths == [64, 64, 192, 192] and sequential is None  # the population only
  per_layer = lambda d: 4 * d * d + 3 * d * 4 * d + 2 * d
  matmul = [8 * per_layer(64) + 64 + 50_304 * 64, 16 * per_layer(192) + 192 + 50_304 * 192]
  assert flops == sum(6 * n * 64 * 512 * 2 for n in matmul)
  assert 'olmo' not in bench.DEFAULT  # an accelerator workload: not in the CPU default
