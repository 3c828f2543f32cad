"""Open a workdir's orbax checkpoints: ``python -m rarelearn.inspect --workdir=W [--step=S]``.

Restores the latest (or ``--step``) checkpoint of a finished or still-running sweep, rebuilds
everything else from the workdir's ``config.json``, re-evaluates every member exactly (closed
form for linear models, the run's own evaluation set otherwise) and prints a members × tasks
table of ℓ_k (``*`` where learned) beside the utility theory's prediction, the run's config and
its provenance. ``--member`` / ``--task`` narrow the table, ``--json`` prints the same numbers as
JSON, ``--plot`` writes the phase diagram and learning curves of that step to
``W/inspect/<step>/``.

A transformer-ladder run (``python -m rarelearn.main --config=configs/olmo_tiny.py``) has one
task, T_CMP or T_ADD: its table has one row per member (rung, size, frequency, seed) with the
test accuracy over the held-out pairs (``*`` where learned), the accuracy and loss on the train
pairs, the test loss and the background loss — no prediction column, the utility theory being
the toy's; ``--plot`` writes the rung × frequency heatmap and the test-accuracy curves.

From a notebook: ``rarelearn.inspect.load(workdir, step=None)`` returns an ``Inspection``
(config, step, all saved steps, the restored population state — for a ladder, one state per
rung — and one result dict per member).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any, Sequence

import jax
import numpy as np

from rarelearn import checkpoint, configlib, families, plots
from rarelearn import workdir as workdir_lib


@dataclasses.dataclass
class Inspection:
  config: Any  # ml_collections.ConfigDict
  step: int
  steps: list[int]  # every checkpointed step
  state: Any  # the population's state (leading member axis; a ladder: {rung name: state})
  meta: dict  # the checkpoint's JSON metadata
  summary: dict  # run.build_summary of this step: members, tasks, final, predicted, agreement
  setup: Any  # run.Setup of an MLP family; None for a ladder run

  @property
  def is_ladder(self) -> bool:
    return self.summary.get('kind') == 'ladder'

  @property
  def num_tasks(self) -> int:
    return 1 if self.is_ladder else len(self.summary['tasks'])

  @property
  def results(self) -> list[dict]:
    """One dict per member: its row (index, width, seed, swept settings), task_loss,
    task_score, learned, predicted_score, predicted_learned (lists over tasks); for a ladder
    its row (member, rung, non_embedding, frequency, gap, seed), ``lm.evaluate``'s numbers
    (test_accuracy, train_accuracy, task_train_loss, task_test_loss, background_loss,
    order_score, fourier_count) and learned."""
    s = self.summary
    if self.is_ladder:
      return [dict(row, **{k: v[m] for k, v in s['final'].items()}, learned=s['learned'][m])
              for m, row in enumerate(s['members'])]
    predicted = s.get('predicted')  # the utility theory's (block regression only)
    return [dict(member, task_loss=s['final']['task_loss'][m],
                 task_score=s['final']['task_score'][m], learned=s['final']['learned'][m],
                 **({'predicted_score': predicted['task_score'][m],
                     'predicted_learned': predicted['learned'][m]} if predicted else {}))
            for m, member in enumerate(s['members'])]


read_config = workdir_lib.read_config


def load(workdir: str, step: int | None = None) -> Inspection:
  """Restores ``step`` (default: the latest) and re-evaluates every member exactly, through the
  family's population (``families.population``): its ``evaluate`` and ``summary``."""
  config = read_config(workdir)
  configlib.validate(config)
  pop = families.population(config)
  step, steps, state, meta = checkpoint.restore_step(workdir, pop.keep_checkpoints, pop.init(),
                                                     step)
  out = jax.device_get(pop.evaluate(pop.place(state)))
  summary = dict(pop.summary(out, state, None, 0.0), steps=step)
  return Inspection(config=config, step=step, steps=steps, state=state, meta=meta,
                    summary=summary, setup=getattr(pop, 'setup', None))


def table(ins: Inspection, members: Sequence[int] | None = None,
          tasks: Sequence[int] | None = None) -> str:
  """Members × tasks: ℓ_k ('*' learned) and, under it, the theory's ℓ*_k ('*' predicted)."""
  res = ins.results
  members = list(range(len(res))) if members is None else list(members)
  tasks = list(range(len(res[0]['task_score']))) if tasks is None else list(tasks)
  settings = [k for k in res[0] if k not in ('index', 'width', 'seed', 'task_loss', 'task_score',
                                              'learned', 'predicted_score', 'predicted_learned')]
  head = ['member', 'width', 'seed', *settings, '']
  lines = ['  '.join(f'{h:>7}' for h in head) + '  ' + ' '.join(f'{f"t{k}":>6}' for k in tasks)]
  for m in members:
    r = res[m]
    left = [str(m), str(r['width']), str(r['seed']), *[f'{r[k]:g}' for k in settings]]
    for label, score, learned in (('ℓ', r['task_score'], r['learned']),
                                  ('ℓ*', r.get('predicted_score'), r.get('predicted_learned'))):
      if score is None:  # no theory prediction (sparse parity)
        continue
      cells = ' '.join(f'{score[k]:5.2f}{"*" if learned[k] else " "}' for k in tasks)
      lines.append('  '.join(f'{c:>7}' for c in left + [label]) + '  ' + cells)
      left = [''] * len(left)
  return '\n'.join(lines)


LADDER_COLUMNS = ('test_accuracy', 'train_accuracy', 'task_train_loss', 'task_test_loss',
                  'background_loss')


def ladder_table(ins: Inspection, members: Sequence[int] | None = None) -> str:
  """One row per ladder member: its rung, size, frequency and seed, then LADDER_COLUMNS
  (test accuracy marked '*' where learned)."""
  res = ins.results
  members = list(range(len(res))) if members is None else list(members)
  head = ['member', 'rung', 'params', 'freq', 'seed', 'test acc', 'train acc', 'train loss',
          'test loss', 'bg loss']
  lines = ['  '.join(f'{h:>10}' for h in head)]
  for m in members:
    r = res[m]
    cells = [str(m), r['rung'], f"{r['non_embedding']:,}", f"{r['frequency']:g}", str(r['seed']),
             f"{r['test_accuracy']:.4f}{'*' if r['learned'] else ' '}",
             *[f'{r[k]:.4f}' for k in LADDER_COLUMNS[1:]]]
    lines.append('  '.join(f'{c:>10}' for c in cells))
  return '\n'.join(lines)


def write_plots(ins: Inspection, workdir: str) -> list[str]:
  """The phase diagram at this step and the learning curves up to it (a ladder: the rung ×
  frequency heatmap of test accuracy and its curves)."""
  out = os.path.join(workdir, 'inspect', str(ins.step))
  os.makedirs(out, exist_ok=True)
  rows = [r for r in workdir_lib.read_metrics(workdir) if r['step'] <= ins.step]
  if ins.is_ladder:
    paths = [os.path.join(out, 'heatmap.png'), os.path.join(out, 'test_accuracy_curves.png')]
    plots.ladder_heatmap(ins.summary, paths[0])
    plots.ladder_curves(ins.summary, rows, paths[1])
    return paths
  paths = [os.path.join(out, 'phase_diagram.png'), os.path.join(out, 'task_curves.png')]
  plots.phase_diagram(ins.summary, paths[0])
  plots.task_curves(ins.summary, rows, paths[1])
  return paths


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m rarelearn.inspect', description=__doc__.split(
      '\n')[0])
  parser.add_argument('--workdir', required=True, help='a rarelearn run directory')
  parser.add_argument('--step', type=int, help='checkpoint step (default: the latest)')
  parser.add_argument('--member', type=int, action='append', help='only this member (repeatable)')
  parser.add_argument('--task', type=int, action='append', help='only this task (repeatable)')
  parser.add_argument('--json', action='store_true', help='print JSON instead of the table')
  parser.add_argument('--plot', action='store_true', help='write figures to W/inspect/<step>/')
  args = parser.parse_args(argv)
  try:
    ins = load(args.workdir, args.step)
    num_members, num_tasks = len(ins.results), ins.num_tasks
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
    out = {'workdir': args.workdir, 'step': ins.step, 'steps': ins.steps,
           **({'task': ins.summary['task'], 'learned_threshold': ins.summary['learned_threshold'],
               'min_learned_frequency_by_rung': ins.summary['min_learned_frequency_by_rung']}
              if ins.is_ladder else {'agreement': ins.summary.get('agreement')}),
           'members': [{**{k: v for k, v in r.items() if not isinstance(v, list)},
                        **{k: [v[t] for t in tasks] for k, v in r.items() if isinstance(v, list)}}
                       for r in (ins.results[m] for m in members)],
           'tasks': tasks, 'config': ins.config.to_dict(), 'versions': _versions(args.workdir)}
    print(json.dumps(out, indent=1))
  elif ins.is_ladder:
    lowest = ', '.join(f'{r} {"never" if f is None else f"{f:g}"}'
                       for r, f in ins.summary['min_learned_frequency_by_rung'].items())
    print(f'{args.workdir}: step {ins.step} (checkpoints at {", ".join(map(str, ins.steps))}), '
          f'{num_members} ladder members, T_{ins.summary["task"].upper()}; lowest frequency '
          f'learned (test accuracy ≥ {ins.summary["learned_threshold"]:g}): {lowest}')
    print(ladder_table(ins, members))
  else:
    agreement = (f'; agreement with the utility theory {ins.summary["agreement"]:.3f}'
                 if 'agreement' in ins.summary else '')
    print(f'{args.workdir}: step {ins.step} (checkpoints at {", ".join(map(str, ins.steps))}), '
          f'{num_members} members × {num_tasks} tasks{agreement}')
    print(table(ins, members, tasks))
    print('config:', json.dumps(ins.config.to_dict(), sort_keys=True))
    print('versions:', json.dumps(_versions(args.workdir)))
  if args.plot:
    for path in write_plots(ins, args.workdir):
      print(f'wrote {path}')
  return 0


def _versions(workdir: str) -> dict:
  """The run's provenance from summary.json; the current environment's for a running sweep."""
  path = os.path.join(workdir, workdir_lib.SUMMARY_FILE)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f).get('versions', {})
  return {'current_environment': workdir_lib.provenance()}


if __name__ == '__main__':
  sys.exit(main())
