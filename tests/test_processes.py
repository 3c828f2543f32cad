"""Runs over 2 processes on this machine, as a TPU pod slice or 2 GPU hosts run them.

Each process is ``python -m rarelearn.main --distributed`` with 2 simulated CPU devices, the 2
joined by JAX's distributed runtime on a free localhost port and its CPU collectives (gloo):
the mesh spans 4 devices in 2 processes, which is what the one-process tests on 4 simulated
devices cannot show (arrays that no single process can read, files written once, orbax saving
and restoring collectively, a signal reaching one process only, a process that dies). Every
process is bounded in time; a test that fails kills the ones left.
"""
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from rarelearn.core import configlib
from rarelearn.runtime import workdir as workdir_lib
from conftest import REPO, golden_values
from test_run import _assert_identical_runs

SWEEP_STEPS = 600  # long enough for a signal to land while it trains
GOLDEN_ATOL = 1e-6  # 2 processes × 2 devices against the 1-device goldens: float32 rounding


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def _processes(tmp, workdir, spec, *flags, heartbeat=100):
  """The 2 processes of one run (stderr in ``tmp/<workdir name>.<process>.log``); killed on
  the way out if still running."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=2')
  port, procs = _free_port(), []
  try:
    for i in range(2):
      with open(tmp / f'{os.path.basename(workdir)}.{i}.log', 'w') as log:
        procs.append(subprocess.Popen(
            [sys.executable, '-m', 'rarelearn.main', f'--config={spec}', f'--workdir={workdir}',
             '--noprogress', '--distributed', f'--coordinator_address=localhost:{port}',
             '--num_processes=2', f'--process_id={i}', f'--heartbeat_timeout_s={heartbeat}',
             *flags], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    yield procs
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()


def _wait(procs, timeout=240) -> list[int]:
  deadline = time.time() + timeout
  return [p.wait(timeout=max(1.0, deadline - time.time())) for p in procs]


def _log(tmp, workdir, i) -> str:
  return (tmp / f'{os.path.basename(workdir)}.{i}.log').read_text()


def _wait_for_step(workdir, step, procs, timeout=120):
  deadline = time.time() + timeout
  while not any(r['step'] >= step for r in workdir_lib.read_metrics(workdir)):
    assert time.time() < deadline and all(p.poll() is None for p in procs)
    time.sleep(0.02)


def _one_process_four_devices(spec, workdir, *flags):
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=4')
  proc = subprocess.run([sys.executable, '-m', 'rarelearn.main', f'--config={spec}',
                         f'--workdir={workdir}', '--noprogress', *flags], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=240, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_sweep_over_two_processes_stopped_by_a_signal_to_one_resumes_to_one_process(
    tmp_path):
  """The sweep smoke (6 members over 4 devices in 2 processes). SIGTERM to process 1 alone at
  a random moment: both processes finish the same chunk, checkpoint it together and exit with
  143; the same 2 commands resume, and the files written — once, by process 0 — are those of
  the same run uninterrupted in one process on 4 devices, bit for bit (that run is within
  float32 rounding of one device: tests/test_sharding.py)."""
  spec = os.path.join(REPO, 'configs', 'sweep.py:smoke')
  overrides = [f'--config.train.num_steps={SWEEP_STEPS}',
               '--config.train.checkpoint_every_chunks=1000']
  config = configlib.load_config_file(spec)
  config.train.num_steps, config.train.checkpoint_every_chunks = SWEEP_STEPS, 1000
  wd = str(tmp_path / 'cut')
  with _processes(tmp_path, wd, spec, *overrides) as procs:
    _wait_for_step(wd, 20, procs)
    time.sleep(np.random.default_rng(int(time.time())).uniform(0.0, 0.3))
    procs[1].send_signal(signal.SIGTERM)
    _one_process_four_devices(spec, str(tmp_path / 'one'), *overrides)
    assert _wait(procs) == [143, 143], _log(tmp_path, wd, 0)
  stopped = re.findall(r'rarelearn: a signal to another process: stopped at step (\d+) with a '
                       r'checkpoint; the same command resumes', _log(tmp_path, wd, 0))
  steps = [int(s) for s in os.listdir(os.path.join(wd, 'checkpoints')) if s.isdigit()]
  assert len(stopped) == 1 and steps == [int(stopped[0])] and steps[0] < SWEEP_STEPS
  assert not os.path.exists(os.path.join(wd, 'summary.json'))
  with _processes(tmp_path, wd, spec, *overrides) as procs:
    assert _wait(procs) == [0, 0], _log(tmp_path, wd, 1)
  assert f'resuming {wd} from step {steps[0]}' in _log(tmp_path, wd, 0)
  _assert_identical_runs(wd, str(tmp_path / 'one'), config)
  summary = workdir_lib.read_summary(wd)
  assert summary['processes'] == 2 and len(summary['devices']) == 4
  printed = [re.findall(r'rarelearn: 6 members.*outputs in', _log(tmp_path, wd, i))
             for i in range(2)]
  assert [len(p) for p in printed] == [1, 0]  # process 0 alone reports


def test_the_ladder_over_two_processes_equals_one_device(tmp_path):
  """The smoke ladder's first rung (2 members) on a 2 × 2 mesh over the 2 processes: a member
  per process, split FSDP-style over its process's 2 devices. Its final evaluation is the
  one-device golden run's (to float32 rounding), and every metrics row is written once."""
  spec = os.path.join(REPO, 'configs', 'olmo_tiny.py:smoke')
  wd = str(tmp_path / 'ladder')
  first_rung = ["--config.model.names=('d8',)", '--config.model.d_model=(8,)',
                '--config.model.num_heads=(2,)', '--config.model.depth=(1,)',
                '--config.model.mlp=(32,)', '--config.model.model_shards=2']
  with _processes(tmp_path, wd, spec, *first_rung) as procs:
    assert _wait(procs) == [0, 0], _log(tmp_path, wd, 1)
  want = {k: np.asarray(v)[:2] for k, v in golden_values('ladder_smoke').items()}
  final = workdir_lib.read_summary(wd)['final']
  assert final.keys() == want.keys()
  for key, value in want.items():
    np.testing.assert_allclose(final[key], value, rtol=0, atol=GOLDEN_ATOL, err_msg=key)
  config = configlib.load_config_file(spec)
  every = config.train.steps_per_chunk
  rows = workdir_lib.read_metrics(wd)
  assert sorted((r['step'], r['member']) for r in rows) == [
      (s, m) for s in range(0, config.train.num_steps + 1, every) for m in range(2)]


def test_when_a_process_dies_the_other_stops_within_the_heartbeat(tmp_path):
  """SIGKILL to process 1 while they train: process 0 (which hosts the coordination service)
  ends with an error naming the lost task within the heartbeat timeout (5 s here; the default
  is 100 s) instead of waiting forever. (Process 0 dying ends process 1 at once: it loses the
  coordinator; 0.1 s when tried by hand.)"""
  spec = os.path.join(REPO, 'configs', 'sweep.py:smoke')
  wd = str(tmp_path / 'dies')
  with _processes(tmp_path, wd, spec, '--config.train.num_steps=1000000', heartbeat=5) as procs:
    _wait_for_step(wd, 20, procs)
    procs[1].kill()
    t0 = time.time()
    code = procs[0].wait(timeout=60)
    elapsed = time.time() - t0
  assert code != 0 and elapsed < 30, (code, elapsed)
  log = _log(tmp_path, wd, 0)
  assert 'stopped sending heartbeats' in log and 'another task died' in log, log[-2000:]
