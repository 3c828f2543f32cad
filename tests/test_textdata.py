"""rarelearn.textdata: text files → token file, checked against the tokenizer it saves."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tokenizers

from rarelearn import textdata
from rarelearn.tasks import tokens as tk

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [
    'the cat sat on the mat.\nthe dog sat on the log.\n\n' * 20,
    'Ünïcödé, 日本語 and tabs\tand  double  spaces\r\nend without a newline',
    'a literal <|endoftext|> inside a document is text, not a boundary ' * 5,
    'x',
]


@pytest.fixture
def corpus(tmp_path):
  folder = tmp_path / 'docs'
  folder.mkdir()
  for i, text in enumerate(DOCS):
    (folder / f'{i:02d}.txt').write_bytes(text.encode('utf-8'))
  (folder / 'ignored.md').write_text('not a .txt file')
  return folder


def test_trained_token_file_matches_its_tokenizer(corpus, tmp_path):
  out = str(tmp_path / 'train.bin')
  s = textdata.write_token_file([str(corpus)], out, train_vocab=300)
  assert s['documents'] == len(DOCS) and s['dtype'] == 'uint16' and s['eod_id'] == tk.EOD
  assert s['tokenizer'] == str(tmp_path / 'train.tokenizer.json') and 257 <= s['vocab'] <= 300
  ids = np.fromfile(out, '<u2')
  tok = tokenizers.Tokenizer.from_file(s['tokenizer'])
  tok.encode_special_tokens = True  # as textdata encodes: the EOD token's text is text
  assert len(ids) == s['tokens'] == sum(len(tok.encode(d).ids) + 1 for d in DOCS)
  assert ids[-1] == tk.EOD and ids.max() < s['vocab']
  docs = np.split(ids, np.flatnonzero(ids == tk.EOD) + 1)[:-1]
  assert [tok.decode(d[:-1].tolist()) for d in docs] == DOCS
  file = tk.TokenFile(out, s['dtype'], s['vocab'], window=17)
  assert len(file) == len(ids) and file.batch(0, 0, 4).shape == (4, 17)
  assert f'--config.model.vocab={s["vocab"]}' in s['overrides']

  again = textdata.write_token_file([str(corpus)], str(tmp_path / 'again.bin'),
                                    tokenizer=s['tokenizer'], dtype='uint32')
  assert again['vocab'] == s['vocab'] and again['tokenizer'] == s['tokenizer']
  np.testing.assert_array_equal(np.fromfile(tmp_path / 'again.bin', '<u4'), ids)
  assert sorted(os.listdir(tmp_path)) == ['again.bin', 'docs', 'train.bin', 'train.tokenizer.json']


def _command(*args, cwd):
  return subprocess.run([sys.executable, '-m', 'rarelearn.textdata', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=60,
                        env={**os.environ, 'PYTHONPATH': REPO})


def test_command_prints_overrides_and_rejects_bad_input(corpus, tmp_path):
  done = _command('--out=tokens.bin', '--train_vocab=300', str(corpus), cwd=tmp_path)
  assert done.returncode == 0, done.stderr
  line, = done.stdout.splitlines()
  assert line.startswith(f'textdata: {len(DOCS)} documents, ')
  assert line.endswith(f'--config.data.background=file --config.data.token_file='
                       f'{tmp_path / "tokens.bin"} --config.data.token_dtype=uint16 '
                       f'--config.model.vocab={line.split("vocab ")[1].split(",")[0]}')
  for bad in (['--train_vocab=100', str(corpus)], ['--tokenizer=missing.json', str(corpus)],
              ['--train_vocab=300'], ['--train_vocab=300', str(corpus / 'ignored.md'), 'nope']):
    done = _command('--out=bad.bin', *bad, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == '', bad
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith('textdata: error: ')
  assert not (tmp_path / 'bad.bin').exists()
