"""Toy models of superposition (Elhage et al. 2022) as a family: configs/superposition.py.

n sparse features x_i ∈ [0, 1]: feature i is present (uniform on [0, 1]) with probability p_i
and 0 otherwise; a model of hidden size m maps them to h = W x (W [m, n]) and back to
x' = ReLU(Wᵀ h + b), trained on the importance-weighted squared error Σ_i I_i (x_i − x'_i)²
(mean over the batch). Feature i is *represented* when ‖W_i‖ (column i of W) exceeds
``train.learned_threshold`` (0.5): the family's tasks are its features, and a feature's share
of the loss, I_i E(x_i − x'_i)², is its task loss (``split_loss``: the loss is their sum).

Members: hidden sizes ``model.hidden`` × densities ``data.density`` × ``model.seeds`` seeds
(hidden-major, then density, then seed). A member's feature probabilities are
p_i = density · (i + 1)^(−``data.zipf``) (zipf 0: every feature 1 − S = density, as Elhage et
al.; zipf > 0: frequencies spread as the paper's tasks are; ``data.upweight_feature``'s times
``data.upweight_factor``, at most 1) and its importances I_i = ``data.importance``^i. Every
member is padded to the largest hidden size: the rows of W beyond its own m are zero and masked
in the forward pass, so their gradient and update are exactly zero and the member trains as a
model of size m alone. W starts normal with std
``model.init_norm`` / √m, so every column starts with ‖W_i‖ ≈ ``init_norm`` (0.25) at every m —
below the 0.5 threshold: a represented feature is one that training grew (Elhage et al.'s code
draws W Xavier-normal over its [models, n, m] tensor, which at n = 20, m = 5 and 10 models gives
columns of about 0.26; Xavier over one [n, m] matrix would start every column at √(2m / (n + m)),
above 0.5 for m ≥ 5 at n = 20). b starts at zero; the optimizer is ``optim``'s (AdamW, lr 1e-3,
constant, as Elhage et al.'s training loop).

Shape letters (rarelearn/__init__.py): B batch, K tasks (here the n features), H the padded
hidden size.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use('Agg')
from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

from rarelearn.core import configlib, optim, rules
from rarelearn.families import base


class Member(NamedTuple):
  """A member's traced values."""
  hidden: jax.Array  # int32: its m
  probs: jax.Array  # [K] float32: each feature's probability of being present
  lr: jax.Array  # float32: peak learning rate


class Params(NamedTuple):
  W: jax.Array  # [H, K]
  b: jax.Array  # [K]


def _probabilities(density: float, zipf: float, n: int) -> np.ndarray:
  return density * np.arange(1, n + 1, dtype=np.float64) ** -zipf


class Family(base.Family):
  """Toy models of superposition: members over hidden sizes × densities × seeds."""
  SCHEMA = {
      'model.features': rules.integer(2), 'model.seeds': rules.integer(),
      'model.hidden': rules.tuple_of(rules.integer(), 'a non-empty tuple of positive '
                                         'integers, one member group per hidden size'),
      'data.density': rules.tuple_of(rules.number(gt=0, le=1), 'a non-empty tuple of '
                                         'probabilities in (0, 1], one member group each'),
      'model.init_norm': rules.number(gt=0), 'data.zipf': rules.number(ge=0),
      'data.upweight_feature': rules.integer(-1, note='-1: none'),
      'data.upweight_factor': rules.number(gt=0),
      'data.importance': rules.number(gt=0, le=1),
      'eval.examples': rules.integer(), 'optimizer.name': rules.one_of(optim.OPTIMIZERS),
      'optimizer.schedule': rules.one_of(optim.SCHEDULES), 'seed': rules.integer(0)}

  def __init__(self, config):
    super().__init__(config)
    self.n, self.batch = int(config.model.features), int(config.train.batch_size)
    self.max_hidden = max(config.model.hidden)
    self.importance = np.asarray(float(config.data.importance) ** np.arange(self.n),
                                 np.float32)

  @classmethod
  def check(cls, config) -> None:
    if config.data.upweight_feature >= config.model.features:
      configlib.fail('data.upweight_feature', config.data.upweight_feature, 'a feature index '
                     f'below model.features={config.model.features}, or -1')
    if max(config.model.hidden) > config.model.features:
      configlib.fail('model.hidden', config.model.hidden, 'hidden sizes of at most '
                     f'model.features={config.model.features}')

  def members(self) -> list[dict]:
    c = self.config
    return [{'hidden': int(m), 'density': float(d), 'seed': s} for m in c.model.hidden
            for d in c.data.density for s in range(c.model.seeds)]

  def member_values(self, rows: list[dict]) -> Member:
    probs = [self._probabilities(r['density']) for r in rows]
    return Member(hidden=jnp.asarray([r['hidden'] for r in rows], jnp.int32),
                  probs=jnp.asarray(np.stack(probs), jnp.float32),
                  lr=jnp.full((len(rows),), self.config.optimizer.lr, jnp.float32))

  def _probabilities(self, density: float) -> np.ndarray:
    """[K] each feature's probability; ``data.upweight_feature``'s times
    ``data.upweight_factor`` (at most 1)."""
    probs = _probabilities(density, self.config.data.zipf, self.n)
    j = self.config.data.upweight_feature
    if j >= 0:
      probs[j] = min(1.0, probs[j] * self.config.data.upweight_factor)
    return probs

  def init(self, key, member: Member) -> Params:
    std = self.config.model.init_norm / jnp.sqrt(member.hidden.astype(jnp.float32))
    w = jax.random.normal(key, (self.max_hidden, self.n)) * std
    return Params(W=w * self._rows(member)[:, None], b=jnp.zeros((self.n,), jnp.float32))

  def _rows(self, member: Member) -> jax.Array:
    """[H] 1 for the member's own hidden units, 0 for the padding."""
    return (jnp.arange(self.max_hidden) < member.hidden).astype(jnp.float32)

  def batch_at(self, key, step, member: Member, size: int | None = None) -> jax.Array:
    """x [B, K]: each feature uniform on [0, 1] where present (probability p_i), else 0."""
    k_value, k_present = jax.random.split(jax.random.fold_in(key, step))
    shape = (size or self.batch, self.n)
    present = jax.random.uniform(k_present, shape) < member.probs
    return jnp.where(present, jax.random.uniform(k_value, shape), 0.0)

  def reconstruct(self, params: Params, x_BxK: jax.Array, member: Member) -> jax.Array:
    w = params.W * self._rows(member)[:, None]
    return jax.nn.relu(x_BxK @ w.T @ w + params.b)

  def split_loss(self, params: Params, x_BxK, member: Member) -> jax.Array:
    """[K] I_i · mean over the batch of (x_i − x'_i)²: the loss is their sum."""
    return self.importance * jnp.mean((x_BxK - self.reconstruct(params, x_BxK, member)) ** 2,
                                      axis=0)

  def evaluate(self, params: Params, member: Member, key) -> dict:
    """``task_loss`` [K] on ``eval.examples`` fresh examples (the same for every evaluation of
    a member) and ``norm`` [K] = ‖W_i‖."""
    x = self.batch_at(key, 0, member, int(self.config.eval.examples))
    return {'task_loss': self.split_loss(params, x, member),
            'norm': jnp.linalg.norm(params.W * self._rows(member)[:, None], axis=0)}

  def optimizer(self) -> optim.Hyper:
    o = self.config.optimizer
    return optim.Hyper(name=o.name, weight_decay=float(o.weight_decay), schedule=o.schedule,
                       warmup_steps=int(o.warmup_steps), num_steps=int(self.config.train.num_steps))

  def lr(self, member: Member):
    return member.lr

  # -- the host's side ----------------------------------------------------------------------
  def learned(self, final: dict) -> np.ndarray:
    """[M, K] represented: ‖W_i‖ > ``train.learned_threshold``."""
    return np.asarray(final['norm']) > self.config.train.learned_threshold

  def tasks(self) -> list[dict]:
    return [{'index': i, 'importance': float(self.importance[i]),
             'relative_frequency': float(_probabilities(1.0, self.config.data.zipf, self.n)[i])}
            for i in range(self.n)]

  def summarize(self, summary: dict) -> dict:
    learned = np.asarray(summary['final']['learned'])
    return {'represented': learned.sum(axis=1).tolist()}

  def result(self, summary: dict) -> str:
    """Features represented per group of members (their description but the seed), mean over
    seeds."""
    groups: dict = {}
    for row, count in zip(summary['members'], summary['represented']):
      key = ', '.join(f'{k} {v:g}' if isinstance(v, float) else f'{k} {v}'
                      for k, v in row.items() if k not in ('member', 'seed'))
      groups.setdefault(key, []).append(count)
    return (f'features represented (‖W_i‖ > {self.config.train.learned_threshold:g}): '
            + '; '.join(f'{key}: {np.mean(c):g}' for key, c in groups.items()))

  def table(self, results: list[dict], members: list[int], tasks: list[int]) -> str:
    """Members (their description) × features: ‖W_i‖ ('*' represented)."""
    head = [k for k, v in results[0].items() if not isinstance(v, list)]
    cell = lambda v: f'{v:g}' if isinstance(v, float) else str(v)
    width = {h: max(7, len(h)) for h in head}
    lines = ['  '.join(f'{h:>{width[h]}}' for h in head) + '  ' + ' '.join(f'{f"f{k}":>5}'
                                                                           for k in tasks)]
    for m in members:
      r = results[m]
      cells = ' '.join(f'{r["norm"][k]:4.2f}{"*" if r["learned"][k] else " "}' for k in tasks)
      lines.append('  '.join(f'{cell(r[h]):>{width[h]}}' for h in head) + '  ' + cells)
    return '\n'.join(lines)

  def flops_per_step(self, row: dict) -> float:
    """Forward (W x and Wᵀ h: 4 B m n) and backward (twice that)."""
    return 12.0 * self.batch * row['hidden'] * self.n

  def num_params(self, row: dict) -> int:
    return row['hidden'] * self.n + self.n

  figure_files = {'feature_norms.png': lambda summary, rows, path: feature_norms(summary, path)}


def feature_norms(summary: dict, path: str) -> None:
  """‖W_i‖ of every member (rows: hidden size, density, seed; columns: features)."""
  norms = np.asarray(summary['final']['norm'])
  labels = [f'm {r["hidden"]}, p {r["density"]:g}, seed {r["seed"]}' for r in summary['members']]
  fig, ax = plt.subplots(figsize=(0.3 * norms.shape[1] + 3, 0.25 * len(labels) + 1.5))
  image = ax.imshow(norms, aspect='auto', cmap='viridis', vmin=0)
  ax.set_yticks(range(len(labels)), labels, fontsize=7)
  ax.set_xlabel('feature i (importance falls with i)')
  fig.colorbar(image, ax=ax, label='‖W_i‖')
  fig.savefig(path, dpi=110, bbox_inches='tight')
  plt.close(fig)
