"""The one way to train a config, for scripts, notebooks, tests and ``python -m rarelearn.main``:

    import rarelearn
    outcome = rarelearn.train(config, workdir)   # or rarelearn.training.train
    outcome.summary, outcome.history, outcome.state, outcome.population

Every family the same way: the config is checked first (``families.validate``: a
``ConfigError`` of one line before anything compiles or touches the disk), placed by the
planner when it asks (``train.plan``: ``population.planner.planned``), its population built
(``families.population``) and trained by the one host loop (``runtime.loop.run``), which
checkpoints, resumes and writes what ``rarelearn.inspect`` opens when there is a workdir.
"""
from __future__ import annotations

from rarelearn import families
from rarelearn.population import planner
from rarelearn.runtime import loop


def train(config, workdir: str | None = None, *, overwrite: bool = False,
          max_chunks: int | None = None, progress: bool = True, tensorboard: bool = False,
          stop_deadline_s: float = loop.STOP_DEADLINE_S) -> loop.Outcome | None:
  """Trains ``config``'s population to ``train.num_steps``; returns the ``loop.Outcome``
  (``summary``, ``history``, ``state``, ``final``, ``population``), or None when it stopped
  after ``max_chunks`` chunks of this call (calling again resumes).

  ``workdir``: where the run's files live (None: nothing written, nothing resumed); one holding
  another config is refused unless ``overwrite``. ``tensorboard``: event files too.
  ``stop_deadline_s``: how soon SIGTERM/SIGINT must be answered (``loop.run``)."""
  families.validate(config)
  config = planner.planned(config, progress)
  families.check_devices(config)
  pop = families.population(config)
  reason = getattr(pop, 'cannot_checkpoint', None)
  if workdir is not None and reason:
    raise ValueError(reason)
  return loop.run(pop, workdir, overwrite=overwrite, progress=progress, max_chunks=max_chunks,
                  tensorboard=tensorboard, stop_deadline_s=stop_deadline_s)
