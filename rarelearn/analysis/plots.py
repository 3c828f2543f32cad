"""Figures from a run's summary and metric rows (never from live training state)."""
from __future__ import annotations

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def _group(member: dict) -> tuple:
  """A member's group: its width and swept scalars (seeds of a group are averaged)."""
  return (member['width'],) + tuple(sorted((k, v) for k, v in member.items()
                                           if k not in ('member', 'width', 'seed')))


def _label(group: tuple) -> str:
  return ', '.join([str(group[0])] + [f'{k}={v:g}' for k, v in group[1:]])


def _by_group(members, values_MxK):
  """Mean over seeds: (sorted distinct groups, [G × K])."""
  groups = [_group(m) for m in members]
  distinct = sorted(set(groups))
  values_MxK = np.asarray(values_MxK)
  return distinct, np.stack([np.mean(values_MxK[[g == d for g in groups]], axis=0)
                             for d in distinct])


def _save(fig, path: str, dpi: int = 120) -> None:
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  plt.close(fig)


def draw_phase_diagram(ax, summary: dict, extra_boundaries: dict | None = None):
  """Width × task heatmap of ℓ_k (tasks by decreasing frequency) with the predicted boundary.

  ``extra_boundaries`` maps a label to (matplotlib line style, learned [members × tasks]) for
  further predictions to draw beside the utility theory's. Returns the image.
  """
  members = summary['members']
  freqs = np.array([t['frequency'] for t in summary['tasks']])
  order = np.argsort(-freqs, kind='stable')
  distinct, score = _by_group(members, np.asarray(summary['final']['task_score'])[:, order])
  im = ax.imshow(score, aspect='auto', origin='lower', cmap='viridis', vmin=0.0, vmax=1.0,
                 interpolation='nearest')
  boundaries = {'predicted boundary (utility theory)': ('w--', summary['predicted']['learned'])
                } if 'predicted' in summary else {}
  boundaries.update(extra_boundaries or {})
  for label, (style, learned) in boundaries.items():  # per task, the line above which it is learned
    learned_WxK = _by_group(members, np.asarray(learned, float)[:, order])[1]
    first = [int(np.argmax(col >= 0.5)) if np.any(col >= 0.5) else len(col)
             for col in learned_WxK.T]
    xs = [x for k in range(len(first)) for x in (k - 0.5, k + 0.5)]
    ys = [row - 0.5 for row in first for _ in range(2)]
    ax.plot(xs, ys, style, lw=2, label=label)
  ax.set_yticks(range(len(distinct)), [_label(g) for g in distinct])
  ax.set_xticks(range(len(order)), [str(k) for k in order], fontsize=7)
  ax.set_xlabel('task (most frequent left; label = task index)')
  ax.set_ylabel('width N' + (' and swept settings' if len(distinct[0]) > 1 else ''))
  if boundaries:
    ax.legend(loc='lower right', fontsize=8)
  return im


def phase_diagram(summary: dict, rows: list[dict], path: str) -> None:  # rows: unused
  """``draw_phase_diagram`` as a figure of its own, saved to ``path``."""
  num_tasks, num_widths = len(summary['tasks']), len({_group(m) for m in summary['members']})
  fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * num_tasks + 2), 0.45 * num_widths + 2))
  im = draw_phase_diagram(ax, summary)
  agreement = (f' (agreement with theory {summary["agreement"]:.3f})'
               if 'agreement' in summary else '')
  ax.set_title(f'feature presence ℓ_k after {summary["steps"]} steps{agreement}')
  fig.colorbar(im, ax=ax, label='ℓ_k = 1 − L_k')
  _save(fig, path)


def task_curves(summary: dict, rows: list[dict], path: str) -> None:
  """ℓ_k over training, one panel per width (seed 0), tasks coloured by frequency rank."""
  freqs = np.array([t['frequency'] for t in summary['tasks']])
  rank = np.argsort(np.argsort(-freqs, kind='stable'))
  group_of = {m['member']: _group(m) for m in summary['members']}
  groups = sorted(set(group_of.values()))
  cols = min(3, len(groups))
  nrows = -(-len(groups) // cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False,
                           sharex=True, sharey=True)
  cmap = plt.get_cmap('plasma')
  for ax, group in zip(axes.flat, groups):
    mine = [r for r in rows if group_of[r['member']] == group and r['seed'] == 0
            and 'task_score' in r]
    steps = [r['step'] for r in mine]
    score = np.array([r['task_score'] for r in mine])
    for k in range(len(freqs)):
      ax.plot(steps, score[:, k], color=cmap(rank[k] / max(len(freqs) - 1, 1)), lw=1)
    ax.set(title=f'width {_label(group)}', ylim=(-0.05, 1.05))
  for ax in axes.flat[len(groups):]:
    ax.axis('off')
  for ax in axes[-1]:
    ax.set_xlabel('step')
  for ax in axes[:, 0]:
    ax.set_ylabel('ℓ_k')
  fig.suptitle('per-task feature presence (yellow = rarest task)')
  _save(fig, path, dpi=110)


def ladder_heatmap(summary: dict, rows: list[dict], path: str) -> None:  # rows: unused
  """A ladder run's rung × frequency heatmap of final test accuracy (mean over seeds)."""
  by_rung, freqs = summary['test_accuracy_by_rung'], summary['frequencies']
  rungs, grid = list(by_rung), np.array(list(by_rung.values())).T  # [F, R]
  fig, ax = plt.subplots(figsize=(1.2 * len(rungs) + 2.5, 0.6 * len(freqs) + 2))
  im = ax.imshow(grid, vmin=0, vmax=1, cmap='viridis', aspect='auto', origin='lower')
  ax.set_xticks(range(len(rungs)), rungs)
  ax.set_yticks(range(len(freqs)), [f'{f:g}' for f in freqs])
  ax.set(xlabel='rung', ylabel='instances per sequence')
  for (i, j), v in np.ndenumerate(grid):
    ax.text(j, i, f'{v:.2f}', ha='center', va='center', fontsize=8, color='w' if v < 0.5 else 'k')
  ax.set_title(f'T_{summary["task"].upper()} test accuracy at step {summary["steps"]} '
               f'(learned ≥ {summary["learned_threshold"]:g})')
  fig.colorbar(im, ax=ax)
  _save(fig, path)


def ladder_curves(summary: dict, rows: list[dict], path: str) -> None:
  """Test accuracy over training of every ladder member, one panel per rung."""
  members = summary['members']
  rungs = list(dict.fromkeys(m['rung'] for m in members))
  fig, axes = plt.subplots(1, len(rungs), figsize=(3.2 * len(rungs), 3), squeeze=False,
                           sharey=True)
  for ax, rung in zip(axes[0], rungs):
    for m in (m for m in members if m['rung'] == rung):
      pts = sorted((r['step'], r['test_accuracy']) for r in rows if r['member'] == m['member'])
      ax.plot(*zip(*pts), label=f'f={m["frequency"]:g} s{m["seed"]}')
    ax.axhline(summary['learned_threshold'], color='k', lw=0.5, ls='--')
    ax.set(title=rung, xlabel='step')
  axes[0, 0].set_ylabel('test accuracy')
  axes[0, -1].legend(fontsize=7)
  _save(fig, path)
