"""Block regression (configs/sweep.py and its kin): MLP members over widths × seeds × swept
scalars on K regression tasks, the utility theory's toy — a population of ``mlp_sweep.Sweep``.

What ``mlp_sweep.Sweep`` and ``configlib`` ask of an MLP family module: ``validate``,
``task_setup``,
``make_spec``, ``TASK`` (its task module: sampling and evaluation sets), ``LOSS``,
``input_dim`` and ``OUTPUT_DIM``, ``exact_eval`` (a closed form: one evaluation example per
task), ``describe_tasks`` and ``population``.
"""
from __future__ import annotations

import sys

from rarelearn.core import configlib
from rarelearn.core.rules import FLAG, integer
from rarelearn.families import _mlp
from rarelearn.population import mlp_setup
from rarelearn.tasks import block_regression as TASK  # pylint: disable=invalid-name

LOSS, OUTPUT_DIM = 'squared', 0  # squared error summed over the outputs; outputs = inputs
SHARDS_FIELD = _mlp.SHARDS_FIELD
HAS_THEORY = True  # the utility theory predicts its learned set (rarelearn/analysis/theory.py)
lever_records = _mlp.lever_records


def validate(config) -> None:
  _mlp.validate(config, {'tasks.dims_per_task': integer(), 'tasks.rotate': FLAG},
                lambda c, k: configlib.per_task(c, 'tasks.decay', k, 0.0, strict=False))


def input_dim(config) -> int:
  return config.tasks.num_tasks * config.tasks.dims_per_task


def task_setup(config):
  """(frequencies π [K], spectra λ_k [K × d], basis Q or None for the identity)."""
  t, freqs = config.tasks, mlp_setup.frequencies(config)
  decay = configlib.per_task(config, 'tasks.decay', t.num_tasks, 0.0, strict=False)
  spectra = TASK.power_spectra([t.dims_per_task] * t.num_tasks, decay)
  basis = None
  if t.rotate:
    import jax  # pylint: disable=g-import-not-at-top
    key = jax.random.fold_in(jax.random.key(config.seed), 3)
    basis = TASK.random_orthogonal(key, t.num_tasks * t.dims_per_task)
  return freqs, spectra, basis


def make_spec(config, freqs, spectra, basis):
  return TASK.make_spec(freqs, spectra, basis)


def exact_eval(config) -> bool:
  """A linear model's per-task losses have a closed form (one evaluation example per task)."""
  return config.model.activation == 'linear'


def describe_tasks(config, tasks: list[dict]) -> None:
  """Nothing beyond the spectra and the theory (``mlp_sweep.build_summary``)."""


class Family(_mlp.Family):
  """One member of this family (``base.Family``; ``_mlp.Family``)."""
  TASK_MODULE = sys.modules[__name__]


def population(config):
  from rarelearn.population import mlp_sweep  # pylint: disable=g-import-not-at-top
  return mlp_sweep.Sweep(config, sys.modules[__name__])
