"""python -m rarelearn.bench --quick runs and prints its machine-readable lines; FLOP counts by hand."""
import re

import pytest

from rarelearn import bench


def test_useful_flops_by_hand():
  # D = 4, B = 5: width 2 has 4·2 + 2·4 = 16 multiply-adds per example, width 3 has 24;
  # training = 3 × forward = 3 × 2 FLOPs per multiply-add.
  assert bench.useful_flops_per_step((2, 3), dim=4, batch=5, depth=1) == 6 * 5 * (16 + 24)
  assert bench.useful_flops_per_step((3,), dim=4, batch=5, depth=2) == 6 * 5 * (12 + 9 + 12)


def test_quick_run_prints_every_line(capsys):
  # msp and ladder: their own code paths
  results = bench.main(['--quick', '--repeats=1', '--workloads=toy,msp,ladder'])
  out = capsys.readouterr().out
  for key in ('speedup_vs_sequential', 'speedup_vs_torch', 'flop_utilization'):
    assert re.search(rf'^{key}: (n/a|[0-9.e+-]+)$', out, re.M), out
    assert re.search(rf'^toy\.{key}: ', out, re.M)
    assert re.search(rf'^msp\.{key}: ', out, re.M)
    assert re.search(rf'^ladder\.{key}: ', out, re.M)
  toy, parity, lad = results
  assert toy['members'] == 6 and toy['speedup_vs_sequential'] > 0
  assert toy['flop_utilization'] == pytest.approx(
      toy['useful_gflop_per_s'] / toy['matmul_gflop_per_s'])
  assert toy['cost_members'] == [3, 6]  # configs/sweep.py:smoke: 3 widths × 1, 2 seeds
  assert parity['members'] == 3 and parity['cost_members'] == [3, 6]  # configs/msp.py:smoke
  assert 'packed: 28 hidden units' in toy['layout'] and 'padded: 48' in toy['layout']
  assert lad['members'] == 4 and lad['speedup_vs_sequential'] > 0  # olmo_tiny:smoke: 2 × 2
