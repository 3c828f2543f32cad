"""The "Reproducing the paper" table (docs/experiments.md) and README's "What we find": every
measured number in a row that names its committed result (``docs/results/<file>.json``) is in
that file, at the precision shown. And README stays a front page whose links all resolve.

A measured number is one written with a decimal point or an exponent (0.990, 3.9e-2, −0.10);
integers in a row (widths, counts, "Fig. 2") describe the run. A row that names no committed
result says so ("no committed result yet"), so a reader can tell which numbers are traceable.
A table is found by its section's heading in README.md or any docs/*.md page, wherever it lives.
"""
import json
import os
import re

from conftest import REPO

NUMBER = re.compile(r'(?<![\w.])[−-]?\d*\.\d+(?:e[−-]?\d+)?|(?<![\w.])[−-]?\d+e[−-]?\d+')
SOURCE = re.compile(r'docs/results/[\w.-]+\.json')


README_LINES = 260
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def _pages() -> list[str]:
  """README.md and every docs/*.md page, as paths relative to the repository."""
  docs = os.path.join(REPO, 'docs')
  return ['README.md'] + sorted(f'docs/{f}' for f in os.listdir(docs) if f.endswith('.md'))


def _read(page: str) -> str:
  with open(os.path.join(REPO, page)) as f:
    return f.read()


def _section(heading: str) -> tuple[str, str]:
  """The page holding the section titled ``heading`` (at any level) and the section's text, up
  to the next heading of its level or above; exactly one page may hold it."""
  found = []
  for page in _pages():
    text = _read(page)
    start = re.search(rf'^(#+) {re.escape(heading)}\n', text, re.M)
    if start:
      body = text[start.end():]
      end = re.search(rf'^#{{1,{len(start.group(1))}}} ', body, re.M)
      found.append((page, body[:end.start()] if end else body))
  assert len(found) == 1, f'section "{heading}" in {[page for page, _ in found] or "no page"}'
  return found[0]


def _table_rows() -> list[str]:
  _, section = _section('Reproducing the paper')
  return [line for line in section.splitlines()
          if line.startswith('| ') and not line.startswith('| figure') and '---' not in line]


def _numbers(obj, key=None):
  """Every number of a JSON value, and those written in a claim's ``criterion``."""
  if isinstance(obj, dict):
    for k, v in obj.items():
      yield from _numbers(v, k)
  elif isinstance(obj, list):
    for v in obj:
      yield from _numbers(v, key)
  elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
    yield float(obj)
  elif isinstance(obj, str) and key == 'criterion':  # 'ci95 within (-1, -0.6)'
    yield from (float(t) for t in re.findall(r'-?\d*\.?\d+', obj))


def _shown(token: str, x: float) -> bool:
  """Whether ``x`` written at the precision of ``token`` is ``token``."""
  token = token.replace('−', '-')
  mantissa = token.split('e')[0]
  digits = len(mantissa.split('.')[1]) if '.' in mantissa else 0
  return float(f'{x:.{digits}{"e" if "e" in token else "f"}}') == float(token)


def test_every_number_in_a_row_with_a_source_is_in_that_source():
  rows = _table_rows()
  assert len(rows) >= 10
  for row in rows:
    cells = [c.strip() for c in row.strip('|').split(' | ')]
    shown, sources = cells[-1], SOURCE.findall(cells[-1])
    if not sources:
      assert 'no committed result yet' in shown, f'row names no docs/results JSON: {row[:80]}'
      continue
    values = []
    for source in sources:
      with open(os.path.join(REPO, source)) as f:
        values.extend(_numbers(json.load(f)))
    missing = [t for t in NUMBER.findall(SOURCE.sub('', shown))
               if not any(_shown(t, x) for x in values)]
    assert not missing, f'{cells[0]}: {missing} not in {sources}'


def test_the_number_check_can_fail():
  assert _shown('0.990', 0.98999) and _shown('3.9e-2', 0.0391) and _shown('−0.10', -0.1004)
  assert not _shown('0.990', 0.9894) and not _shown('3.9e-2', 0.0396)
  assert not _shown('−0.10', 0.1) and not _shown('.00', 0.0072) and _shown('.01', 0.0072)
  assert NUMBER.findall('at .39, −0.25…0.23 and 1.4e-3; widths 8…256') == [
      '.39', '−0.25', '0.23', '1.4e-3']


def _entries(made: dict, key: str):
  """A result's entry named ``key``: its claim of that name, else its top-level key."""
  named = [c for c in made.get('claims', []) if c['name'] == key]
  if named:
    return named[0]
  assert key in made, f'{key} is neither a claim nor a key'
  return made[key]


def test_what_we_find_shows_numbers_from_the_entries_its_rows_name():
  """README "What we find": each row names its results (``docs/results/<file>.json``) and, in
  backticks, the claims or keys of them it shows; every measured number of its statistic
  column is in one of those entries (not merely somewhere in the file), and its verdict begins
  with one of the four."""
  page, section = _section('What we find')
  assert page == 'README.md', f'"What we find" moved to {page}: it is the front page\'s'
  rows = [line for line in section.splitlines() if line.startswith('| ')
          and not line.startswith('| the paper') and '---' not in line]
  assert len(rows) >= 12
  verdicts = ('supported', 'not supported', 'inconclusive', 'not testable here')
  for row in rows:
    claim, _, statistic, verdict, source = [c.strip() for c in row.strip('|').split(' | ')]
    assert verdict.startswith(verdicts), (claim, verdict)
    files = SOURCE.findall(source)
    if verdict.startswith('not testable here') and not files:
      continue
    assert files, f'{claim}: names no docs/results JSON'
    keys = [k for k in re.findall(r'`([^`]+)`', source) if '/' not in k]
    assert keys, f'{claim}: names no claim or key of {files}'
    values = []
    for path in files:
      with open(os.path.join(REPO, path)) as f:
        made = json.load(f)
      values.extend(x for k in keys if k in made or any(c['name'] == k for c in
                                                         made.get('claims', []))
                    for x in _numbers(_entries(made, k)))
    missing = [t for t in NUMBER.findall(statistic) if not any(_shown(t, x) for x in values)]
    assert not missing, f'{claim}: {missing} not in {keys} of {files}'


def _slug(heading: str) -> str:
  """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces to '-'."""
  return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def _anchors(page: str) -> set[str]:
  text = re.sub(r'^(    |\t).*$', '', _read(page), flags=re.M)  # indented code is no heading
  anchors, seen = set(), {}
  for heading in re.findall(r'^#+ (.*)$', text, re.M):
    slug = _slug(heading)
    anchors.add(f'{slug}-{seen[slug]}' if slug in seen else slug)
    seen[slug] = seen.get(slug, 0) + 1
  return anchors


def test_readme_is_a_front_page_that_links_every_docs_page():
  readme = _read('README.md')
  lines = readme.count('\n')
  assert lines <= README_LINES, f'README.md has {lines} lines, a front page at most {README_LINES}'
  linked = {os.path.normpath(target.split('#')[0]) for target in LINK.findall(readme)}
  unlinked = [page for page in _pages()[1:] if page not in linked]
  assert not unlinked, f'README.md links no {unlinked}'


def test_every_relative_link_in_readme_and_docs_resolves():
  """Links and images of README.md and docs/*.md, relative to their page: the file exists and,
  for a page with an #anchor, so does a heading with that anchor."""
  checked = 0
  for page in _pages():
    for target in LINK.findall(_read(page)):
      if re.match(r'[a-z][a-z+.-]*:', target):  # https:, mailto:
        continue
      path, _, anchor = target.partition('#')
      path = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
      assert os.path.exists(os.path.join(REPO, path)), f'{page}: {target} does not exist'
      if anchor:
        assert path.endswith('.md') and anchor in _anchors(path), f'{page}: no #{anchor} in {path}'
      checked += 1
  assert checked >= 20


def test_the_link_check_can_fail():
  assert _slug("The ladder at the paper's scale, planned before it runs") == (
      'the-ladder-at-the-papers-scale-planned-before-it-runs')
  assert _slug('Many processes: pod slices, several GPU hosts, SLURM') == (
      'many-processes-pod-slices-several-gpu-hosts-slurm')
  assert _slug('Up-weight or scale?') == 'up-weight-or-scale'
  assert LINK.findall('[a](b.md#c) [0.1, 0.2] (d) ![e](f.png) [g]: h') == ['b.md#c', 'f.png']
