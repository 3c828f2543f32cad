"""Command-line entry: ``python -m rarelearn.main --config=configs/sweep.py [--workdir=DIR]``.

Parses flags, validates the config (bad input: one line naming the field, exit status 2, nothing
written) and trains the config's ``family`` through the one host loop (``loop.run``):
``block_regression`` and ``sparse_parity`` with ``run.train_and_evaluate`` (configs/sweep.py,
configs/msp.py and their kin), ``token_ladder`` with ``ladder.train`` (configs/olmo_tiny.py,
configs/olmo_ladder.py) — one workdir format, resume, ``--overwrite``, checkpoints that
``rarelearn.inspect`` opens.
"""
from __future__ import annotations

import os
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from rarelearn import configlib, ladder, run
from rarelearn import workdir as workdir_lib

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config, e.g. configs/sweep.py or configs/sweep.py:smoke.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Output directory (default /tmp/rarelearn/<config name>).')
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace an existing workdir that holds a different config.')
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Multi-host (TPU pod, several GPU hosts): call '
    'jax.distributed.initialize() first, so the member axis spans every host\'s devices.')


def _exit_with(message: str) -> None:
  print(f'rarelearn: error: {message}', file=sys.stderr)
  sys.exit(2)


def _config_arg(argv: list[str]) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      return arg.split('=', 1)[1]
    if arg == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _explain(argv: list[str], error: Exception) -> str:
  """Turns a flag-parsing failure into one line that names the config field."""
  spec = _config_arg(argv)
  if spec:
    try:
      base = configlib.load_config_file(spec)
    except configlib.ConfigError as e:
      return str(e)
    except Exception as e:  # pylint: disable=broad-except
      return f'--config={spec}: cannot load ({type(e).__name__}: {e})'.splitlines()[0]
    for arg in argv:
      match = re.match(r'--config\.([\w.]+)', arg)
      if match and (message := configlib.unknown_key_message(base, match.group(1))):
        return message
  text = ' '.join(str(error).split())
  return text.replace('flag --config.', 'config.')


def parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    _exit_with(_explain(argv, e))


def default_workdir(config_spec: str) -> str:
  path, _, arg = config_spec.partition(':')
  name = os.path.splitext(os.path.basename(path))[0] + (f'_{arg}' if arg else '')
  return os.path.join('/tmp/rarelearn', name)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    _exit_with(f'unexpected arguments: {" ".join(argv[1:])}')
  if _CONFIG.value is None:
    _exit_with('--config is required, e.g. --config=configs/sweep.py')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  if _DISTRIBUTED.value:
    import jax  # pylint: disable=g-import-not-at-top
    jax.distributed.initialize()
  config = _CONFIG.value
  try:
    configlib.validate(config)
  except configlib.ConfigError as e:
    _exit_with(str(e))
  except OSError as e:  # config_flags loads the file lazily: a missing file surfaces here
    _exit_with(_explain(sys.argv, e))
  workdir = _WORKDIR.value or default_workdir(
      config_flags.get_config_filename(flags.FLAGS['config']))
  if configlib.is_ladder(config):
    train_ladder(config, workdir, progress=_PROGRESS.value, overwrite=_OVERWRITE.value)
    return
  try:
    summary = run.train_and_evaluate(config, workdir, overwrite=_OVERWRITE.value,
                                     progress=_PROGRESS.value)
  except configlib.ConfigError as e:
    _exit_with(str(e))
  print(f'rarelearn: {len(summary["members"])} members × {len(summary["tasks"])} tasks, '
        f'{summary["steps"]} steps in {summary["wall_time_s"]:.1f} s; {_result(summary)}; '
        f'outputs in {workdir}')


def _result(summary: dict) -> str:
  """The block-regression agreement with the utility theory, or the tasks learned per width."""
  if 'agreement' in summary:
    return (f'agreement with the utility theory {summary["agreement"]:.3f} (max |ℓ − ℓ*| '
            f'{summary["max_abs_score_error"]:.4f})')
  learned = {}
  for member, row in zip(summary['members'], summary['final']['learned']):
    learned.setdefault(member['width'], []).append(sum(row))
  return (f'tasks learned (score ≥ {summary["learned_threshold"]:g}) by width: '
          + ', '.join(f'{w} {sum(n) / len(n):g}' for w, n in learned.items()))


def train_ladder(config, workdir: str, progress: bool = True, overwrite: bool = False) -> None:
  """A transformer ladder × injection frequencies (``rarelearn.ladder``) in ``workdir``; prints
  the lowest frequency each rung learned. Bad input: one line, exit status 2."""
  try:
    out = ladder.train(config, progress=progress, workdir=workdir, overwrite=overwrite)
  except ValueError as e:  # ConfigError included
    _exit_with(str(e))
  lowest = workdir_lib.read_summary(workdir)['min_learned_frequency_by_rung']
  learned = ', '.join(f'{name} {"never" if f is None else f"{f:g}"}' for name, f in lowest.items())
  print(f'rarelearn: T_{config.task.kind.upper()}, {len(out["rungs"])} rungs × '
        f'{len(out["frequencies"])} frequencies × {config.model.seeds} seed(s), '
        f'{config.train.num_steps} steps in {out["wall_time_s"]:.1f} s; lowest frequency '
        f'learned (test accuracy ≥ {config.train.learned_threshold:g}): {learned}; outputs in '
        f'{workdir}')


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
