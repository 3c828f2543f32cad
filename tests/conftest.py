import atexit
import os
import shutil
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(REPO, 'configs', 'sweep.py')

# One XLA compilation cache for the whole test run: the pytest workers and every subprocess a
# test starts (the command line, a killed and resumed run, 4 simulated devices) inherit it, so a
# program compiled once is loaded, not compiled again (the suite spends most of its time
# compiling; a ladder smoke run in a fresh process, with and without the cache:
# docs/results/xla_cache_2026-11-30.json). The executable is the same, so are the numbers. Set
# here, before any test imports jax; a fresh directory per run, removed at the end.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix='rarelearn-test-xla-cache-')
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ.update(JAX_COMPILATION_CACHE_DIR=_CACHE,
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')

# The suite compiles with LLVM's optimizations off and with XLA's CPU fusion emitters off (the
# older elemental emitter compiles the same fused program in less than half the time): it
# compiles many small programs and runs them briefly. On the 2-core CPU the suite took 835 s at
# the default flags, 449-581 s at -O0, and 680 s at -O0 against 418 s with both flags in one
# session (docs/results/test_suite_2026-12-01.json, with the compile times). The arithmetic is
# IEEE either way (XLA's CPU backend does not enable fast-math), but the kernels differ, so
# results move by float32 rounding (at most 3e-7 against the golden smoke runs) and the golden
# comparisons here allow GOLDEN_ATOL; ``python benchmarks/goldens.py --check`` compares at the
# default flags, bit for bit on the recording CPU. Comparisons within a test (resume, layouts,
# devices, a measurement on or off) run at the same flags on both sides: subprocesses inherit
# them. A value of either flag already in XLA_FLAGS is kept.
for _flag in ('--xla_backend_optimization_level=0', '--xla_cpu_use_fusion_emitters=false'):
  if _flag.split('=')[0] not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + _flag).strip()
GOLDEN_ATOL = 1e-6 if '--xla_backend_optimization_level=0' in os.environ['XLA_FLAGS'] else 0.0


@pytest.fixture
def smoke_config():
  sys.path.insert(0, REPO)
  from rarelearn.core import configlib
  return configlib.load_config_file(SWEEP + ':smoke')


def _goldens():
  sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
  import goldens  # pylint: disable=g-import-not-at-top
  return goldens


def golden_values(name):
  return _goldens().load()['entries'][name]['values']


def assert_golden(name, values, atol=0.0):
  """``values`` equal the golden entry ``name`` of tests/goldens/goldens.json (recorded by
  benchmarks/goldens.py on the code before the one-lifecycle refactor; entries that a change of
  summation order moved name their tolerance there); ``atol``: at least this much anywhere
  (and GOLDEN_ATOL)."""
  bad = _goldens().compare(name, values, atol=max(atol, GOLDEN_ATOL))
  assert not bad, '; '.join(bad)
