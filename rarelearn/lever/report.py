"""The lever's report: its tables as text lines (``report``) and its figure — the frontier per
seed with the power law and its prediction band (``frontier_panel``), both routes' FLOPs per
size (``route_panel``)."""
from __future__ import annotations

import math

import numpy as np

from rarelearn.lever.power_law import predict


def _fmt(v, spec='.3g') -> str:
  return '—' if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def report(res: dict) -> list[str]:
  """The tables as text lines."""
  lines = [f'{res["family"]}, {res["task"]}: {len(res["sizes"])} sizes × '
           f'{len(res["frequencies"])} frequencies × {len(res["seeds"])} seeds; learned = '
           f'first sustained crossing of {res["threshold"]:g} (margin {res["margin"]:g})',
           'size (' + res['size_unit'] + ')  lowest learned frequency per seed  '
           'geometric mean [95%]  power law [90%]']
  preds = res['power_law'].get('predictions') or [None] * len(res['sizes'])
  for row, p in zip(res['frontier']['by_size'], preds):
    seeds = ' '.join('never' if math.isinf(h) else (f'≤{h:.3g}' if lo == 0 else f'{h:.3g}')
                     for lo, h in zip(row['low'], row['high']))
    shown = (f'{_fmt(row["geometric_mean"])} [{_fmt(row["ci95"][0])}, '
             f'{_fmt(row["ci95"][1])}]')
    pred = '' if p is None else (f'{p["frequency"]:.3g} [{p["interval"][0]:.3g}, '
                                 f'{p["interval"][1]:.3g}]' + (
                                     ' held out: ' + {True: 'inside', False: 'outside',
                                                      None: 'censored'}[p['inside']]
                                     if p.get('held_out') else ''))
    lines.append(f'{row["label"]:>10} {row["size"]:>10.4g}  {seeds:<24} {shown:<24} {pred}')
  label = dict(zip(res['sizes'], res['labels']))
  lines.append(f'smallest learning size per frequency: in lever.json ({len(res["frequencies"])} '
               'frequencies)' if len(res['frequencies']) > 12 else
               'smallest learning size per frequency: ' + '; '.join(
      f'{row["frequency"]:.3g}: ' + '/'.join('none' if s is None else label[s]
                                             for s in row['smallest_size'])
      for row in res['frontier']['by_frequency']))
  fit = res['power_law'].get('fit')
  if fit:
    lines.append(f'power law f*(N) = a·N^-κ over {fit["sizes"]} sizes: a = {fit["a"]:.3g} '
                 f'[{fit["a_ci95"][0]:.3g}, {fit["a_ci95"][1]:.3g}], κ = {fit["kappa"]:.3g} '
                 f'[{fit["kappa_ci95"][0]:.3g}, {fit["kappa_ci95"][1]:.3g}]'
                 + (' (σ from the grid and the seeds)' if fit['sigma_is_model'] else ''))
  else:
    lines.append(f'power law: {res["power_law"]["error"]}')
  for p in res.get('extrapolation', []):
    lines.append(f'extrapolated: at {p["size"]:.3g} the frontier is {p["frequency"]:.3g} '
                 f'[{p["interval"][0]:.3g}, {p["interval"][1]:.3g}] (90%)')
  if 'theory' in res:
    lines.append(f'utility theory: κ = {res["theory"]["kappa"]:.3g} over the same sizes')
  return lines + _route_lines(res)


def _route_lines(res: dict) -> list[str]:
  if not res['routes']:
    return ['routes: none (no size misses the task at the base frequency, or no base frequency)']
  lines = [f'routes from the base frequency {res["base_frequency"]:.3g} (over seeds: to, steps '
           'and FLOPs geometric mean, Δ other-task loss and passes over the train instances '
           'mean): up-weight | scale → cheaper in seeds']
  for r in res['routes_by_size']:
    text = []
    for key in ('upweight', 'scale'):
      v = r[key]
      text.append('—' if v is None else f'beyond the grid: ≈ {v["predicted_size"]:.3g}'
                  if 'flops' not in v else
                  f'{"/".join(_fmt(t) if key == "upweight" else t for t in v["to"])}, '
                  f'{v["steps"]:.0f} steps, {v["flops"]:.3g} FLOPs, '
                  f'Δ {_fmt(v["other_loss_change"], "+.3g")}, {_fmt(v["repetitions"])} passes')
    cheaper = ', '.join(f'{k} {n}/{r["seeds"]}' for k, n in r['cheaper'].items())
    lines.append(f'{r["label"]:>10}: {text[0]} | {text[1]} → {cheaper}')
  return lines


def figure(res: dict):
  """Left: ``frontier_panel``. Right: both routes' FLOPs per size."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
  frontier_panel(ax, res)
  route_panel(bx, res)
  fig.tight_layout()
  return fig


def frontier_panel(ax, res: dict) -> None:
  """Each seed's frontier cell per size, the power law and its 90% band (held-out sizes
  shaded), the theory's frontier where known."""
  fit = res['power_law'].get('fit')
  for row in res['frontier']['by_size']:
    for z, (lo, hi) in enumerate(zip(row['low'], row['high'])):
      x, style = row['size'] * 1.04 ** (z - 1), dict(color=f'C{z}', alpha=0.7)
      if math.isinf(hi):  # never learned: above the grid
        ax.plot([x], [lo], '^', **style)
      elif lo == 0:  # learned at every frequency: at or below the grid's lowest
        ax.plot([x], [hi], 'v', **style)
      else:
        ax.plot([x, x], [lo, hi], lw=3, **style)
  for z, seed in enumerate(res['seeds']):
    ax.plot([], [], color=f'C{z}', lw=3, label=f'seed {seed}: (next lower, lowest learned]')
  ax.plot([], [], 'k^', ls='none', label='never learned (▼: at every frequency)')
  if fit is not None:
    grid = np.geomspace(res['sizes'][0], res['sizes'][-1] * 4, 60)
    pred = [predict(fit, n) for n in grid]
    ax.plot(grid, [p['frequency'] for p in pred], 'k-', label=f'f* = a·N^-κ, κ = '
            f'{fit["kappa"]:.2f}')
    ax.fill_between(grid, *zip(*[p['interval'] for p in pred]), color='k', alpha=0.12,
                    label='90% prediction')
    for p in res['power_law']['predictions']:
      if p.get('held_out'):
        ax.axvspan(p['size'] / 1.1, p['size'] * 1.1, color='C3', alpha=0.1)
  if 'theory' in res:
    ax.plot(res['sizes'], res['theory']['frontier'], 'k--', label=f'utility theory, κ = '
            f'{res["theory"]["kappa"]:.2f}')
  ax.set(xscale='log', yscale='log', xlabel=f'size ({res["size_unit"]})',
         ylabel='lowest learned frequency', title=f'{res["task"]}: the frontier')
  ax.legend(fontsize=7)


def route_panel(ax, res: dict) -> None:
  for key, marker in (('upweight', 'o-'), ('scale', 's--')):
    per_size = {}
    for r in res['routes']:
      if r[key] is not None and r[key].get('flops'):
        per_size.setdefault(r['size'], []).append(r[key]['flops'])
    if per_size:
      xs = sorted(per_size)
      ax.plot(xs, [float(np.exp(np.mean(np.log(per_size[x])))) for x in xs], marker,
              label=f'{key} (geometric mean over seeds)')
  ax.set(xscale='log', yscale='log', xlabel=f'size ({res["size_unit"]})',
         ylabel='training FLOPs to learned',
         title=f'routes from frequency {_fmt(res["base_frequency"])}')
  if res['routes']:
    ax.legend(fontsize=7)
