"""What every experiment script shares: its command line and where its results go.

A script ``experiments/<name>.py`` runs as ``python experiments/<name>.py --workdir=DIR
[--smoke]`` and writes ``DIR/<name>.json`` (the numbers it reports) and ``DIR/<name>.png`` (its
figure). ``--smoke`` is a seconds-long variant for the test suite; its numbers are not the
figure's.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

from rarelearn.core import rules


def parse_args(name: str, doc: str | None, argv: Sequence[str] | None = None,
               config: str | None = None,
               extra: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
  """``--workdir`` (default /tmp/rarelearn/experiments/<name>) and ``--smoke``; with ``config``
  (a default ``path.py``) also ``--config``, which ``--smoke`` sets to ``path.py:smoke``;
  ``extra(parser)`` adds a script's own."""
  parser = Parser(name, prog=f'experiments/{name}.py', description=(doc or '').split('\n')[0])
  parser.add_argument('--workdir', default=os.path.join('/tmp/rarelearn/experiments', name),
                      help='where <name>.json and <name>.png are written')
  parser.add_argument('--smoke', action='store_true',
                      help='a tiny, seconds-long variant (for tests; not the figure)')
  if config is not None:
    parser.add_argument('--config', default=config,
                        help='the config file and variant to run (--smoke: its :smoke variant)')
  if extra is not None:
    extra(parser)
  args = parser.parse_args(argv)
  global _STARTED
  _STARTED = _code_state(name)  # a commit made while the run trains is not the code it ran
  if not args.smoke and _STARTED['criteria_commit'] is None:
    fail(name, f'experiments/{name}.py differs from its last commit: commit its claims before '
         'any run of it, pilots included (its JSON records that commit as criteria_commit)')
  if config is not None and args.smoke:
    args.config = f'{config}:smoke'
  os.makedirs(args.workdir, exist_ok=True)
  return args


def periodic_flags(parser: argparse.ArgumentParser) -> None:
  """--gap and --gap_frequency: G batches' worth of a token task's instances every G batches
  (fig8_retention.py, fig9_gradient_decomposition.py); --seeds."""
  parser.add_argument('--gap', type=integer(), default=100,
                      help='batches between injections (G)')
  parser.add_argument('--gap_frequency', type=number(gt=0, le=1), default=0.25,
                      help='instances per sequence in the long run')
  seeds_flag(parser, 3, 'rung')


def seeds_flag(parser: argparse.ArgumentParser, default: int, per: str) -> None:
  """--seeds: seeds per ``per`` (the claims' intervals are over them)."""
  parser.add_argument('--seeds', type=integer(), default=default, help=f'seeds per {per} (the '
                      'claims\' intervals are over them; --smoke keeps its config\'s)')


def fail(name: str, error: Exception | str) -> None:
  """A bad input (config value, token file): one line on stderr, exit status 2."""
  print(f'{name}: error: {error}', file=sys.stderr)
  sys.exit(2)


class Parser(argparse.ArgumentParser):
  """A tool's flags whose every error is one line (``fail``): a value its ``type`` refuses as
  ``--flag=value: expected …``, any other (a missing or unknown flag) in argparse's words."""

  def __init__(self, name: str, **kwargs):
    super().__init__(**kwargs)
    self.name = name

  def error(self, message: str):
    fail(self.name, message)

  def _get_value(self, action, arg_string):
    try:
      return super()._get_value(action, arg_string)
    except argparse.ArgumentError as e:
      flag = action.option_strings[-1] if action.option_strings else action.dest
      fail(self.name, f'{flag}={arg_string}: {e.message}')


def integer(lo: int = 1, hi: int | None = None, note: str = ''):
  """A flag's ``type``: an integer in [lo, hi] (``rules.integer``)."""
  return _flag_type(rules.integer(lo, hi, note), int)


def number(gt=None, ge=None, lt=None, le=None):
  """A flag's ``type``: a finite number within these bounds (``rules.number``)."""
  return _flag_type(rules.number(gt, ge, lt, le), float)


def _flag_type(rule, parse):
  ok, accepted = rule

  def value(text: str):
    try:
      v = parse(text)
    except ValueError:
      v = None
    if v is None or not ok(v):
      raise argparse.ArgumentTypeError(f'expected {accepted}')
    return v
  return value


def _plain(obj: Any) -> Any:
  if isinstance(obj, dict):
    return {str(k): _plain(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_plain(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return _plain(obj.tolist())
  if isinstance(obj, np.generic):
    return _plain(obj.item())
  if isinstance(obj, float) and not math.isfinite(obj):
    return None  # JSON has no NaN: "not defined" (e.g. no burst to measure retention on)
  return obj


_STARTED: dict | None = None  # the code's state when the script parsed its arguments


def _code_state(name: str | None = None) -> dict:
  """The commit checked out (``run_commit``; also ``commit``, as results made before
  ``run_commit`` name it), the tracked files that differ from it and, for the experiment
  ``name``, ``criteria_commit``: the last commit that changed ``experiments/<name>.py``, whose
  docstring states the claims as run (None when the script differs from it, or is not in git:
  claims not committed before the run)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  git = lambda *a: subprocess.run(['git', '-C', repo, *a], capture_output=True, text=True,
                                  check=False).stdout.strip()
  changed = [line.split(maxsplit=1)[1] for line in
             git('status', '--porcelain', '--untracked-files=no').splitlines()]
  head = git('rev-parse', 'HEAD')
  state = {'commit': head, 'run_commit': head, 'uncommitted_changes_in': changed}
  if name is not None:
    script = f'experiments/{name}.py'
    state['criteria_commit'] = (None if script in changed else
                                git('log', '-1', '--format=%H', '--', script) or None)
  return state


def provenance() -> dict:
  """How a result was made: the command, the code's commit and the tracked files that differed
  from it when the run started (``parse_args``; else now), package versions, the machine and
  the date the result was written."""
  import datetime  # pylint: disable=g-import-not-at-top
  from rarelearn.runtime import workdir as wd  # pylint: disable=g-import-not-at-top
  return {'command': ' '.join(['python', *sys.orig_argv[1:]]), **(_STARTED or _code_state()),
          'versions': wd.provenance(), 'machine': wd.machine(),
          'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}


def write_results(workdir: str, name: str, results: dict, figure=None) -> str:
  """Writes ``<name>.json`` with ``criteria_commit``, ``run_commit`` and its ``provenance`` (and
  ``<name>.png`` from a matplotlib figure); returns the JSON path."""
  path = os.path.join(workdir, f'{name}.json')
  made = provenance()
  commits = {k: made.pop(k) for k in ('criteria_commit', 'run_commit') if k in made}
  with open(path, 'w') as f:
    json.dump(_plain(dict(results, **commits, provenance=made)), f, indent=1)
  if figure is not None:
    figure.savefig(os.path.join(workdir, f'{name}.png'), dpi=120, bbox_inches='tight')
  print(f'{name}: wrote {path}' + (' and .png' if figure is not None else ''))
  return path


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
  """Spearman's rank correlation (ties get their average rank; NaN if either has a NaN or is
  constant): ``scipy.stats.spearmanr``."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  return float(stats.spearmanr(a, b).statistic)


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
  """Least-squares slope of log y against log x."""
  return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def train_token_tasks(spec: str, tasks, progress: bool = True, seeds: int | None = None,
                      workdir: str | None = None, keep_params: bool = False) -> tuple[dict, Any]:
  """A transformer ladder (``rarelearn.train``) on the config file ``spec`` once per token task
  (``task.kind``), with ``seeds`` seeds per setting if given: ({task: its ``ladder.grid`` plus
  ``task`` (the ``TokenTask``) and ``vocab``}, the last task's config). With ``workdir`` each task's
  run lives in ``workdir/ladder_<task>``: a finished run of the same config there is read back
  instead of trained again (so experiments on the same ladder share one run), an unfinished one
  resumed, one of another config replaced."""
  from rarelearn import training  # pylint: disable=g-import-not-at-top
  from rarelearn.core import configlib  # pylint: disable=g-import-not-at-top
  from rarelearn.population import ladder  # pylint: disable=g-import-not-at-top
  outs = {}
  for kind in tasks:
    config = configlib.load_config_file(spec)
    config.task.kind = kind
    if seeds is not None:
      config.model.seeds = seeds
    if progress:
      print(f'rarelearn: T_{kind.upper()} on {spec}', file=sys.stderr)
    where = None if workdir is None else os.path.join(workdir, f'ladder_{kind}')
    outs[kind] = ladder.grid(training.train(config, where, overwrite=True, progress=progress),
                             keep_params)
    outs[kind].update(task=ladder.data_of(config).task, vocab=config.model.vocab)
  return outs, config
