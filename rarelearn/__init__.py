"""rarelearn: why larger models learn rare tasks — populations of models, task mixtures, theory.

Shape letters, one meaning each in every module (array names carry them: ``x_BxD``,
``loss_PxMxK``; a module's docstring lists those it uses):

  B  batch (examples)                   M  members (the population's leading axis)
  D  input dimension (MLP) / d_model    W  padded hidden width (MLP)
  O  outputs of an MLP member           U  packed hidden units (Σ widths)
  K  tasks (subtasks)                   P  evaluations (evaluated steps)
  E  evaluation examples per task       N  model sizes (a frontier's rows)
  F  frequencies (injection settings)   R  rungs of a ladder
  Z  seeds                              J  the largest sparse-parity order (subset size)
  S  sequence length                    V  vocabulary
  H  attention heads                    A  head dimension
  I  transformer MLP hidden width       L  layers
  T  task tokens                        C  classes
"""
__version__ = "0.1.0"


def __getattr__(name: str):
  """``rarelearn.train``: the one training entry point (``rarelearn/training.py``), imported
  when first used so that ``import rarelearn`` stays light."""
  if name == 'train':
    from rarelearn import training  # pylint: disable=g-import-not-at-top
    return training.train
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
