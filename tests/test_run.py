"""The real host loop end to end: outputs, resume, and the command line's handling of bad input."""
import contextlib
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rarelearn
from rarelearn import families, main
from rarelearn.core import configlib
from rarelearn.population import mlp_setup, vmapped
from rarelearn.runtime import checkpoint, loop, workdir as workdir_lib
from conftest import REPO, SWEEP, assert_golden


MEASURE_KEYS = ('grad_norm', 'grad_norm_probe', 'grad_bound_probe', 'rare_loss', 'ref_cos_batch',
                'ref_cos_task', 'ref_cos_other', 'interference', 'interference_rest',
                'interference_total', 'lookahead_change', 'units_dominated', 'rowspace_score')


def _files(workdir):
  return sorted(os.path.relpath(os.path.join(d, f), workdir)
                for d, _, fs in os.walk(workdir) for f in fs)


def test_smoke_run_writes_every_output(tmp_path, smoke_config):
  wd = str(tmp_path / 'wd')
  summary = rarelearn.train(smoke_config, wd, progress=False).summary
  assert_golden('sweep_smoke', summary['final'])
  files = _files(wd)
  for name in ('config.json', 'metrics.jsonl', 'summary.json', 'figures/phase_diagram.png',
               'figures/task_curves.png'):
    assert name in files
  steps = smoke_config.train.num_steps
  assert any(f.startswith(f'checkpoints/{steps}/state') for f in files)
  with open(os.path.join(wd, 'config.json')) as f:
    assert json.load(f)['population']['widths'] == list(smoke_config.population.widths)
  rows = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
  num_members, num_tasks = 6, smoke_config.tasks.num_tasks
  chunks = steps // smoke_config.train.steps_per_chunk
  every = smoke_config.measure.every
  assert len(rows) == steps // every * num_members  # chunk ends are measured steps too
  assert sorted({r['step'] for r in rows}) == list(range(every, steps + 1, every))
  measured = [r for r in rows if 'grad_norm' in r]
  assert len(measured) == len(rows)
  for key in MEASURE_KEYS:
    assert all(key in r for r in measured), key
  for r in measured:
    assert len(r['grad_norm']) == num_tasks and len(r['units_dominated']) == num_tasks
  matrices = np.load(os.path.join(wd, 'measurements', f'{steps}.npz'))
  assert matrices['grad_cos'].shape == (num_members, 2, num_tasks, num_tasks)
  assert matrices['unit_share'].shape == (num_members, 8, num_tasks)
  np.testing.assert_array_equal(matrices['steps'], [steps - every, steps])
  rows = [r for r in rows if 'task_score' in r]
  assert len(rows) == chunks * num_members
  assert sorted({r['step'] for r in rows}) == [20, 40, 60]
  for r in rows:
    np.testing.assert_allclose(np.array(r['task_score']), 1 - np.array(r['task_loss']),
                               atol=2e-7)
  on_disk = json.load(open(os.path.join(wd, 'summary.json')))
  assert on_disk['members'] == summary['members']
  for key in ('task_loss', 'task_score', 'learned'):
    assert np.asarray(on_disk['final'][key]).shape == (num_members, num_tasks)
  for key in ('task_score', 'learned'):
    assert np.asarray(on_disk['predicted'][key]).shape == (num_members, num_tasks)
  learned = np.asarray(on_disk['final']['learned'])
  pred = np.asarray(on_disk['predicted']['learned'])
  assert on_disk['agreement'] == pytest.approx(np.mean(learned == pred))
  last = [r for r in rows if r['step'] == steps]
  np.testing.assert_allclose([r['task_loss'] for r in last], on_disk['final']['task_loss'],
                             atol=1e-6)
  for key in ('steps', 'wall_time_s', 'versions', 'devices', 'tasks'):
    assert key in on_disk
  assert on_disk['tasks'][0]['frequency'] == pytest.approx(
      float(families.get(smoke_config.family).task_setup(smoke_config)[0][0]))


def _assert_identical_runs(wd, full_wd, config):
  """Same summary, metrics rows, measurement files and final checkpoint, bit for bit."""
  with open(os.path.join(wd, 'summary.json')) as f, open(os.path.join(full_wd, 'summary.json')) as g:
    assert json.load(f)['final'] == json.load(g)['final']
  assert (open(os.path.join(wd, 'metrics.jsonl')).read()
          == open(os.path.join(full_wd, 'metrics.jsonl')).read())
  measured = os.path.join(full_wd, 'measurements')
  for name in sorted(os.listdir(measured)) if os.path.isdir(measured) else []:
    cut, whole = (np.load(os.path.join(d, 'measurements', name)) for d in (wd, full_wd))
    for key in whole.files:
      np.testing.assert_array_equal(cut[key], whole[key])
  like = families.population(config).init()
  states = []
  for d in (wd, full_wd):
    mngr = checkpoint.manager(d, 2)
    states.append(checkpoint.restore(mngr, config.train.num_steps, like)[0])
    mngr.close()
  for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_corrupted_checkpoint_is_skipped_and_the_run_resumes_bit_identical(tmp_path,
                                                                             smoke_config):
  """Stopped after two chunks (``max_chunks``), its latest checkpoint truncated: reported,
  removed, and the run resumes from the one before to an uninterrupted run's numbers."""
  smoke_config.train.checkpoint_every_chunks = 1
  rarelearn.train(smoke_config, str(tmp_path / 'full'), progress=False).summary
  wd = str(tmp_path / 'corrupt')
  assert rarelearn.train(smoke_config, wd, progress=False, max_chunks=2) is None
  assert not os.path.exists(os.path.join(wd, 'summary.json'))
  damaged = 0
  for folder, _, files in os.walk(checkpoint.directory(wd, 40)):
    for name in files:
      with open(os.path.join(folder, name), 'r+b') as f:
        f.truncate(max(0, os.path.getsize(f.name) // 3))
      damaged += 1
  assert damaged
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    rarelearn.train(smoke_config, wd, progress=False).summary
  assert 'checkpoint at step 40 cannot be read' in err.getvalue()
  assert 'resuming' in err.getvalue() and 'from step 20' in err.getvalue()
  _assert_identical_runs(wd, str(tmp_path / 'full'), smoke_config)


# The MLP families share one population (mlp_sweep.Sweep): SIGKILL on sparse parity and SIGTERM on
# the
# toy cover both (the toy's resume from a periodic checkpoint, with its measurement files, is
# also the corrupted-checkpoint test above). Every family's signals and checkpoints go through
# one loop (rarelearn/runtime/loop.py), so SIGKILL is tried on sparse parity alone; SIGTERM inside a
# long
# evaluation interval (the stop deadline) on every family: its checkpoint carries the
# interval's partial results.
STOP_DEADLINE_S = 3.0  # the test's --stop_deadline_s: pieces of about 1 s
# (spec, steps, steps per chunk (about 3 s of training on the 2-core CPU at the suite's XLA
# flags), the first step to pass, signals)
KILL_CASES = [('msp.py:smoke', 30000, 10000, 10000, [signal.SIGTERM, signal.SIGKILL]),
              ('sweep.py:smoke', 18000, 9000, 9000, [signal.SIGTERM]),
              ('olmo_tiny.py:smoke', 600, 300, 300, [signal.SIGTERM]),
              ('superposition.py:smoke', 1000, 250, 250, [signal.SIGKILL])]


@pytest.mark.parametrize('spec,num_steps,chunk,first,signals', KILL_CASES,
                         ids=['msp-SIGTERM-SIGKILL', 'sweep-SIGTERM', 'ladder-SIGTERM',
                              'superposition-SIGKILL'])
def test_a_killed_run_restarts_to_the_same_result(tmp_path, spec, num_steps, chunk, first,
                                                  signals):
  """Every family through ``rarelearn.main``: SIGKILL at a random moment after a checkpoint,
  then the same command again: the result equals an uninterrupted run's, bit for bit (summary,
  metrics rows, final checkpoint). SIGTERM (a preempted machine) at a random moment inside an
  evaluation interval several times longer than the stop deadline: the run ends its piece,
  checkpoints it there (mid-interval), says so and exits with status 143 within the deadline;
  then the same. Signals in sequence are allowed (after a SIGTERM, the next one waits for the
  resumed run's next checkpoint)."""
  spec = os.path.join(REPO, 'configs', spec)
  overrides = [f'--config.train.num_steps={num_steps}',
               f'--config.train.steps_per_chunk={chunk}',
               '--config.train.checkpoint_every_chunks=1']
  config = configlib.load_config_file(spec)
  config.train.num_steps, config.train.steps_per_chunk = num_steps, chunk
  config.train.checkpoint_every_chunks = 1
  main.train(config, str(tmp_path / 'full'), progress=False)  # pieces of the default 30 s
  wd = str(tmp_path / 'killed')
  cmd = [sys.executable, '-m', 'rarelearn.main', f'--config={spec}', f'--workdir={wd}',
         '--noprogress', f'--stop_deadline_s={STOP_DEADLINE_S}', *overrides]
  for sig in signals:
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not _trained_to(wd, first, sig) and time.time() < deadline:
      time.sleep(0.02)
    time.sleep(np.random.default_rng(int(time.time())).uniform(0.0, 0.5))
    proc.send_signal(sig)
    sent = time.time()
    proc.wait(timeout=60)
    took, err = time.time() - sent, proc.stderr.read().decode()
    assert not os.path.exists(os.path.join(wd, 'summary.json'))
    if sig == signal.SIGKILL:
      assert proc.returncode == -signal.SIGKILL, err
    else:  # within the deadline, at the newest checkpoint, the step it names
      assert proc.returncode == 128 + signal.SIGTERM, err
      print(f'SIGTERM to exit: {took:.2f} s (deadline {STOP_DEADLINE_S} s)')
      assert took < STOP_DEADLINE_S, err
      first = int(re.search(r'SIGTERM: stopped at step (\d+) with a checkpoint; the same '
                            r'command resumes', err.strip().splitlines()[-1]).group(1))
      assert first == max(int(s) for s in os.listdir(checkpoint.directory(wd)) if s.isdigit())
      assert first % chunk, 'stopped at the end of an interval, not inside it'
      first += chunk - first % chunk  # a SIGKILL next: after the resumed run's checkpoint
  again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert again.returncode == 0, again.stderr
  assert 'resuming' in again.stderr
  _assert_identical_runs(wd, str(tmp_path / 'full'), config)


def _trained_to(wd: str, step: int, sig) -> bool:
  """SIGKILL: the checkpoint at ``step`` exists; SIGTERM: a metrics row at ``step`` does."""
  if sig == signal.SIGKILL:
    return os.path.exists(checkpoint.directory(wd, step))
  metrics = os.path.join(wd, workdir_lib.METRICS_FILE)
  return os.path.exists(metrics) and any(r['step'] >= step for r in workdir_lib.read_metrics(wd))


def test_existing_workdir_with_other_config_is_refused(tmp_path, smoke_config):
  wd = str(tmp_path / 'wd')
  rarelearn.train(smoke_config, wd, progress=False, max_chunks=1)
  smoke_config.tasks.zipf = 2.0
  before = _files(wd)
  with pytest.raises(configlib.ConfigError, match='tasks.zipf'):
    rarelearn.train(smoke_config, wd, progress=False).summary
  assert _files(wd) == before


def test_unwritable_or_full_workdir_fails_at_start(tmp_path, smoke_config, monkeypatch):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  with pytest.raises(configlib.ConfigError, match='cannot be written'):
    rarelearn.train(smoke_config, str(blocker / 'wd'), progress=False).summary
  out = _main(f'--config={SWEEP}:smoke', f'--workdir={blocker}/wd')
  assert out.returncode == 2 and 'cannot be written' in out.stderr
  assert len(out.stderr.strip().splitlines()) == 1 and 'Traceback' not in out.stderr

  wd = str(tmp_path / 'wd')
  rarelearn.train(smoke_config, wd, progress=False).summary
  written = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(wd) for f in fs)
  pop = families.population(smoke_config)
  needed = pop.estimated_bytes(pop.init())
  assert written <= needed <= 20 * written  # generous, not absurd
  usage = shutil.disk_usage(str(tmp_path))
  monkeypatch.setattr(workdir_lib.shutil, 'disk_usage',
                      lambda path: usage._replace(free=needed - 1))
  with pytest.raises(configlib.ConfigError, match='MiB free but this run writes about'):
    rarelearn.train(smoke_config, str(tmp_path / 'full_disk'), progress=False).summary
  assert not (tmp_path / 'full_disk').exists()


def _main(*args, cwd=REPO):
  return subprocess.run([sys.executable, '-m', 'rarelearn.main', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('override,field', [
    ('--config.population.widths=(8,-1)', 'population.widths'),
    ('--config.population.widht=(8,)', 'population.widht'),
    ('--config.tasks.zipf=-1', 'tasks.zipf'),
    ('--config.tasks.zipf=abc', 'tasks.zipf'),
    ('--config.optimizer.name=adagrad', 'optimizer.name'),
    ('--config.tasks.frequencies=(0.5,0.2,0.2,0.2)', 'tasks.frequencies'),
    ('--config.tasks.decay=(1.0,2.0)', 'tasks.decay'),
    ('--config.train.num_steps=50', 'train.num_steps'),
    ('--config.measure.every=7', 'measure.every'),
    ('--config.measure.rare_task=4', 'measure.rare_task'),
    ('--config.mixture.schedule=bursts', 'mixture.schedule'),
    ('--config.mixture.factor=0', 'mixture.factor'),
    ('--config.mixture.burst_steps=2000', 'mixture.burst_steps'),
    ('--config.mixture.schedule=injection --config.mixture.burst_steps=1',  # B < a burst
     'mixture.burst_steps'),
    ('--config.population.widths=()', 'population.widths'),
    ('--config.train.batch_size=0', 'train.batch_size'),
    ('--config.model.activation=tanh', 'model.activation'),
    ('--config.population.sweep.gap=(10,)', 'population.sweep.gap'),
    ('--config.population.layout=packed --config.model.depth=2', 'population.layout'),
    ('--config.population.model_shards=3', 'population.model_shards'),  # 1 device here
    ('--config.train.compute_dtype=float16', 'train.compute_dtype'),
])
def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path, override, field):
  wd = tmp_path / 'never'
  out = _main(f'--config={SWEEP}:smoke', f'--workdir={wd}', *override.split())
  assert out.returncode == 2, out.stderr
  lines = [line for line in out.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, out.stderr
  assert field in lines[0] and 'Traceback' not in out.stderr
  assert not wd.exists()


def test_public_keys_override_from_command_line(tmp_path):
  wd = tmp_path / 'wd'
  out = _main(f'--config={SWEEP}:smoke', f'--workdir={wd}', '--noprogress',
              '--config.population.widths=(1,3)', '--config.population.seeds=1',
              '--config.tasks.num_tasks=3', '--config.tasks.dims_per_task=2',
              '--config.tasks.zipf=1.5', '--config.tasks.offset=0.5',
              '--config.tasks.decay=(0.5,1.0,2.0)', '--config.tasks.rotate=True',
              '--config.model.activation=relu', '--config.model.init_scale=0.5',
              '--config.optimizer.name=sgd', '--config.optimizer.lr=0.05',
              '--config.train.num_steps=40', '--config.train.batch_size=8',
              '--config.train.steps_per_chunk=20', '--config.train.learned_threshold=0.4')
  assert out.returncode == 0, out.stderr
  assert 'agreement' in out.stdout
  config = json.load(open(wd / 'config.json'))
  assert config['tasks']['decay'] == [0.5, 1.0, 2.0] and config['optimizer']['name'] == 'sgd'
  summary = json.load(open(wd / 'summary.json'))
  assert [m['width'] for m in summary['members']] == [1, 3]
  assert len(summary['tasks']) == 3 and summary['steps'] == 40
  assert summary['learned_threshold'] == 0.4
  np.testing.assert_allclose([t['frequency'] for t in summary['tasks']],
                             np.array([1.5, 2.5, 3.5]) ** -1.5 / np.sum(
                                 np.array([1.5, 2.5, 3.5]) ** -1.5))
  np.testing.assert_allclose(summary['tasks'][2]['spectrum'], [0.8, 0.2])


def test_mixture_keys_build_the_schedule(tmp_path):
  """configs/sweep.py:smoke has π = (12/25)(1, 1/2, 1/3, 1/4) = (.48, .24, .16, .12), B = 32."""
  from rarelearn.tasks import mixture  # pylint: disable=g-import-not-at-top
  config = configlib.load_config_file(f'{SWEEP}:smoke')
  config.mixture.schedule, config.mixture.factor = 'upweight', 2.0  # r = −1: task 3
  families.validate(config)
  np.testing.assert_allclose(mlp_setup.frequencies(config),
                             [0.48 * 0.76 / 0.88, 0.24 * 0.76 / 0.88, 0.16 * 0.76 / 0.88, 0.24])
  assert mlp_setup.task_schedule(config, mlp_setup.frequencies(config)) is None
  config.mixture.schedule, config.mixture.gap = 'injection', 10
  config.mixture.burst_steps, config.mixture.offset = 2, 5
  families.validate(config)
  freqs = mlp_setup.frequencies(config)
  np.testing.assert_allclose(freqs, [0.48, 0.24, 0.16, 0.12])  # matched: π unchanged
  sched = mlp_setup.task_schedule(config, freqs)
  assert int(sched.burst_total) == 38  # round(10 · 32 · 0.12) = round(38.4)
  assert [int(mixture.rare_count(t, sched)) for t in range(4, 17)] == (
      [0, 19, 19] + [0] * 8 + [19, 19])  # steps 4…16: bursts at 5–6 and 15–16
  summary = rarelearn.train(config, str(tmp_path / 'wd'), progress=False).summary
  np.testing.assert_allclose([t['frequency'] for t in summary['tasks']], freqs)


def _final_loss(config, workdir):
  summary = rarelearn.train(config, workdir, progress=False).summary
  return np.asarray(summary['final']['task_loss']), summary['members']


def _one_width(**mixture):
  """configs/sweep.py:smoke at width 4, one seed, no measurements (they do not change training)."""
  config = configlib.load_config_file(f'{SWEEP}:smoke')
  config.population.widths, config.population.seeds, config.measure.every = (4,), 1, 0
  config.mixture.update(mixture)
  return config


def test_swept_members_equal_standalone_runs(tmp_path):
  """population.sweep: the member with rare_frequency f and lr η ends where a standalone run
  with the explicit frequencies π' (π'_r = f, π'_k = π_k (1 − f)/(1 − π_r), worked by hand from
  π = (.48, .24, .16, .12)) and lr η ends; an injection member with gap G, where a standalone
  run with mixture.gap = G does."""
  config = _one_width()
  config.population.sweep.rare_frequency, config.population.sweep.lr = (0.05, 0.4), (0.01, 0.03)
  losses, members = _final_loss(config, str(tmp_path / 'sweep'))
  assert [(m['rare_frequency'], m['lr']) for m in members] == [
      (0.05, 0.01), (0.05, 0.03), (0.4, 0.01), (0.4, 0.03)]
  base = np.array([0.48, 0.24, 0.16, 0.12])
  for m, member in enumerate(members):
    f = member['rare_frequency']
    solo = _one_width()
    solo.tasks.frequencies = tuple(np.append(base[:3] * (1 - f) / (1 - 0.12), f).tolist())
    solo.optimizer.lr = member['lr']
    solo_loss, _ = _final_loss(solo, str(tmp_path / f'solo{m}'))
    np.testing.assert_allclose(losses[m], solo_loss[0], rtol=1e-5, atol=1e-7)
  assert not np.allclose(losses[0], losses[2], rtol=1e-3)  # the frequency matters

  config = _one_width(schedule='injection', burst_steps=0)
  config.population.sweep.gap = (3, 20)
  losses, members = _final_loss(config, str(tmp_path / 'gaps'))
  for m, member in enumerate(members):
    solo = _one_width(schedule='injection', burst_steps=0, gap=member['gap'])
    solo_loss, _ = _final_loss(solo, str(tmp_path / f'gap{m}'))
    np.testing.assert_allclose(losses[m], solo_loss[0], rtol=1e-5, atol=1e-7)
  assert not np.allclose(losses[0], losses[1], rtol=1e-3)


@pytest.mark.parametrize('override,message', [
    (dict(rare_frequency=(0.5, 1.5)), 'population.sweep.rare_frequency'),
    (dict(rare_frequency=(0.1,), factor=(2.0,)), 'population.sweep.factor'),
    (dict(gap=(10,)), 'population.sweep.gap'),
    (dict(lr=(0.0,)), 'population.sweep.lr')])
def test_bad_sweep_values_are_refused(smoke_config, override, message):
  for key, value in override.items():
    smoke_config.population.sweep[key] = value
  with pytest.raises(configlib.ConfigError, match=message):
    families.validate(smoke_config)


def test_a_diverging_member_is_frozen_and_the_others_are_untouched(tmp_path, capfd):
  """lr 1e12: step 0's update is still finite, step 1's loss is not. That member is recorded in
  summary.json and frozen at its state after step 0 (one step from its initialization, computed
  here unbatched); every other member is bit-identical to a run where the third learning rate
  is a sane one."""
  from rarelearn import inspect
  from rarelearn.population import mlp_training  # pylint: disable=g-import-not-at-top
  runs = {}
  for name, lrs in (('wild', (0.01, 0.03, 1e12)), ('tame', (0.01, 0.03, 0.02))):
    config = configlib.load_config_file(f'{SWEEP}:smoke')
    config.population.sweep.lr, config.measure.every = lrs, 0
    runs[name] = (rarelearn.train(config, str(tmp_path / name), progress=False).summary,
                  inspect.load(str(tmp_path / name)))
  assert 'diverged at step 1; frozen at its last finite state' in capfd.readouterr().err
  (wild, wild_ins), (tame, tame_ins) = runs['wild'], runs['tame']
  wild_members = [m['member'] for m in wild['members'] if m['lr'] == 1e12]
  assert len(wild_members) == 6  # 3 widths × 2 seeds
  assert wild['diverged'] == [{'member': m, 'step': 1} for m in wild_members]
  assert tame['diverged'] == []
  setup = wild_ins.population
  init = vmapped.init(setup.keys['init'], setup.grid, setup.hp)
  batch = mlp_training.batch_at(setup.keys['data'], jnp.int32(0), setup.spec, setup.hp)
  for m in range(len(wild['members'])):
    got = vmapped.select(wild_ins.state.params, m)
    if m in wild_members:
      one = lambda tree, m=m: jax.tree.map(lambda a: a[m], tree)  # pylint: disable=unnecessary-lambda-assignment
      after, _ = mlp_training.train_step(one(init), batch, jnp.int32(0), one(setup.grid.hparams()),
                                         setup.hp)
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(after.params)):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-6)
    else:
      np.testing.assert_array_equal(wild['final']['task_loss'][m], tame['final']['task_loss'][m])
      for a, b in zip(jax.tree.leaves(got),
                      jax.tree.leaves(vmapped.select(tame_ins.state.params, m))):
        np.testing.assert_array_equal(a, b)


def test_tensorboard_events_hold_every_metric(tmp_path, smoke_config):
  """``rarelearn.main --tensorboard`` (``loop.run(tensorboard=True)``): every number of
  metrics.jsonl is in the TensorBoard event files at its step (float32), tagged
  ``<metric>/member_<m>`` or, per task, ``<metric>/task_<t>/member_<m>``; read back here with
  the record framing and the Event protobuf, not with the writer."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  wd = str(tmp_path / 'board')
  pop = families.population(smoke_config)
  loop.run(pop, wd, progress=False, tensorboard=True)
  events, folder = {}, os.path.join(wd, 'tensorboard')
  for name in os.listdir(folder):
    with open(os.path.join(folder, name), 'rb') as f:
      data = f.read()
    at = 0
    while at < len(data):  # a record: length (8 bytes), its CRC (4), the event, its CRC (4)
      (n,) = struct.unpack('<Q', data[at:at + 8])
      event = event_pb2.Event.FromString(data[at + 12:at + 12 + n])
      events.update({(v.tag, event.step): v.simple_value for v in event.summary.value})
      at += 16 + n
  want = {}
  for row in workdir_lib.read_metrics(wd):
    m, step = row['member'], row['step']
    for key, value in row.items():
      if key == 'step' or key in pop.members[m]:
        continue
      if isinstance(value, list):
        want.update({(f'{key}/task_{t}/member_{m}', step): v for t, v in enumerate(value)})
      else:
        want[f'{key}/member_{m}', step] = value
  assert want and events.keys() == want.keys()
  for key, value in want.items():
    assert events[key] == np.float32(value), key
