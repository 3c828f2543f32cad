"""Every config in configs/ and each of its variants validates and builds its family's population
(nothing compiled or trained), so a config cannot rot unnoticed; an unknown variant is refused.
Every tool's bad flags are one line, exit status 2, nothing written.
The runs themselves: test_run.py (killed and resumed, every family) and the goldens."""
import glob
import os

from absl import flags
import pytest

from rarelearn import bench, expt, families, inspect, lever, main as main_lib, plan, textdata
from rarelearn.core import configlib

from conftest import REPO, SWEEP

VARIANTS = {'bench_large.py': ('', 'smoke'), 'complexity.py': ('', 'smoke'),
            'injection.py': ('', 'smoke'), 'lever.py': ('', 'smoke'),
            'msp.py': ('', 'smoke', 'full', 'complexity'),
            'olmo_ladder.py': ('', 'small', 'smoke', 'colab'),
            'olmo_tiny.py': ('', 'smoke', 'long', 'lever', 'lever_long'),
            'superposition.py': ('', 'zipf', 'smoke'), 'sweep.py': ('', 'smoke')}


def test_every_config_file_is_listed():
  names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'configs', '*.py')))
  assert names == sorted(VARIANTS)


@pytest.mark.parametrize('spec', [f'{name}:{v}' if v else name
                                  for name, variants in VARIANTS.items() for v in variants])
def test_config_validates_and_builds_its_population(spec):
  config = configlib.load_config_file(os.path.join(REPO, 'configs', spec))
  families.validate(config)
  pop = families.population(config)
  assert pop.num_steps == config.train.num_steps and pop.num_steps % pop.steps_per_chunk == 0
  assert len(pop.members) > 0 and pop.description


def test_an_unknown_variant_is_refused():
  with pytest.raises(ValueError, match='unknown config variant'):
    configlib.load_config_file(os.path.join(REPO, 'configs', 'olmo_ladder.py:huge'))


def _main(args):
  try:
    main_lib.main(main_lib.parse_flags(['rarelearn', f'--config={SWEEP}:smoke', '--workdir=w',
                                        *args]))
  finally:
    flags.FLAGS.unparse_flags()


TOOLS = {'plan': plan.main, 'bench': bench.main, 'lever': lambda a: lever.main(['--workdir=w', *a]),
         'rarelearn.inspect': lambda a: inspect.main(['--workdir=w', *a]),
         'textdata': lambda a: textdata.main(['--out=t.bin', *a]), 'rarelearn': _main,
         'fig8_retention': lambda a: expt.parse_args('fig8_retention', None, ['--workdir=w', *a],
                                                     extra=expt.periodic_flags)}
TINY = f'--config={REPO}/configs/olmo_tiny.py:smoke'
PLAN = (TINY, '--devices=2', '--device_memory_gib=1')


@pytest.mark.parametrize('tool,args,line', [
    ('plan', (TINY, '--devices=-1', '--device_memory_gib=1'),
     '--devices=-1: expected an integer in [0, 16384]'),
    ('plan', (TINY, '--devices=2.5', '--device_memory_gib=1'), '--devices=2.5: expected an'),
    ('plan', (TINY, '--device_memory_gib=1'), '--devices=N is required (or --local)'),
    ('plan', (TINY, '--devices=2', '--device_memory_gib=nan'),
     '--device_memory_gib=nan: expected a number > 0'),
    ('plan', (TINY, '--devices=2', '--device_memory_gib=0'), '--device_memory_gib=0: expected'),
    ('plan', (*PLAN, '--peak_tflops=-1'), '--peak_tflops=-1: expected a number >= 0'),
    ('plan', (*PLAN, '--peak_tflops=inf'), '--peak_tflops=inf: expected a number >= 0'),
    ('plan', (*PLAN, '--mfu=0'), '--mfu=0: expected a number > 0 and <= 1'),
    ('plan', (*PLAN, '--usable=1.5'), '--usable=1.5: expected a number > 0 and <= 1'),
    ('plan', (*PLAN, '--json=missing/plan.json'), '--json=missing/plan.json: no such directory'),
    ('plan', (*PLAN, '--nodes=2'), 'unrecognized arguments: --nodes=2'),
    ('plan', (*PLAN, '--config.train.num_stepz=5'), "unknown config key 'train.num_stepz': "
     "train has no 'num_stepz' (accepted: "),
    ('plan', (*PLAN, '--config.train.num_steps=abc'), 'config.train.num_steps=abc: '),
    ('plan', (*PLAN, '--config.train.num_steps=0'),
     'config.train.num_steps=0 is not valid: expected a positive integer'),
    ('bench', ('--repeats=0',), '--repeats=0: expected a positive integer'),
    ('bench', ('--repeats=2.5',), '--repeats=2.5: expected a positive integer'),
    ('bench', ('--workloads=toy,huge',), "unknown workload 'huge'; expected "),
    ('lever', ('--threshold=0',), '--threshold=0: expected a number > 0 and <= 1'),
    ('lever', ('--threshold=nan',), '--threshold=nan: expected a number > 0 and <= 1'),
    ('lever', ('--margin=-0.1',), '--margin=-0.1: expected a number >= 0'),
    ('lever', ('--margin=inf',), '--margin=inf: expected a number >= 0'),
    ('lever', ('--base_frequency=0',), '--base_frequency=0: expected a number > 0 and <= 1'),
    ('lever', ('--base_frequency=2',), '--base_frequency=2: expected a number > 0 and <= 1'),
    ('lever', ('--holdout=-1',), '--holdout=-1: expected an integer >= 0'),
    ('rarelearn.inspect', ('--step=-1',), '--step=-1: expected an integer >= 0'),
    ('rarelearn.inspect', ('--member=-1',), '--member=-1: expected an integer >= 0'),
    ('rarelearn.inspect', ('--task=x',), '--task=x: expected an integer >= 0'),
    ('textdata', ('--train_vocab=x', 'docs'), '--train_vocab=x: expected a positive integer'),
    ('fig8_retention', ('--seeds=0',), '--seeds=0: expected a positive integer'),
    ('fig8_retention', ('--gap=0',), '--gap=0: expected a positive integer'),
    ('fig8_retention', ('--gap_frequency=1.5',), '--gap_frequency=1.5: expected a number > 0 '
     'and <= 1'),
    ('rarelearn', ('--stop_deadline_s=nan',), '--stop_deadline_s=nan: expected a finite number'),
    ('rarelearn', ('--num_processes=2',), '--coordinator_address, --num_processes and '
     '--process_id need --distributed'),
    ('rarelearn', ('--distributed', '--num_processes=0'),
     '--num_processes=0: expected a positive integer'),
    ('rarelearn', ('--distributed', '--num_processes=2', '--process_id=5'),
     '--process_id=5: expected an integer in [0, 1] (--num_processes=2)'),
    ('rarelearn', ('--distributed', '--coordinator_address=localhost', '--num_processes=2',
                   '--process_id=0'), '--coordinator_address=localhost: expected host:port'),
    ('rarelearn', ('--distributed', '--coordinator_address=[::1]:99999'),
     '--coordinator_address=[::1]:99999: expected host:port with a port in [1, 65535]'),
    ('rarelearn', ('--distributed', '--heartbeat_timeout_s=0'),
     '--heartbeat_timeout_s=0: expected a positive integer'),
    ('rarelearn', ('--config.population.widht=(8,)',), "unknown config key 'population.widht'"),
], ids=lambda v: v if isinstance(v, str) and not v.startswith('-') else None)
def test_a_bad_flag_is_one_line_exit_2_and_writes_nothing(tool, args, line, tmp_path,
                                                         monkeypatch, capsys):
  """In-process, each tool's ``main`` as its command line calls it (plan sets the environment
  of the devices it simulates: restored here)."""
  monkeypatch.chdir(tmp_path)
  for var in ('JAX_PLATFORMS', 'XLA_FLAGS'):
    monkeypatch.setenv(var, os.environ.get(var, ''))
  with pytest.raises(SystemExit) as stop:
    TOOLS[tool](list(args))
  assert stop.value.code == 2
  err = capsys.readouterr().err.splitlines()
  assert len(err) == 1 and err[0].startswith(f'{tool}: error: {line}'), err
  assert not os.listdir(tmp_path)
