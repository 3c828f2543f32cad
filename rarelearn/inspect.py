"""Open a workdir's orbax checkpoints: ``python -m rarelearn.inspect --workdir=W [--step=S]``.

Restores the latest (or ``--step``) checkpoint of a finished or still-running sweep, rebuilds
everything else from the workdir's ``config.json``, re-evaluates every member exactly (closed
form for linear models, the run's own evaluation set otherwise) and prints a members × tasks
table of ℓ_k (``*`` where learned) beside the utility theory's prediction, the run's config and
its provenance. ``--member`` / ``--task`` narrow the table, ``--json`` prints the same numbers as
JSON, ``--plot`` writes the phase diagram and learning curves of that step to
``W/inspect/<step>/``.

The table, the headline and the figures are the family's (``Population.table``, ``result``,
``figures``): a transformer-ladder run has one row per member (rung, size, frequency, seed)
with its accuracies and losses (``ladder.COLUMNS``) and no prediction column; ``--plot`` writes
the rung × frequency heatmap and the test-accuracy curves.

From a notebook: ``rarelearn.inspect.load(workdir, step=None)`` returns an ``Inspection``
(config, step, all saved steps, the restored population state — for a ladder, one state per
rung — and one result dict per member).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, Sequence

import jax

from rarelearn import expt, families
from rarelearn.core import configlib
from rarelearn.runtime import checkpoint, workdir as workdir_lib


@dataclasses.dataclass
class Inspection:
  config: Any  # ml_collections.ConfigDict
  step: int
  steps: list[int]  # every checkpointed step
  state: Any  # the population's state (leading member axis; a ladder: {rung name: state})
  meta: dict  # the checkpoint's JSON metadata
  summary: dict  # the population's summary of this step (as summary.json: members, final, …)
  population: Any  # the run's population (``families.population``)

  @property
  def results(self) -> list[dict]:
    """One dict per member: its row and its numbers at this step (``Population.results``)."""
    return self.population.results(self.summary)


def load(workdir: str, step: int | None = None) -> Inspection:
  """Restores ``step`` (default: the latest) and re-evaluates every member exactly, through the
  family's population (``families.population``): its ``evaluate`` and ``summary``."""
  config = workdir_lib.read_config(workdir)
  families.validate(config)
  pop = families.population(config)
  step, steps, state, meta = checkpoint.restore_step(workdir, pop.keep_checkpoints, pop.init(),
                                                     step)
  placed = pop.place(state)
  out = jax.device_get(pop.evaluate(placed))
  summary = dict(pop.summary(out, jax.device_get(pop.diverged(placed)), None, 0.0), steps=step)
  return Inspection(config, step, steps, state, meta, summary, pop)


def table(ins: Inspection, members: Sequence[int] | None = None,
          tasks: Sequence[int] | None = None) -> str:
  """The family's table of the members (default: all) and tasks (default: all)."""
  return ins.population.table(ins.results, list(range(len(ins.results)) if members is None
                                                else members),
                              list(range(ins.population.num_tasks) if tasks is None else tasks))


# summary keys that are not one number or label of the run (shown per member, or elsewhere)
_NOT_HEADLINE = ('members', 'final', 'predicted', 'tasks', 'learned', 'diverged', 'steps',
                 'versions', 'devices')


def main(argv: Sequence[str] | None = None) -> int:
  parser = expt.Parser('rarelearn.inspect', prog='python -m rarelearn.inspect',
                       description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True, help='a rarelearn run directory')
  parser.add_argument('--step', type=expt.integer(0),
                      help='checkpoint step (default: the latest)')
  parser.add_argument('--member', type=expt.integer(0), action='append',
                      help='only this member (repeatable)')
  parser.add_argument('--task', type=expt.integer(0), action='append',
                      help='only this task (repeatable)')
  parser.add_argument('--json', action='store_true', help='print JSON instead of the table')
  parser.add_argument('--plot', action='store_true', help='write figures to W/inspect/<step>/')
  args = parser.parse_args(argv)
  try:
    ins = load(args.workdir, args.step)
    num_members, num_tasks = len(ins.results), ins.population.num_tasks
    for name, values, bound in (('--member', args.member, num_members),
                                ('--task', args.task, num_tasks)):
      bad = [v for v in values or [] if not 0 <= v < bound]
      if bad:
        raise ValueError(f'{name} {bad[0]} is out of range: expected 0…{bound - 1}')
  except (FileNotFoundError, ValueError, configlib.ConfigError) as e:
    print(f'rarelearn.inspect: error: {e}', file=sys.stderr)
    return 2
  members = args.member or list(range(num_members))
  tasks = args.task or list(range(num_tasks))
  if args.json:
    pick = lambda v: [v[t] for t in tasks] if isinstance(v, list) else v
    print(json.dumps({
        'workdir': args.workdir, 'step': ins.step, 'steps': ins.steps,
        **{k: v for k, v in ins.summary.items() if k not in _NOT_HEADLINE},
        'members': [{k: pick(v) for k, v in ins.results[m].items()} for m in members],
        'tasks': tasks, 'config': ins.config.to_dict(), 'versions': _versions(args.workdir)},
        indent=1))
  else:
    print(f'{args.workdir}: step {ins.step} (checkpoints at {", ".join(map(str, ins.steps))}), '
          f'{ins.population.description}; {ins.population.result(ins.summary)}')
    print(table(ins, members, tasks))
    print('config:', json.dumps(ins.config.to_dict(), sort_keys=True))
    print('versions:', json.dumps(_versions(args.workdir)))
  if args.plot:  # the family's figures at this step (metric rows up to it)
    rows = [r for r in workdir_lib.read_metrics(args.workdir) if r['step'] <= ins.step]
    folder = os.path.join(args.workdir, 'inspect', str(ins.step))
    for path in ins.population.figures(ins.summary, rows, folder):
      print(f'wrote {path}')
  return 0


def _versions(workdir: str) -> dict:
  """The run's provenance from summary.json; the current environment's for a running sweep."""
  if os.path.exists(os.path.join(workdir, workdir_lib.SUMMARY_FILE)):
    return workdir_lib.read_summary(workdir).get('versions', {})
  return {'current_environment': workdir_lib.provenance()}


if __name__ == '__main__':
  sys.exit(main())
