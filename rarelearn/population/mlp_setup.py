"""From an MLP family's config to what its population trains (``mlp_sweep.Sweep``,
``families/_mlp.py``): the tasks' frequencies and schedules, the static settings, the members
and the measurement settings. A family hands its module in where its sizes or loss matter."""
from __future__ import annotations

import numpy as np

from rarelearn.core import configlib
from rarelearn.population import measure_step, mlp_training, vmapped
from rarelearn.tasks import block_regression as br, mixture


def frequencies(config, setting: dict | None = None) -> np.ndarray:
  """π [K]: explicit or Zipf; π_r then set by a swept ``rare_frequency`` or ``factor`` or, with
  ``mixture.schedule='upweight'``, by ``mixture.factor`` (the others renormalized). These are
  the long-run training frequencies (injection keeps π_r), used by the theory."""
  t, setting = config.tasks, setting or {}
  if t.frequencies:
    freqs = np.asarray(t.frequencies, np.float64) / np.sum(t.frequencies)
  else:
    freqs = br.zipf_frequencies(t.num_tasks, t.zipf, t.offset)
  rare = config.mixture.rare_task % t.num_tasks
  if 'rare_frequency' in setting:
    return mixture.with_frequency(freqs, rare, float(setting['rare_frequency']))
  if 'factor' in setting:
    return mixture.upweight(freqs, rare, float(setting['factor']))
  if config.mixture.schedule == 'upweight':
    return mixture.upweight(freqs, rare, float(config.mixture.factor))
  return freqs


def hyper(config, family) -> mlp_training.Hyper:
  """An MLP family's static settings; its module (``family``) gives the input and output sizes
  and the loss."""
  return mlp_training.Hyper(
      dim=family.input_dim(config), loss=family.LOSS, out_dim=family.OUTPUT_DIM,
      init=config.model.init,
      depth=config.model.depth, activation=config.model.activation,
      init_scale=float(config.model.init_scale), opt=configlib.optimizer(config),
      batch_size=int(config.train.batch_size), steps_per_chunk=int(config.train.steps_per_chunk),
      compute_dtype=config.train.compute_dtype)


def task_schedule(config, freqs, setting: dict | None = None) -> mixture.Mixture | None:
  """The injection schedule, or None for i.i.d. draws from π (up-weighting is already in π)."""
  m = config.mixture
  if m.schedule != 'injection':
    return None
  gap = int((setting or {}).get('gap', m.gap))
  return mixture.injection(freqs, int(m.rare_task) % len(freqs), gap, int(m.burst_steps),
                           int(config.train.batch_size), int(m.offset))


def member_schedule(config, freqs, setting: dict) -> mixture.Mixture:
  """One member's own task schedule: its injection, or i.i.d. draws from its π
  (``mixture.iid``, which draws exactly the batches a run without a schedule would)."""
  return task_schedule(config, freqs, setting) or mixture.iid(freqs)


def member_schedules(config, members: vmapped.Members
                     ) -> tuple[np.ndarray, mixture.Mixture | None, int | None]:
  """(π of every member [M × K], the task schedule, its member axis) for ``make_chunk``.

  Without a swept frequency or gap every member sees the same batches (axis None; schedule
  None for i.i.d.); otherwise each member carries its own schedule (axis 0; i.i.d. members get
  ``mixture.iid`` of their π, which draws exactly the batches a standalone run would)."""
  freqs_MxK = np.stack([frequencies(config, s) for s in members.settings])
  if configlib.shared_data(config):
    return freqs_MxK, task_schedule(config, freqs_MxK[0]), None
  schedules = [member_schedule(config, f, s) for f, s in zip(freqs_MxK, members.settings)]
  return freqs_MxK, mixture.stack(schedules), 0


def measure_hyper(config) -> measure_step.MeasureHyper:
  m = config.measure
  return measure_step.MeasureHyper(
      every=int(m.every), rare_task=int(m.rare_task) % config.tasks.num_tasks,
      probe_per_task=int(m.probe_per_task), reference_examples=int(m.reference_examples))


def members(config) -> vmapped.Members:
  return vmapped.make_members(config.population.widths, config.population.seeds,
                                 config.optimizer.lr, configlib.sweep_settings(config))
