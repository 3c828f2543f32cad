"""Text files → the token file of the transformer track (``config.data.background='file'``).

The format OLMo's and nanoGPT's data tools write and ``tasks.tokens.TokenFile`` reads: a flat
array of little-endian uint16 (vocabulary ≤ 65,536) or uint32 token ids, no header, documents
concatenated with the end-of-document (EOD) id after each. Command (prints one line that ends
in the config overrides of a run on the file; bad input: one line, exit status 2):

  python -m rarelearn.textdata --out=PATH (--tokenizer=tokenizer.json | --train_vocab=N)
      [--eod_token=<|endoftext|>] [--dtype=auto|uint16|uint32] FILES_OR_DIRS...

Each file is one document (a directory: its ``*.txt`` files, sorted). ``--train_vocab`` trains
a byte-level BPE of ≤ N ids with the EOD token as id 0 (the token tasks' EOD id) and saves
``<out without extension>.tokenizer.json`` for decoding. EOD text inside a file stays text.
Needs Hugging Face tokenizers: ``pip install -e '.[text]'``.
"""
from __future__ import annotations

import glob
import os
import shlex

import numpy as np

from rarelearn import expt
from rarelearn.tasks import tokens as tk

EOD_TOKEN = '<|endoftext|>'
BATCH = 64  # documents per encode_batch call: the corpus is streamed, never held whole


class TextDataError(ValueError):
  """Bad input to the tool; the message is one line."""


def text_files(paths: list[str]) -> list[str]:
  """The input files: each file given, and each directory's ``*.txt`` files, sorted."""
  files = []
  for path in paths:
    files += sorted(glob.glob(os.path.join(path, '*.txt'))) if os.path.isdir(path) else [path]
  if not files:
    raise TextDataError('no text files given (a directory stands for its *.txt files)')
  if not any(os.path.getsize(f) for f in files):
    raise TextDataError(f'no text in the {len(files)} input files')
  return files


def _read(path: str) -> str:
  try:
    with open(path, encoding='utf-8', newline='') as f:
      return f.read()
  except UnicodeDecodeError:
    raise TextDataError(f'{path}: not UTF-8 text') from None


def load_tokenizer(files: list[str], out: str, tokenizer: str | None, train_vocab: int | None,
                   eod_token: str):
  """(tokenizers.Tokenizer, its tokenizer.json): loaded, or trained on ``files`` and saved."""
  try:
    import tokenizers  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise TextDataError("needs Hugging Face tokenizers: pip install -e '.[text]'") from None
  if (tokenizer is None) == (train_vocab is None):
    raise TextDataError('give one of --tokenizer=tokenizer.json or --train_vocab=N')
  if tokenizer is None:
    if train_vocab < 257:
      raise TextDataError(f'--train_vocab={train_vocab}: below 257 (256 bytes and the EOD token)')
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(map(_read, files), vocab_size=train_vocab,
                            special_tokens=[eod_token], show_progress=False)
    tokenizer = os.path.splitext(out)[0] + '.tokenizer.json'
    bpe.save(tokenizer)
  elif not os.path.isfile(tokenizer):
    raise TextDataError(f'--tokenizer={tokenizer}: no such file')
  try:
    tok = tokenizers.Tokenizer.from_file(tokenizer)
  except Exception as e:  # pylint: disable=broad-except
    raise TextDataError(f'--tokenizer={tokenizer}: cannot load ({e})'.splitlines()[0]) from None
  tok.encode_special_tokens = True
  return tok, tokenizer


def write_token_file(paths: list[str], out: str, tokenizer: str | None = None,
                     train_vocab: int | None = None, eod_token: str = EOD_TOKEN,
                     dtype: str = 'auto') -> dict:
  """Tokenizes ``paths`` into the token file ``out`` (temp file, then rename); returns the
  summary: documents, tokens, vocab, dtype, eod_id, tokenizer (its json), out, overrides (of a
  run on the file; ``config.model.vocab`` at least the 101 ids the token tasks need). Bad input:
  ``TextDataError`` or ``OSError``."""
  if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
    raise TextDataError(f'--out={out}: no such directory')
  files = text_files(paths)
  tok, tokenizer = load_tokenizer(files, out, tokenizer, train_vocab, eod_token)
  vocab, eod = tok.get_vocab_size(), tok.token_to_id(eod_token)
  if eod is None:
    raise TextDataError(f'{tokenizer}: no EOD token {eod_token!r} (--eod_token)')
  dtype = ('uint16' if vocab <= 1 << 16 else 'uint32') if dtype == 'auto' else dtype
  if dtype not in tk.TOKEN_DTYPES or vocab > np.iinfo(dtype).max + 1:
    raise TextDataError(f'--dtype={dtype}: not auto or a uint16/uint32 that holds {vocab} ids')
  documents = count = 0
  tmp = f'{out}.{os.getpid()}.tmp'
  try:
    with open(tmp, 'wb') as f:
      for start in range(0, len(files), BATCH):
        texts = [t for t in map(_read, files[start:start + BATCH]) if t]
        for enc in tok.encode_batch(texts, add_special_tokens=False):
          np.asarray(enc.ids + [eod], np.dtype(dtype).newbyteorder('<')).tofile(f)
          documents, count = documents + 1, count + len(enc.ids) + 1
    os.replace(tmp, out)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return dict(documents=documents, tokens=count, vocab=vocab, dtype=dtype, eod_id=eod,
              tokenizer=tokenizer, out=out, overrides=(
                  f'--config.data.background=file --config.data.token_file='
                  f'{shlex.quote(os.path.abspath(out))} --config.data.token_dtype={dtype} '
                  f'--config.model.vocab={max(vocab, tk.NUM_TASK_TOKENS + 1)}'))


def main(argv: list[str] | None = None) -> None:
  parser = expt.Parser('textdata', prog='python -m rarelearn.textdata',
                       description=__doc__.split('\n')[0])
  parser.add_argument('paths', nargs='*', metavar='FILES_OR_DIRS')
  parser.add_argument('--out', required=True)
  parser.add_argument('--tokenizer', help='a Hugging Face tokenizer.json')
  parser.add_argument('--train_vocab', type=expt.integer(),
                      help='or: train a byte-level BPE of ≤ N ids')
  parser.add_argument('--eod_token', default=EOD_TOKEN)
  parser.add_argument('--dtype', default='auto', choices=('auto',) + tk.TOKEN_DTYPES)
  args = parser.parse_args(argv)
  try:
    s = write_token_file(args.paths, args.out, args.tokenizer, args.train_vocab, args.eod_token,
                         args.dtype)
  except (TextDataError, OSError) as e:
    expt.fail('textdata', e)
  print(f'textdata: {s["documents"]} documents, {s["tokens"]} tokens, vocab {s["vocab"]}, '
        f'{s["dtype"]}, EOD id {s["eod_id"]} in {s["out"]} (tokenizer {s["tokenizer"]}); '
        f'run with: {s["overrides"]}')


if __name__ == '__main__':
  main()
