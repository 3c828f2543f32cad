"""What the MLP families (block_regression, sparse_parity) share: the fields of their configs
(configs/sweep.py and its kin) and the rules that relate them — a family module adds its task's
own fields and rules (``validate(config, table, check_tasks)``) — and ``Family``, one member of
either written for ``base.Family``. ``rarelearn.main`` trains both as ``mlp_sweep.Sweep``."""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn import families
from rarelearn.core import configlib, optim, rules
from rarelearn.core.rules import integer, number, one_of, tuple_of
from rarelearn.families import base
from rarelearn.models import mlp
from rarelearn.population import layout, mlp_setup, mlp_training
from rarelearn.runtime import workdir as wd
from rarelearn.runtime.history import History
from rarelearn.tasks import mixture

SHARDS_FIELD = 'population.model_shards'  # devices each member is split over (configlib)

TABLE = {
    'population.widths': tuple_of(integer(), 'a non-empty tuple of positive integers, e.g. '
                                  '(8,32,128)'),
    'population.seeds': integer(), 'tasks.num_tasks': integer(), 'tasks.zipf': number(ge=0),
    'tasks.offset': number(ge=0), 'model.activation': one_of(tuple(mlp.ACTIVATIONS)),
    'model.init': one_of(mlp.INITS), 'model.depth': integer(), 'model.init_scale': number(gt=0),
    'optimizer.name': one_of(optim.OPTIMIZERS), 'optimizer.schedule': one_of(optim.SCHEDULES),
    'optimizer.b1': number(ge=0, lt=1), 'optimizer.b2': number(ge=0, lt=1),
    'optimizer.eps': number(gt=0), 'train.compute_dtype': one_of(mlp_training.COMPUTE_DTYPES),
    'eval.examples_per_task': integer(), 'measure.every': integer(0, note='0 = no measurement'),
    'measure.probe_per_task': integer(), 'measure.reference_examples': integer(),
    'mixture.schedule': one_of(('iid', 'upweight', 'injection')), 'mixture.factor': number(gt=0),
    'mixture.gap': integer(), 'mixture.offset': integer(0),
    'population.layout': one_of(layout.LAYOUTS), 'population.bucket_factor': number(ge=1),
    'population.model_shards': integer(), 'seed': (rules.is_int, 'an integer')}


def validate(config, table: dict, check_tasks) -> None:
  """The MLP fields, the family's own ``table``, its ``check_tasks(config, num_tasks)``, then
  the rules that relate fields (frequencies, measurement, the sweep, the mixture, the
  layout)."""
  configlib.check_fields(config, TABLE)
  configlib.check_fields(config, table)
  num_tasks, chunk = config.tasks.num_tasks, config.train.steps_per_chunk
  check_tasks(config, num_tasks)
  freqs = config.tasks.frequencies
  if freqs:
    values = configlib.per_task(config, 'tasks.frequencies', num_tasks, 0.0, strict=True)
    if len(freqs) != num_tasks or abs(sum(values) - 1.0) > 1e-6:
      configlib.fail('tasks.frequencies', freqs, f'{num_tasks} positive numbers summing to 1 '
                     '(or () for Zipf frequencies)')
  every = config.measure.every
  if every and chunk % every:
    configlib.fail('measure.every', every, f'0 or a divisor of train.steps_per_chunk={chunk}')
  for field in ('measure.rare_task', 'mixture.rare_task'):
    value = configlib.get(config, field)
    if not (rules.is_int(value) and -num_tasks <= value < num_tasks):
      configlib.fail(field, value, f'a task index in [-{num_tasks}, {num_tasks - 1}]')
  _validate_sweep(config)
  _validate_mixture(config, num_tasks)
  if config.population.layout == 'packed' and not layout.packable(
      config.model.depth, configlib.shared_data(config)):
    configlib.fail('population.layout', 'packed', "'auto', 'bucketed' or 'padded' here: "
                   'packing needs model.depth=1 and members that share their batches (no '
                   'swept rare_frequency, factor or gap)')


def _validate_sweep(config) -> None:
  sweep = config.population.sweep
  for key, (test, accepted) in configlib.SWEEP.items():
    values = sweep[key]
    if not isinstance(values, (tuple, list)):
      configlib.fail(f'population.sweep.{key}', values, 'a tuple of values, one member group '
                     'per value (() = not swept)')
    if not all(map(test, values)):
      configlib.fail(f'population.sweep.{key}', values, f'values each {accepted}')
  if sweep.rare_frequency and sweep.factor:
    configlib.fail('population.sweep.factor', sweep.factor,
                   '() when population.sweep.rare_frequency is swept (both set π_r)')
  if sweep.gap and config.mixture.schedule != 'injection':
    configlib.fail('population.sweep.gap', sweep.gap, "() unless mixture.schedule='injection'")


def _validate_mixture(config, num_tasks: int) -> None:
  gap, burst = config.mixture.gap, config.mixture.burst_steps
  if not (rules.is_int(burst) and 0 <= burst <= gap):
    configlib.fail('mixture.burst_steps', burst, f'an integer in [0, mixture.gap={gap}] (0: as '
                   'few batches as hold a burst)')
  if config.mixture.schedule != 'injection':
    return
  batch, rare = config.train.batch_size, config.mixture.rare_task % num_tasks
  for setting in configlib.sweep_settings(config):
    gap = setting.get('gap', config.mixture.gap)
    freq = mlp_setup.frequencies(config, setting)[rare]
    total = mixture.burst_total(freq, gap, batch)
    shortest = mixture.shortest_burst(freq, gap, batch)
    if burst and total > burst * batch:
      configlib.fail('mixture.burst_steps', burst, f'enough batches for the {total} rare '
                     f'examples of a burst every {gap} steps (at least {shortest}; 0 chooses '
                     'that)')
    if not burst and shortest > gap:
      configlib.fail('mixture.gap', gap, f'a gap whose {total} rare examples fit in {gap} '
                     'batches')


class Member(NamedTuple):
  """An MLP member's traced values."""
  width: jax.Array  # int32
  lr: jax.Array  # float32: peak learning rate
  log_freqs_K: jax.Array  # [K] log π: its own task frequencies
  mix: mixture.Mixture  # its task schedule (i.i.d. from π: ``mixture.iid``)


class Family(base.Family):
  """An MLP family written for ONE member (``base.Family``): the view of a block-regression or
  sparse-parity member that ``family_population.FamilyPopulation`` trains (the per-task loss
  split on which measurements and interventions work); ``mlp_sweep.Sweep`` stays the population that
  ``rarelearn.main`` runs (without interventions), with its layouts, measurements and sharding.
  The same members, keys,
  batches and initialization as ``mlp_sweep.Sweep``'s (init ``fold_in(root, 0)`` folded with the
  seed, data 1, evaluation 2), so a member trains as ``mlp_sweep.Sweep``'s padded member does, to
  float32 rounding (the loss is summed by task here, averaged over the batch there).
  ``TASK_MODULE``: the family's module (``make_spec``, ``exact_eval``, ``TASK``)."""
  TASK_MODULE = None

  def __init__(self, config):
    super().__init__(config)
    module = self.TASK_MODULE
    self.hp, self.grid = mlp_setup.hyper(config, module), mlp_setup.members(config)
    self.freqs, spectra, basis = module.task_setup(config)
    self.spec = module.make_spec(config, self.freqs, spectra, basis)
    per_task = 1 if module.exact_eval(config) else config.eval.examples_per_task
    self.eval_batch = module.TASK.eval_set(
        jax.random.fold_in(jax.random.key(config.seed), 2), self.spec, per_task)

  def members(self) -> list[dict]:
    return self.grid.rows()

  def member_values(self, rows: list[dict]) -> Member:
    settings = [{k: v for k, v in r.items() if k not in ('member', 'width', 'seed')}
                for r in rows]
    freqs = [mlp_setup.frequencies(self.config, s) for s in settings]
    return Member(width=jnp.asarray([r['width'] for r in rows], jnp.int32),
                  lr=jnp.asarray([float(s.get('lr', self.config.optimizer.lr)) for s in settings],
                                 jnp.float32),
                  log_freqs_K=jnp.log(jnp.asarray(np.stack(freqs), jnp.float32)),
                  mix=mixture.stack([mlp_setup.member_schedule(self.config, f, s)
                                     for f, s in zip(freqs, settings)]))

  def _spec(self, member: Member):
    return self.spec.replace(log_freqs_K=member.log_freqs_K)

  def init(self, key, member: Member):
    return mlp_training.init_state(key, member.width, self.hp, self.grid.max_width).params

  def batch_at(self, key, step, member: Member):
    return mlp_training.batch_at(key, step, self._spec(member), self.hp, member.mix)

  def split_loss(self, params, batch, member: Member) -> jax.Array:
    """[K] Σ over the batch's examples of task k of their loss, over the batch size: the
    training loss (``mlp_training.prediction_loss``) is their sum."""
    p, x = mlp_training.in_compute_dtype(params, batch.x, self.hp.compute_dtype)
    mask = mlp.mask_of(params, member.width).astype(x.dtype)
    pred = mlp.apply(p, x, mask, self.hp.activation).astype(jnp.float32)
    if self.hp.loss == 'cross_entropy':
      loss_B = -jnp.take_along_axis(jax.nn.log_softmax(pred), batch.y[:, None], axis=-1)[:, 0]
    else:
      loss_B = jnp.sum((pred - batch.y) ** 2, axis=-1)
    return jax.ops.segment_sum(loss_B, batch.task_id,
                               num_segments=self.spec.num_tasks) / batch.x.shape[0]

  def evaluate(self, params, member: Member, key) -> dict:
    """``task_loss`` [K]: ``mlp_training.task_losses`` on the run's evaluation set (exact where the
    family has a closed form)."""
    hparams = mlp_training.MemberHparams(member.width, member.lr)
    return {'task_loss': mlp_training.task_losses(params, hparams,
                                           self._spec(member), self.eval_batch, self.hp)}

  def optimizer(self):
    return self.hp.opt

  def lr(self, member: Member):
    return member.lr

  def tasks(self) -> list[dict]:
    return [{'index': k, 'frequency': float(f)} for k, f in enumerate(self.freqs)]

  def flops_per_step(self, row: dict) -> float:
    hp = self.hp
    return useful_flops_per_step([row['width']], hp.dim, hp.batch_size, hp.depth,
                                 hp.out_dim or None)

  def num_params(self, row: dict) -> int:
    return num_params(row['width'], self.hp)


def num_params(width: int, hp) -> int:
  """Weights and biases of the D → N (→ N …) → out model."""
  out = hp.out_dim or hp.dim
  return width * hp.dim + width + (hp.depth - 1) * (width * width + width) + out * width + out


def useful_flops_per_step(widths, dim: int, batch: int, depth: int,
                          out_dim: int | None = None) -> float:
  """Training FLOPs per step from the true widths: 6·B·(multiply-adds per example), i.e.
  12·B·D·N per member for a one-hidden-layer D → N → D model (D → N → ``out_dim`` if given)."""
  return float(sum(3 * 2 * batch * (dim * n + (depth - 1) * n * n + n * (out_dim or dim))
                   for n in widths))


def lever_records(workdir: str, config) -> tuple[list[dict], dict]:
  """``rarelearn.lever``'s records of a finished run (``lever.grid.read``): the rare task over a
  swept frequency, or every task at its own; the utility theory's config where the family has
  one (``HAS_THEORY``)."""
  summary = wd.read_summary(workdir)
  members, hp = summary['members'], mlp_setup.hyper(config, families.get(config.family))
  history = History.load(workdir, members)
  score, K = history.array('task_score'), config.tasks.num_tasks
  r, base = config.mixture.rare_task % K, mlp_setup.frequencies(config)
  final_loss = np.asarray(summary['final']['task_loss'], np.float64)
  swept = any(k in m for m in members for k in ('factor', 'rare_frequency'))
  if not swept and len(set(np.round(base, 12))) < K:
    raise ValueError(f'{workdir}: no swept frequency, and tasks share a frequency: the tasks\' '
                     'own frequencies cannot be the frequency axis (sweep population.sweep.'
                     'factor or rare_frequency of one task)')
  others = np.arange(K) != r
  records = []
  for m in members:
    pi, w, idx = mlp_setup.frequencies(config, m), m['width'], m['member']
    common = dict(size=float(num_params(w, hp)), label=f'width {w}', seed=m['seed'],
                  flops=useful_flops_per_step([w], hp.dim, hp.batch_size, hp.depth,
                                              hp.out_dim or None))
    for k in ([r] if swept else range(K)):
      other = (float(base[others] @ final_loss[idx][others] / base[others].sum()) if swept
               else math.nan)
      records.append(dict(common, frequency=float(pi[k]), score=score[idx, :, k],
                          other_loss=other, instances=hp.batch_size * float(pi[k])))
  meta = dict(family=families.name_of(config), steps=history.steps('task_score'),
              task=f'task {r}' if swept else 'every task at its own frequency',
              threshold=float(summary['learned_threshold']), size_unit='parameters',
              base_frequency=float(base[r]) if swept else None, train_instances=None,
              theory_config=config if swept and families.get(config.family).HAS_THEORY
              else None, wall_time_s=summary.get('wall_time_s'))
  return records, meta
