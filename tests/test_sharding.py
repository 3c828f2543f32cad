"""The member axis over 4 (simulated CPU) devices gives the numbers of one device.

The sharded runs happen in a subprocess started with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (the flag must be set before jax starts);
they are compared with the one-device golden numbers (tests/goldens/goldens.json). Cases: the
sweep smoke's 6 members bucketed over 4 devices (padded to 8 slots) and its 3 seed-0 members
(fewer than the devices) padded on a (2 × 2) mesh whose second axis splits every member's
hidden units (FSDP-style); and every other family — the sparse-parity smoke population and the
smoke ladder's first rung. The ladder with each member's parameters, optimizer state and batch
split over a second mesh axis (``model.model_shards``), in micro-batches and in several programs
per rung is tests/test_plan.py's run of a plan (against the same golden numbers).
"""
import json
import os
import subprocess
import sys

import numpy as np

from rarelearn import inspect as inspect_lib
from rarelearn.core import configlib

from conftest import REPO, SWEEP, assert_golden, golden_values

CASES = {
    'bucketed': {'population.layout': 'bucketed'},  # widths (2, 4, 8) × 2 seeds: 6 → 8 slots
    # 3 members (fewer than the devices) in 4 slots over 2 devices, each split over 2 more
    'model_axis': {'population.model_shards': 2, 'population.layout': 'padded',
                   'population.seeds': 1},
}
GOLDEN_ROWS = {'bucketed': slice(None), 'model_axis': slice(0, None, 2)}  # of 'sweep_smoke'


# Every family over the 4 devices: its smoke config, compared with the one-device golden numbers
# (tests/goldens/goldens.json): msp's 3 members in 4 slots, the first ladder rung's 2 in 4.
FAMILIES = {'msp_smoke': 'msp.py:smoke', 'ladder_smoke': 'olmo_tiny.py:smoke'}

SCRIPT = r'''
import json, os, sys
import jax, numpy as np
sys.path.insert(0, {repo!r})
import rarelearn
from rarelearn import families
from rarelearn.core import configlib
from rarelearn.runtime import workdir
from test_sharding import CASES, FAMILIES, config_for
assert jax.device_count() == 4, jax.devices()
out = {{}}
for name, spec in FAMILIES.items():
  config = configlib.load_config_file(os.path.join({repo!r}, 'configs', spec))
  wd = f'{tmp}/{{name}}'
  if config.family == 'token_ladder':  # its first rung (the rungs are independent programs)
    for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
      config.model[key] = config.model[key][:1]
    rarelearn.train(config, wd, progress=False)
    out[name] = workdir.read_summary(wd)['final']
  else:
    summary = rarelearn.train(config, wd, progress=False).summary
    last = [r['loss'] for r in workdir.read_metrics(wd) if r['step'] == config.train.num_steps]
    out[name] = {{'task_loss_bits': summary['final']['task_loss'], 'train_loss': last,
                  'layout': summary['layout']}}
for name in CASES:
  config = config_for(name)
  summary = rarelearn.train(config, f'{tmp}/{{name}}', progress=False).summary
  pop = families.population(config)
  w = pop.place(pop.init()).params['hidden'][0]['w']
  out[name] = dict(task_loss=summary['final']['task_loss'], layout=summary['layout'],
                   slots=int(w.shape[0]), devices=len(w.sharding.device_set),
                   shard_shape=list(w.addressable_shards[0].data.shape))
json.dump(out, open(f'{tmp}/out.json', 'w'))
'''


def config_for(name):
  config = configlib.load_config_file(SWEEP + ':smoke')
  for key, value in CASES[name].items():
    node = config
    *parents, leaf = key.split('.')
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def _sharded_runs(tmp):
  env = dict(os.environ, XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=4',
             JAX_PLATFORMS='cpu', PYTHONPATH=os.path.join(REPO, 'tests'))
  proc = subprocess.run([sys.executable, '-c', SCRIPT.format(repo=REPO, tmp=str(tmp))],
                        env=env, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp / 'out.json') as f:
    return json.load(f)


def test_sharded_runs_equal_one_device(tmp_path):
  """One test (one subprocess for every case): with pytest-xdist a shared fixture would run
  once per worker."""
  results = _sharded_runs(tmp_path)
  for name in CASES:
    _check_case(name, results[name], tmp_path)
  # the sharded sparse-parity population and the first ladder rung (its 2 members: the first 2
  # of the golden run's 4); partitioned programs may reduce in another order
  assert_golden('msp_smoke', results['msp_smoke'], atol=1e-6)
  rung = {k: np.asarray(v)[:2] for k, v in golden_values('ladder_smoke').items()}
  assert results['ladder_smoke'].keys() == rung.keys()
  for key, want in rung.items():
    np.testing.assert_allclose(results['ladder_smoke'][key], want, rtol=0, atol=1e-6)


def _check_case(name, got, tmp):
  # the one-device run's numbers (recorded with the packed layout: the same to float32
  # rounding); a partitioned program may reduce in another order
  want = np.asarray(golden_values('sweep_smoke')['task_loss'])[GOLDEN_ROWS[name]]
  members = len(want)
  np.testing.assert_allclose(got['task_loss'], want, rtol=2e-4, atol=1e-6)
  assert got['devices'] == 4
  assert got['slots'] == -(-members // (2 if name == 'model_axis' else 4)) * (
      2 if name == 'model_axis' else 4)
  # the checkpoint holds exactly the requested members
  inspected = inspect_lib.load(str(tmp / name))
  assert inspected.state.params['hidden'][0]['w'].shape[0] == members
  np.testing.assert_allclose([r['task_loss'] for r in inspected.results],
                             got['task_loss'], rtol=1e-5, atol=1e-7)
  if name == 'model_axis':  # members over 2 devices, each member's 8 units over 2 more
    assert got['shard_shape'][:2] == [got['slots'] // 2, 4], got
  else:
    assert got['shard_shape'][0] == got['slots'] // 4
