"""``python -m rarelearn.plan``: the memory and time plan of a transformer ladder, made before
anything is allocated (the planner: ``rarelearn/population/planner.py``, whose docstring says
how a rung is placed).

``python -m rarelearn.plan --config=configs/olmo_ladder.py[:variant] [--config.<key>=value …]
--devices=8 --device_memory_gib=80 [--peak_tflops=T] [--mfu=0.4] [--usable=0.9] [--json=PATH]``
plans the config for N devices of G GiB — simulated CPU devices
(``--xla_force_host_platform_device_count``, at most ``MAX_DEVICES``) unless ``--local`` plans
on this machine's — and prints per rung: members per program, the mesh (members × model
shards), the micro-batch, the per-device bytes of the compiled program, model FLOPs per step and
the time per step and for the run; its last line is ``plan: fits`` or ``plan: does not fit: …``
(exit status 0 and 1). The config and its overrides are read as ``rarelearn.main`` reads them
(``configlib.from_command_line``); a bad flag, key or value is one line, exit status 2. The
family must plan (its module's ``PLANNED``). Nothing here imports jax before the simulated
devices are set.
"""
from __future__ import annotations

import os
import sys


MAX_DEVICES = 16_384  # simulated on one machine: far past any pod slice the planner can help


def main(argv=None) -> int:
  from rarelearn import expt  # pylint: disable=g-import-not-at-top
  parser = expt.Parser('plan', prog='python -m rarelearn.plan', description=__doc__.split('\n')[0])
  parser.add_argument('--config', required=True, help='e.g. configs/olmo_ladder.py[:small]; '
                      '--config.<key>=value overrides a field, as for rarelearn.main')
  parser.add_argument('--devices', type=expt.integer(0, MAX_DEVICES), default=0,
                      help='devices to plan for')
  parser.add_argument('--device_memory_gib', type=expt.number(gt=0), required=True)
  parser.add_argument('--peak_tflops', type=expt.number(ge=0), default=0.0,
                      help='per device (bf16); 0: no times')
  parser.add_argument('--mfu', type=expt.number(gt=0, le=1), default=0.4,
                      help='model FLOPs utilization assumed')
  parser.add_argument('--usable', type=expt.number(gt=0, le=1), default=0.9,
                      help='share of memory to plan for')
  parser.add_argument('--local', action='store_true', help="plan on this machine's devices")
  parser.add_argument('--json', default='', help='also write the plan to this file')
  args, overrides = parser.parse_known_args(argv)
  unknown = [a for a in overrides if not a.startswith('--config.')]
  if unknown:
    parser.error(f'unrecognized arguments: {" ".join(unknown)}')
  if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
    parser.error(f'--json={args.json}: no such directory')
  if not args.local:  # simulated CPU devices: set before jax starts
    if args.devices < 1:
      parser.error('--devices=N is required (or --local)')
    os.environ['JAX_PLATFORMS'] = 'cpu'
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               f' --xla_force_host_platform_device_count={args.devices}')
  from rarelearn import families  # pylint: disable=g-import-not-at-top
  from rarelearn.core import configlib  # pylint: disable=g-import-not-at-top
  from rarelearn.population import planner  # pylint: disable=g-import-not-at-top
  try:
    config = configlib.from_command_line([f'--config={args.config}', *overrides])
    families.validate(config)
    if not getattr(families.get(config.family), 'PLANNED', False):
      raise configlib.ConfigError(f'{args.config}: the planner plans transformer ladders '
                                  f'(families with PLANNED; {config.family!r} has none)')
  except configlib.ConfigError as e:
    expt.fail('plan', e)
  plan = planner.make_plan(config, args.device_memory_gib, args.peak_tflops, args.mfu, args.usable)
  print('\n'.join(plan.lines()))
  if args.json:
    path = os.path.abspath(args.json)
    expt.write_results(os.path.dirname(path), os.path.basename(path).removesuffix('.json'),
                       dict(plan.as_dict(), lines=plan.lines(), config=config.to_dict()))
  return 0 if plan.fits else 1


if __name__ == '__main__':
  sys.exit(main())
