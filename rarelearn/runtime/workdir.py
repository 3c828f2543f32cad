"""A run's workdir, the same for every family: config.json, metrics.jsonl, checkpoints/,
summary.json, figures/ — atomic files, checks before anything is written, and resume.

- ``config.json``: the resolved config, written once; a different config in an existing
  workdir is refused unless the user asks to overwrite.
- ``metrics.jsonl``: one JSON row per (evaluated step, member); a killed run may leave half a
  line, which is dropped; rows after the checkpoint a run resumes from are dropped too (they
  are written again).
- ``checkpoints/<step>``: orbax (``checkpoint.py``): the population state only — the history
  lives in ``metrics.jsonl``.
- ``summary.json``: members, the ``final`` per-member results, provenance.
"""
from __future__ import annotations

import json
import os
import platform
import shutil

import jax
import numpy as np

from rarelearn.core.configlib import ConfigError
from rarelearn.runtime import checkpoint, hosts

CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = 'config.json', 'metrics.jsonl', 'summary.json'


def prepare(config, workdir: str, overwrite: bool) -> None:
  """Creates the workdir, or checks that an existing one holds the same config: a different
  one is refused (ConfigError) unless ``overwrite``, which empties the workdir. In a
  multi-process run every process checks and process 0 alone writes."""
  wanted = json.loads(config.to_json_best_effort(sort_keys=True))
  path = os.path.join(workdir, CONFIG_FILE)
  existing = None
  if os.path.exists(path):
    with open(path) as f:
      existing = json.load(f)
    if existing != wanted and not overwrite:
      changed = sorted(_diff_keys(existing, wanted))
      raise ConfigError(
          f'workdir {workdir} holds a run with a different config (differs in: '
          f'{", ".join(changed[:5])}); pass --overwrite to replace it, or choose another '
          '--workdir')
  hosts.barrier('rarelearn: workdir checked')  # by all before process 0 changes it
  if existing != wanted and hosts.primary():
    if existing is not None:
      shutil.rmtree(workdir)
    os.makedirs(workdir, exist_ok=True)
    write_atomic(path, json.dumps(wanted, indent=2, sort_keys=True))
  hosts.barrier('rarelearn: workdir prepared')


def check(workdir: str, needed_bytes: int) -> None:
  """Raises ConfigError, before anything is written, if ``workdir`` cannot be created and
  written or its file system has less than ``needed_bytes`` free."""
  existing = os.path.abspath(workdir)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  probe = os.path.join(existing, f'.rarelearn-probe-{os.getpid()}')
  try:
    if not os.path.isdir(existing):
      raise NotADirectoryError(f'{existing} is a file')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'workdir {workdir} cannot be written ({e.strerror or e}); '
                                'choose another --workdir') from None
  if os.path.isdir(workdir):  # a run to resume has written part of it already
    needed_bytes -= sum(os.path.getsize(os.path.join(d, f))
                        for d, _, files in os.walk(workdir) for f in files)
  free = shutil.disk_usage(existing).free
  if free < needed_bytes:
    raise ConfigError(
        f'workdir {workdir}: {free / 2**20:.1f} MiB free but this run writes about '
        f'{needed_bytes / 2**20:.1f} MiB (checkpoints, metrics, measurements); free space or '
        'choose another --workdir')


def _diff_keys(a, b, prefix=''):
  if not (isinstance(a, dict) and isinstance(b, dict)):
    return [prefix.rstrip('.')] if a != b else []
  return [k for key in sorted(set(a) | set(b))
          for k in _diff_keys(a.get(key), b.get(key), f'{prefix}{key}.')]


def _complete_rows(path: str) -> list[str]:
  """The lines of ``metrics.jsonl`` that hold a whole row (a killed run may leave half a line)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [line if line.endswith('\n') else line + '\n' for line in f
            if line.strip().endswith('}')]


def read_metrics(workdir: str) -> list[dict]:
  """The rows of a run's ``metrics.jsonl`` (one per chunk end or measured step and member)."""
  return [json.loads(line) for line in _complete_rows(os.path.join(workdir, METRICS_FILE))]


def write_atomic(path: str, text: str) -> None:
  """Writes ``text`` to ``path`` through a temporary file and a rename: never half a file."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def provenance() -> dict:
  # pylint: disable=g-import-not-at-top,multiple-imports
  import flax, jaxlib, optax, orbax.checkpoint
  import rarelearn
  return {'rarelearn': rarelearn.__version__, 'jax': jax.__version__,
          'jaxlib': jaxlib.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
          'orbax-checkpoint': orbax.checkpoint.__version__, 'numpy': np.__version__,
          'python': platform.python_version()}


def cpu() -> str:
  """The processor's model name, and whether it has AVX-512 (XLA's CPU kernels depend on it)."""
  try:
    with open('/proc/cpuinfo') as f:
      info = f.read()
  except OSError:
    return platform.processor() or platform.machine()
  model = next((l.split(':', 1)[1].strip() for l in info.splitlines()
                if l.startswith('model name')), 'unknown')
  return f'{model}, {"with" if "avx512f" in info else "without"} AVX-512'


def machine() -> str:
  """Where a result was computed: the CPU, its cores, and JAX's devices."""
  kinds = sorted({d.device_kind for d in jax.devices()})
  return (f'{cpu()}; {os.cpu_count()} cores; {jax.device_count()} × {", ".join(kinds)} '
          f'({jax.default_backend()})')


def resume(workdir: str, keep: int, state):
  """(manager, step, state, meta) of the newest readable checkpoint; (…, 0, ``state``, {})
  without one. An unreadable checkpoint (truncated, corrupted) is reported, removed, and the
  one before it tried."""
  mngr = checkpoint.manager(workdir, keep)
  for step in sorted(mngr.all_steps(), reverse=True):
    try:
      restored, meta = checkpoint.restore(mngr, step, state)
    except Exception as e:  # pylint: disable=broad-except
      reason = ' '.join(f'{type(e).__name__}: {e}'.split())[:200]
      hosts.say(f'rarelearn: warning: the checkpoint at step {step} cannot be read '
                f'({reason}); removing it and trying the one before')
      mngr.close()
      if hosts.primary():
        shutil.rmtree(checkpoint.directory(workdir, step), ignore_errors=True)
      hosts.barrier(f'rarelearn: checkpoint {step} removed')
      mngr = checkpoint.manager(workdir, keep)
      continue
    hosts.say(f'rarelearn: resuming {workdir} from step {step}')
    return mngr, int(step), restored, meta
  return mngr, 0, state, {}


def read_summary(workdir: str) -> dict:
  """``summary.json``, in today's schema: a summary written before members were numbered by
  ``member`` (they said ``index``) or before the ladder's said its ``family`` (it said
  ``kind``) reads as one written now."""
  with open(os.path.join(workdir, SUMMARY_FILE)) as f:
    summary = json.load(f)
  for row in summary.get('members', ()):
    if 'index' in row and 'member' not in row:
      row['member'] = row.pop('index')
  if 'family' not in summary and summary.pop('kind', None) is not None:
    summary['family'] = read_config(workdir).family
  return summary


def read_config(workdir: str):
  """The run's config from ``config.json`` (lists where the config file had tuples)."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{workdir} holds no rarelearn run ({CONFIG_FILE} is missing)')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))
