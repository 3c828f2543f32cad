"""What a value may be: a rule is (test of the value, what is accepted, in words).

The config's fields (``configlib``) and the tools' flags (``expt.integer``, ``expt.number``)
are checked by the same rules, so a field and a flag of one kind refuse the same values in the
same words. Light: no JAX, so a tool checks its flags before anything starts.
"""
from __future__ import annotations

import math
import numbers


def is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_num(v) -> bool:
  """A finite real number (not a bool)."""
  return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def integer(lo: int = 1, hi: int | None = None, note: str = ''):
  accepted = {1: 'a positive integer', 0: 'an integer >= 0'}.get(lo, f'an integer >= {lo}')
  if hi is not None:
    accepted = f'an integer in [{lo}, {hi}]'
  return (lambda v: is_int(v) and v >= lo and (hi is None or v <= hi),
          accepted + (f' ({note})' if note else ''))


def number(gt=None, ge=None, lt=None, le=None):
  """A finite number within the bounds given."""
  bounds = [(gt, '>', lambda v: v > gt), (ge, '>=', lambda v: v >= ge),
            (lt, '<', lambda v: v < lt), (le, '<=', lambda v: v <= le)]
  bounds = [(b, op, ok) for b, op, ok in bounds if b is not None]
  accepted = ' and '.join(f'{op} {b}' for b, op, _ in bounds)
  return (lambda v: is_num(v) and all(ok(v) for _, _, ok in bounds),
          f'a number {accepted}' if bounds else 'a finite number')


def one_of(choices):
  return (lambda v: v in choices, f'one of {", ".join(map(str, choices))}')


def tuple_of(rule, what: str):
  return (lambda v: isinstance(v, (tuple, list)) and bool(v) and all(map(rule[0], v)), what)


FLAG = (lambda v: isinstance(v, bool), 'True or False')
