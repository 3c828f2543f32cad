"""The planner (rarelearn/population/planner.py, its command line rarelearn/plan.py): its search,
its command line, and ``rarelearn.main``
running exactly the plan it prints, on 4 simulated CPU devices."""
import fractions
import json
import math
import os
import subprocess
import sys

import numpy as np

from rarelearn import plan
from rarelearn.core import configlib
from rarelearn.population import planner

from conftest import REPO, golden_values

TINY = os.path.join(REPO, 'configs', 'olmo_tiny.py')


def test_search_takes_the_first_fitting_candidate_in_order_of_preference():
  """A made-up memory model in place of compiling; the oracle enumerates every placement and
  sorts by the documented preference: least device time, fewest model shards, largest
  program, largest micro-batch."""
  config = configlib.load_config_file(TINY + ':smoke')
  config.model.seeds = 3  # 6 members per rung, 4 devices (jax.device_count() is 1 here)
  devices, batch, num = 4, config.train.batch_size, 6
  state, per_sequence = {'d8': 10.0, 'd16': 24.0}, {'d8': 1.0, 'd16': 3.0}

  def peak(rung, k, size, mb):
    per_device = math.ceil(size / (devices // k))
    return per_device * state[rung] / k + (mb or batch) * per_sequence[rung] / k

  for limit in (200.0, 60.0, 30.0, 15.0, 8.0, 2.0):
    want = {}
    for rung in state:
      options = [(k, size, mb) for k in (1, 2, 4) for size in range(1, num + 1)
                 for mb in range(1, batch + 1) if batch % mb == 0 and mb % k == 0
                 and peak(rung, k, size, mb) <= limit]
      # device time per step: programs × members per device slot / model shards
      key = lambda o: (fractions.Fraction(math.ceil(num / o[1]) * math.ceil(
          o[1] / (devices // o[0])), o[0]), o[0], -o[1], -o[2])
      want[rung] = min(options, key=key) if options else None
    made = planner.make_plan(config, limit, usable=1.0, progress=False, devices=devices,
                             measure_fn=lambda _, pop, i, k, size, mb, limit: {
                              'peak': peak(pop.ladder[i].name, k, size, mb), 'state': 0.0})
    got = {r.rung: (r.model_shards, r.group_size, r.microbatch or batch) if r.fits else None
           for r in made.rungs}
    assert got == want, limit


SCRIPT = r"""
import contextlib, io, json, sys
import jax, jax.numpy as jnp
sys.path.insert(0, {repo!r})
import rarelearn
from rarelearn import main
from rarelearn.core import configlib
from rarelearn.population import ladder, planner, vmapped
from rarelearn.runtime import workdir
assert jax.device_count() == 4
config = configlib.load_config_file({tiny!r} + ':smoke')
# the d16 rung alone, 2 seeds, at the learning rate it has in the ladder (the N^-1/3 rule)
config.optimizer.lr = float(ladder.Ladder(config, skeleton=True).lrs[1])
for key in ('names', 'd_model', 'num_heads', 'mlp', 'depth'):
  config.model[key] = config.model[key][1:]
config.model.seeds, config.train.plan, config.train.device_memory_gib = 2, True, {memory!r}
printed, plans, make_plan = io.StringIO(), [], planner.make_plan
planner.make_plan = lambda *a, **k: plans.append(make_plan(*a, **k)) or plans[-1]  # the plan run
with contextlib.redirect_stderr(printed):
  main.train(config, {tmp!r} + '/run', progress=False)
planner.make_plan, (made,) = make_plan, plans
stored = workdir.read_config({tmp!r} + '/run')
pop = ladder.Ladder(stored)
state = pop.init()
compiled = [planner.memory_gib(fn.lower(g.place.state(state[g.key]), pop.data_key, jnp.int32(0),
                                        member, pop.data, pop.eval_background, None).compile())
            for g, member in zip(pop.groups, pop.placed)
            for fn in [vmapped.make_lm_chunk(g.hp)]]  # the program the planner compiles
offloaded = planner.placed(stored, *(stored.model.model_shards, stored.model.group_size,
                                   stored.train.microbatch), offload=True)
offloaded.train.plan = False
offload_final = ladder.grid(rarelearn.train(offloaded, progress=False))
json.dump(dict(offload_final={{k: offload_final[k][..., -1].reshape(-1).tolist()
                              for k in ladder.COLUMNS}},
               printed=printed.getvalue().splitlines(), lines=made.lines(),
               plan=made.as_dict(), compiled=compiled,
               groups=[[g.key, g.members.start, g.members.stop, dict(g.place.mesh.shape)]
                       for g in pop.groups],
               w_gate=[[list(w.shape), list(w.addressable_shards[0].data.shape)] for w in (
                   g.place.state(state[g.key]).params['layers']['w_gate'] for g in pop.groups)],
               final=workdir.read_summary({tmp!r} + '/run')['final']),
          open({tmp!r} + '/out.json', 'w'))
"""
MEMORY = 0.003  # GiB per device: d16 is split into programs, FSDP and micro-batches


def test_main_runs_the_plan_it_prints(tmp_path):
  env = dict(os.environ, XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=4', JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, '-c', SCRIPT.format(repo=REPO, tiny=TINY,
                                                            tmp=str(tmp_path), memory=MEMORY)],
                        env=env, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / 'out.json') as f:
    out = json.load(f)
  # the plan printed is the plan made; it splits the rung every way the planner can
  assert all(line in out['printed'] for line in out['lines']), out['printed']
  rung = out['plan']['rungs'][0]
  assert (rung['model_shards'], rung['group_size'], rung['microbatch']) == (2, 2, 4), rung
  # the run's programs: those groups, on that mesh, with the compiled memory the plan printed
  assert out['groups'] == [['d16.0', 0, 2, {'members': 2, 'model': 2}],
                           ['d16.1', 2, 4, {'members': 2, 'model': 2}]]
  # FSDP: a program's 2 members over 2 devices, each member's MLP [L, d, 4d] over 2 more
  assert out['w_gate'] == [[[2, 2, 16, 64], [1, 2, 16, 32]]] * 2
  for compiled in out['compiled']:
    for key, value in compiled.items():
      assert value == rung['memory'][key], (key, value, rung['memory'])
  # and its numbers: the seed-0 members (0 and 2) are the golden run's d16 members; with the
  # states kept in host memory between chunks (train.offload) they are the same bit for bit
  for key, got in out['offload_final'].items():
    assert got == out['final'][key], key
  for key, want in golden_values('ladder_smoke').items():
    np.testing.assert_allclose(np.asarray(out['final'][key])[[0, 2]], np.asarray(want)[2:],
                               rtol=0, atol=1e-6, err_msg=key)


def test_plan_command_and_refusal(tmp_path):
  """``python -m rarelearn.plan`` ends in ``plan: fits`` (exit 0) where the config fits;
  ``rarelearn.main`` refuses one that cannot fit with one line, exit 2, nothing written."""
  proc = subprocess.run([sys.executable, '-m', 'rarelearn.plan', f'--config={TINY}:smoke',
                         '--devices=2', '--device_memory_gib=1', '--peak_tflops=1',
                         '--config.train.num_steps=60'],
                        capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
  lines = proc.stdout.splitlines()
  assert proc.returncode == 0 and lines[-1] == 'plan: fits', proc.stdout + proc.stderr
  assert lines[-3].startswith('plan: 60 steps at 1 TFLOP/s per device'), lines
  assert [line.split()[:4] for line in lines[2:4]] == [['d8', '2', '2', '2x1'],
                                                       ['d16', '2', '2', '2x1']]
  work = tmp_path / 'refused'
  proc = subprocess.run([sys.executable, '-m', 'rarelearn.main', f'--config={TINY}:smoke',
                         '--config.train.plan=True', '--config.train.device_memory_gib=1e-5',
                         f'--workdir={work}', '--noprogress'],
                        capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith(
      'rarelearn: error: plan: does not fit: d8 needs '), proc.stderr
  assert not work.exists()


def test_plan_reads_config_overrides_as_main_does(tmp_path, monkeypatch, capsys):
  """``--config.<key>=value`` (``configlib.from_command_line``, as ``rarelearn.main``): two seeds
  double each rung's members and FLOPs, the steps set the run's time; the plan's JSON holds the
  config as overridden. A made-up memory model in place of compiling."""
  monkeypatch.setattr(planner, 'compiled_memory', lambda *a: dict(
      argument=0.01, output=0.01, alias=0.01, temp=0.01, peak=0.02, state=0.01))

  def planned(*overrides):
    out = tmp_path / f'plan{len(overrides)}.json'
    assert plan.main([f'--config={TINY}:smoke', '--local', '--device_memory_gib=1',
                      '--peak_tflops=1', f'--json={out}', *overrides]) == 0
    capsys.readouterr()
    with open(out) as f:
      return json.load(f)
  base = planned()
  made = planned('--config.model.seeds=2', '--config.train.num_steps=80')
  assert made['config']['model']['seeds'] == 2 and made['config']['train']['num_steps'] == 80
  assert (base['steps'], made['steps']) == (40, 80)
  for b, m in zip(base['rungs'], made['rungs'], strict=True):
    assert m['members'] == 2 * b['members'] and m['flops_per_step'] == 2 * b['flops_per_step']
  assert made['lines'][-3] != base['lines'][-3]  # the run's hours
