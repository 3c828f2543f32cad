"""More than one process: a TPU pod slice, several GPU hosts, ``python -m rarelearn.main
--distributed``.

JAX runs the same program in every process, each driving its own devices (multi-controller):
the mesh spans every process's devices (``sharding.make_mesh``), every batch comes from
``fold_in(data_key, step)`` inside the jitted programs (the same data everywhere by
construction), orbax checkpoints are saved and restored by all processes together (each writes
its own shards of a workdir they all see), and process 0 alone writes the other files. Results
that live on other processes' devices are copied to every device (``gathered``) before the host
reads them. In one process every function here is the identity (or nothing).
"""
from __future__ import annotations

import functools
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rarelearn.core import rules


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, heartbeat_timeout_s: int = 100) -> None:
  """``jax.distributed.initialize``: arguments left None are detected where JAX can (TPU pods,
  SLURM, Open MPI); a process that stops answering for ``heartbeat_timeout_s`` ends the run in
  every other process with an error. Arguments that cannot be right (``check``), and a failure
  to join, raise ``ValueError`` with one line."""
  check(coordinator_address, num_processes, process_id, heartbeat_timeout_s)
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               heartbeat_timeout_seconds=heartbeat_timeout_s)
  except (RuntimeError, ValueError) as e:
    raise ValueError(f'--distributed: cannot join the processes ({type(e).__name__}: '
                     f'{" ".join(str(e).split())})') from None


def check(coordinator_address: str | None, num_processes: int | None, process_id: int | None,
          heartbeat_timeout_s: int) -> None:
  """Raises ``ValueError`` (one line naming ``rarelearn.main``'s flag) unless the address is
  host:port, there is at least one process, the index is one of them and the heartbeat is at
  least a second (None: detected by JAX)."""
  address = re.fullmatch(r'(\[[0-9a-fA-F:.]+\]|[\w.-]+):(\d+)', coordinator_address or '')
  last = None if num_processes is None else num_processes - 1
  for flag, value, (ok, accepted) in (
      ('--coordinator_address', coordinator_address,
       (lambda v: address is not None and 1 <= int(address.group(2)) <= 65535,
        'host:port with a port in [1, 65535]')),
      ('--num_processes', num_processes, rules.integer(1)),
      ('--process_id', process_id,
       rules.integer(0, last, f'--num_processes={num_processes}' if last is not None else '')),
      ('--heartbeat_timeout_s', heartbeat_timeout_s, rules.integer(1))):
    if value is not None and not ok(value):
      raise ValueError(f'{flag}={value}: expected {accepted}')


def many() -> bool:
  return jax.process_count() > 1


def primary() -> bool:
  """The process that writes files (metrics, summary, figures, config) and prints results."""
  return jax.process_index() == 0


def say(line: str) -> None:
  """``line`` on stderr (from process 0 only)."""
  if primary():
    print(line, file=sys.stderr)


def barrier(name: str) -> None:
  """Every process waits here until all have arrived (after process 0 wrote something)."""
  if many():
    multihost_utils.sync_global_devices(name)


def _everywhere(a):
  """Where a copy of ``a`` on every device goes (None: ``a`` is readable here already)."""
  if not isinstance(a, jax.Array) or a.is_fully_addressable or a.is_fully_replicated:
    return None
  if not isinstance(a.sharding, NamedSharding):
    raise TypeError(f'cannot gather an array placed by {a.sharding}')
  return NamedSharding(a.sharding.mesh, P())


def gathered(tree):
  """``tree`` with every array readable by this process (``jax.device_get``): arrays split over
  other processes' devices are copied to all devices, in one program that is dispatched, not
  awaited."""
  if not many():
    return tree
  leaves, treedef = jax.tree.flatten(tree)
  where = [_everywhere(a) for a in leaves]
  moved = [i for i, w in enumerate(where) if w is not None]
  if not moved:
    return tree
  copies = _copy(tuple(where[i] for i in moved))(*(leaves[i] for i in moved))
  for i, a in zip(moved, copies):
    leaves[i] = a
  return jax.tree.unflatten(treedef, leaves)


@functools.cache
def _copy(shardings: tuple):
  return jax.jit(lambda *a: a, out_shardings=shardings)


def fetch(tree):
  """``tree`` on the host (numpy), wherever its arrays live."""
  return jax.device_get(gathered(tree))


@functools.cache
def _all_devices() -> Mesh:
  return Mesh(np.asarray(jax.devices()), ('devices',))


def agreed_max(values) -> np.ndarray:
  """The elementwise maximum of the int vector ``values`` over every process — the same answer
  in all (every process waits for the others here); in one process ``values`` itself."""
  values = np.asarray(values, np.int32)
  if not many():
    return values
  mesh = _all_devices()
  local = np.broadcast_to(values, (jax.local_device_count(), values.size))
  votes = jax.make_array_from_process_local_data(NamedSharding(mesh, P('devices')), local)
  return np.asarray(jax.device_get(_copy_max(NamedSharding(mesh, P()))(votes)))


@functools.cache
def _copy_max(sharding):
  return jax.jit(lambda a: jnp.max(a, axis=0), out_shardings=sharding)
