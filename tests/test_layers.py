"""The package's folders are its layers: every import (at the top of a module or inside a
function) goes to the module's own layer or one below it, no two modules import each other
round a cycle, and outside the family modules the library names no family. Read from the
source with ``ast`` (nothing is imported), so the test takes well under a second."""
import ast
import pathlib
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'rarelearn'
# bottom to top; a module's layer is its folder (a module directly in rarelearn/ is a tool)
LAYERS = ('core', ('tasks', 'models'), 'runtime', 'analysis', 'measure', 'population',
          'families', 'tools')
RANK = {name: i for i, layer in enumerate(LAYERS)
        for name in (layer if isinstance(layer, tuple) else (layer,))}
TOOLS = ('lever',)  # packages of the top layer


def _modules() -> dict[str, pathlib.Path]:
  out = {}
  for path in PACKAGE.rglob('*.py'):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
      parts = parts[:-1]
    out['.'.join(parts)] = path
  return out


MODULES = _modules()


def layer(module: str) -> int:
  """A folder's layer; the package, its top-level modules and ``TOOLS`` are the tools."""
  parts = module.split('.')
  return RANK.get(parts[1], RANK['tools']) if len(parts) > 1 else RANK['tools']


def imports(module: str) -> set[str]:
  """The rarelearn modules ``module`` imports anywhere in its source (not the bare package)."""
  path = MODULES[module]
  package = module if path.name == '__init__.py' else module.rpartition('.')[0]
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1]
                        + ([node.module] if node.module else []))
      names = [f'{base}.{a.name}' if f'{base}.{a.name}' in MODULES else base
               for a in node.names]
    else:
      continue
    found.update(n for n in names if n in MODULES and n not in ('rarelearn', module))
  return found


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer():
  folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / '__init__.py').exists()}
  assert folders <= set(RANK) | set(TOOLS), f'a folder without a layer: {folders - set(RANK)}'


def test_no_import_goes_up_a_layer():
  upward = [f'{m} ({LAYERS[layer(m)]}) imports {d} ({LAYERS[layer(d)]})'
            for m, deps in sorted(GRAPH.items()) for d in sorted(deps) if layer(d) > layer(m)]
  assert not upward, '\n'.join(upward)


def test_no_import_cycle():
  state, stack, cycles = {}, [], []

  def visit(m):
    state[m] = 'open'
    stack.append(m)
    for d in sorted(GRAPH[m]):
      if state.get(d) == 'open':
        cycles.append(' → '.join(stack[stack.index(d):] + [d]))
      elif d not in state:
        visit(d)
    stack.pop()
    state[m] = 'done'

  for m in sorted(GRAPH):
    if m not in state:
      visit(m)
  assert not cycles, '\n'.join(cycles)


def _family_names() -> set[str]:
  return {p.stem for p in (PACKAGE / 'families').glob('*.py')
          if p.stem not in ('__init__', 'base') and not p.stem.startswith('_')}


def test_outside_the_family_modules_the_library_names_no_family():
  names, named = _family_names(), []
  assert len(names) == 4, names
  for module, path in sorted(MODULES.items()):
    if module.startswith('rarelearn.families'):
      continue
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Constant) and node.value in names:
        named.append(f'{module}:{node.lineno}: {node.value!r}')
      elif (isinstance(node, ast.ImportFrom)
            and (node.module or '').startswith('rarelearn.families')):
        hit = [a.name for a in node.names if a.name in names] + (
            [node.module] if node.module.split('.')[-1] in names else [])
        named += [f'{module}:{node.lineno}: imports {h}' for h in hit]
  assert not named, '\n'.join(named)


@pytest.mark.parametrize('case', ['upward', 'cycle'])
def test_the_checks_catch_what_they_forbid(case, monkeypatch):
  """The checks fail on a made-up upward import and a made-up cycle."""
  graph = dict(GRAPH)
  if case == 'upward':
    graph['rarelearn.core.rules'] = GRAPH['rarelearn.core.rules'] | {'rarelearn.main'}
    monkeypatch.setattr(sys.modules[__name__], 'GRAPH', graph)
    with pytest.raises(AssertionError, match='core.rules'):
      test_no_import_goes_up_a_layer()
  else:
    graph['rarelearn.core.optim'] = GRAPH['rarelearn.core.optim'] | {'rarelearn.core.rules'}
    graph['rarelearn.core.rules'] = GRAPH['rarelearn.core.rules'] | {'rarelearn.core.optim'}
    monkeypatch.setattr(sys.modules[__name__], 'GRAPH', graph)
    with pytest.raises(AssertionError, match='optim'):
      test_no_import_cycle()
