"""What the MLP families (block_regression, sparse_parity) share: the fields of their configs
(configs/sweep.py and its kin) and the rules that relate them. A family module adds its task's
own fields and rules (``validate(config, table, check_tasks)``); both are populations of
``run.Sweep``."""
from __future__ import annotations

from rarelearn import configlib, layout, optim, rules, train
from rarelearn.models import mlp
from rarelearn.rules import integer, number, one_of, tuple_of
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
    'optimizer.eps': number(gt=0), 'train.compute_dtype': one_of(train.COMPUTE_DTYPES),
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
    freq = configlib.frequencies(config, setting)[rare]
    total = mixture.burst_total(freq, gap, batch)
    shortest = mixture.shortest_burst(freq, gap, batch)
    if burst and total > burst * batch:
      configlib.fail('mixture.burst_steps', burst, f'enough batches for the {total} rare '
                     f'examples of a burst every {gap} steps (at least {shortest}; 0 chooses '
                     'that)')
    if not burst and shortest > gap:
      configlib.fail('mixture.gap', gap, f'a gap whose {total} rare examples fit in {gap} '
                     'batches')
