"""Command-line entry: ``python -m rarelearn.main --config=configs/sweep.py[:variant]
[--config.<key>=value …] [--workdir=DIR]``.

Parses flags, validates them and the config (bad input — a key, a value, a ``--distributed``
misconfiguration: one line naming it, exit status 2, nothing written) and trains the config's
``family`` through the one training entry point (``rarelearn.train``: its population through
the one host loop): one workdir format, resume, ``--overwrite``, checkpoints that
``rarelearn.inspect`` opens, and the family's one-line result. Other tools read a config the
same way: ``configlib.from_command_line``.
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from rarelearn import expt, families, training
from rarelearn.core import configlib
from rarelearn.runtime import hosts, loop
from rarelearn.tasks import tokens

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config, e.g. configs/sweep.py or configs/sweep.py:smoke.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output directory (default /tmp/rarelearn/<config name>).')
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace an existing workdir that holds a different config.')
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')
_TENSORBOARD = flags.DEFINE_bool(
    'tensorboard', False, 'Also write the metrics as TensorBoard event files in '
    '<workdir>/tensorboard (pip install -e ".[tensorboard]"; tensorboard --logdir=<workdir>).')
_STOP_DEADLINE = flags.DEFINE_float(
    'stop_deadline_s', loop.STOP_DEADLINE_S, 'With a workdir: after SIGTERM or SIGINT the run '
    'checkpoints and exits within this many seconds (it trains in pieces of a third of it; '
    'under SLURM give --signal=TERM@<at least this>).')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'One of several processes (TPU pod slice, several GPU hosts, SLURM): '
    'join them first (jax.distributed.initialize), so the mesh spans every process\'s devices; '
    'the workdir must be one directory that every process sees.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'With --distributed: host:port of process 0 (detected on TPU '
    'pods and under SLURM when omitted).')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'With --distributed: how many processes (detected when omitted).')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'With --distributed: this process\'s index (detected when omitted).')
_HEARTBEAT = flags.DEFINE_integer(
    'heartbeat_timeout_s', 100, 'With --distributed: a process silent this long ends the run in '
    'every other process with an error.')


def parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    expt.fail('rarelearn', configlib.flag_error(argv, e))


def default_workdir(config_spec: str) -> str:
  path, _, arg = config_spec.partition(':')
  name = os.path.splitext(os.path.basename(path))[0] + (f'_{arg}' if arg else '')
  return os.path.join('/tmp/rarelearn', name)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    expt.fail('rarelearn', f'unexpected arguments: {" ".join(argv[1:])}')
  if _CONFIG.value is None:
    expt.fail('rarelearn', '--config is required, e.g. --config=configs/sweep.py')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  deadline = _STOP_DEADLINE.value
  if not (math.isfinite(deadline) and deadline > 0):
    expt.fail('rarelearn', f'--stop_deadline_s={deadline}: expected a finite number of seconds '
              '> 0')
  if _DISTRIBUTED.value:
    try:
      hosts.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                       _HEARTBEAT.value)
    except ValueError as e:
      expt.fail('rarelearn', e)
  elif any(f.value is not None for f in (_COORDINATOR, _NUM_PROCESSES, _PROCESS_ID)):
    expt.fail('rarelearn', '--coordinator_address, --num_processes and --process_id need '
              '--distributed')
  config = _CONFIG.value
  try:
    families.validate(config)
  except configlib.ConfigError as e:
    expt.fail('rarelearn', str(e))
  except OSError as e:  # config_flags loads the file lazily: a missing file surfaces here
    expt.fail('rarelearn', configlib.flag_error(sys.argv, e))
  workdir = _WORKDIR.value or default_workdir(
      config_flags.get_config_filename(flags.FLAGS['config']))
  if _TENSORBOARD.value and importlib.util.find_spec('tensorboardX') is None:
    expt.fail('rarelearn', '--tensorboard needs tensorboardX: pip install -e ".[tensorboard]"')
  train(config, workdir, progress=_PROGRESS.value, overwrite=_OVERWRITE.value,
        tensorboard=_TENSORBOARD.value, stop_deadline_s=deadline)


def train(config, workdir: str, progress: bool = True, overwrite: bool = False,
          tensorboard: bool = False, stop_deadline_s: float = loop.STOP_DEADLINE_S) -> dict:
  """``rarelearn.train`` as the command line runs it: bad input is one line, exit status 2;
  prints the family's one-line result and returns the summary."""
  try:
    outcome = training.train(config, workdir, overwrite=overwrite, progress=progress,
                             tensorboard=tensorboard, stop_deadline_s=stop_deadline_s)
  except (configlib.ConfigError, tokens.TokenFileError) as e:
    expt.fail('rarelearn', str(e))
  pop, summary = outcome.population, outcome.summary
  if hosts.primary():
    print(f'rarelearn: {pop.description}, {pop.num_steps} steps in '
          f'{summary["wall_time_s"]:.1f} s; {pop.result(summary)}; outputs in {workdir}')
  return summary


def _main(argv: list[str]) -> None:
  try:
    main(argv)
  except loop.Stopped as e:  # everything is written and closed: one process skips the
    if hosts.many():  # interpreter's teardown (about a second) to keep within the deadline
      raise
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(e.code)  # pylint: disable=protected-access


if __name__ == '__main__':
  app.run(_main, flags_parser=parse_flags)
