"""Token tasks, injection, the Markov background and token files, against hand counts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn.tasks import mixture
from rarelearn.tasks import tokens as tk

VOCAB = 300


@pytest.fixture(scope='module', params=tk.KINDS)
def task(request):
  return request.param, tk.make_task(request.param, VOCAB, jax.random.key(1))


def test_task_labels_and_split(task):
  kind, t = task
  toks, rank, value = (np.asarray(a) for a in (t.tokens_T, t.rank_T, t.value_T))
  assert len(set(toks.tolist())) == 100 and tk.EOD not in toks and toks.max() < VOCAB
  label = np.asarray(t.label_TxT)
  rng = np.random.default_rng(0)
  for a, b in rng.integers(0, 100, size=(200, 2)):
    if kind == 'cmp':
      want = toks[a] if rank[a] >= rank[b] else toks[b]
    else:
      want = toks[int(np.flatnonzero(value == (value[a] + value[b]) % 100)[0])]
    assert label[a, b] == want
  train = {tuple(p) for p in np.asarray(t.train_pairs)}
  test = {tuple(p) for p in np.asarray(t.test_pairs)}
  assert len(train) == len(test) == 5000 and not train & test
  assert len(train | test) == 10_000


def test_count_injection_places_exact_train_instances(task):
  _, t = task
  background = jax.random.randint(jax.random.key(2), (40, 17), 1, VOCAB)
  inj = tk.injection(0.1)
  train = {tuple(p) for p in np.asarray(t.train_pairs)}
  toks, label = np.asarray(t.tokens_T), np.asarray(t.label_TxT)
  index = {int(v): i for i, v in enumerate(toks)}
  for step in range(5):
    out, carry = tk.inject(jax.random.key(step), jnp.int32(step), background, t, inj, 'count')
    out, carry = np.asarray(out), np.asarray(carry)
    assert carry.sum() == 4  # round(0.1 · 40)
    np.testing.assert_array_equal(out[~carry], np.asarray(background)[~carry])
    np.testing.assert_array_equal(out[:, 4:], np.asarray(background)[:, 4:])
    for row in out[carry]:
      a, b = index[int(row[0])], index[int(row[1])]
      assert (a, b) in train  # never a test pair
      assert row[2] == label[a, b] and row[3] == tk.EOD


def test_bernoulli_frequency_and_gap_schedule(task):
  _, t = task
  inj = tk.injection(0.05)
  counts = [int(tk.carriers(jax.random.key(s), jnp.int32(s), inj, 64, 'bernoulli').sum())
            for s in range(300)]
  n = 300 * 64
  assert abs(sum(counts) / n - 0.05) < 4 * np.sqrt(0.05 * 0.95 / n)
  gapped = tk.injection(0.1, gap=5, offset=2)
  per_step = [int(tk.carriers(jax.random.key(s), jnp.int32(s), gapped, 20, 'count').sum())
              for s in range(20)]
  assert per_step == [0, 0, 10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 10, 0, 0]
  # the same global frequency as 2 instances in every batch of 20
  assert sum(per_step[2:]) / (18 * 20) == pytest.approx(0.1, abs=0.02)
  # 25 batches' worth (round(25·20·0.1) = 50 instances) every 25 steps, spread as evenly as
  # integers allow over the ceil(50 / 20) = 3 batches that hold them: 17 + 17 + 16 (the burst
  # rule of tasks/mixture.py, the same for every task family)
  spill = tk.injection(0.1, gap=25)
  per_step = [int(tk.carriers(None, jnp.int32(s), spill, 20, 'count').sum()) for s in range(30)]
  assert per_step[:4] == [17, 17, 16, 0] and sum(per_step[:25]) == 50
  assert per_step[25:29] == [17, 17, 16, 0]
  assert mixture.shortest_burst(0.1, 25, 20) == 3 and mixture.shortest_burst(0.1, 5, 20) == 1
  assert mixture.shortest_burst(0.25, 100, 32) == 25  # fig8/fig9: 800 instances, 32 a batch


def test_markov_background_follows_its_chain():
  chain = tk.make_markov(jax.random.key(3), VOCAB)
  seqs = np.asarray(tk.markov_sequences(jax.random.key(4), chain, 256, 33))
  assert seqs.shape == (256, 33) and seqs.min() >= 1 and seqs.max() < VOCAB
  succ, prob = np.asarray(chain.successors_VxK), np.exp(np.asarray(chain.log_probs_VxK))
  allowed = {(v, int(s)) for v in range(VOCAB) for s, p in zip(succ[v], prob[v]) if p > 0}
  pairs = list(zip(seqs[:, :-1].ravel().tolist(), seqs[:, 1:].ravel().tolist()))
  assert all(p in allowed for p in pairs)
  num = (prob > 0).sum(axis=1)[1:]
  assert num.min() >= 1 and num.max() <= 16
  # the most frequent current token: its next-token counts match the chain's probabilities
  cur = np.bincount(seqs[:, :-1].ravel(), minlength=VOCAB).argmax()
  nxt = seqs[:, 1:][seqs[:, :-1] == cur]
  want = np.zeros(VOCAB)
  np.add.at(want, succ[cur], prob[cur])
  got = np.bincount(nxt, minlength=VOCAB) / len(nxt)
  assert np.abs(got - want).max() < 5 * np.sqrt(0.25 / len(nxt))
  assert 0.5 < tk.markov_entropy(chain) < np.log(16)


def test_token_file_round_trip_and_clear_errors(tmp_path):
  ids = np.random.default_rng(0).integers(0, 1000, size=5000).astype(np.uint16)
  path = tmp_path / 'tokens.bin'
  ids.tofile(path)
  f = tk.TokenFile(str(path), 'uint16', vocab=1000, window=17)
  assert len(f) == 5000
  batch = f.batch(seed=0, step=3, batch=8)
  np.testing.assert_array_equal(batch, f.batch(seed=0, step=3, batch=8))  # same step, same data
  for row in batch:  # every window is a contiguous piece of the file
    starts = [s for s in range(5000 - 16) if np.array_equal(ids[s:s + 17], row)]
    assert starts
  with pytest.raises(tk.TokenFileError, match='outside the vocabulary of 500'):
    tk.TokenFile(str(path), 'uint16', vocab=500, window=17)
  with pytest.raises(tk.TokenFileError, match='expected uint16 or uint32'):
    tk.TokenFile(str(path), 'int64', vocab=1000, window=17)
  odd = tmp_path / 'odd.bin'
  odd.write_bytes(b'\x01\x00\x02\x00\x03')
  with pytest.raises(tk.TokenFileError, match='not a whole number of uint16'):
    tk.TokenFile(str(odd), 'uint16', vocab=1000, window=2)
  ids.astype(np.uint32).tofile(tmp_path / 'wide.bin')  # uint32 ids read as uint32: fine
  assert len(tk.TokenFile(str(tmp_path / 'wide.bin'), 'uint32', 1000, 17)) == 5000
  with pytest.raises(tk.TokenFileError, match='no such file'):
    tk.TokenFile(str(tmp_path / 'missing.bin'), 'uint16', 1000, 17)


def test_markov_successors_by_inverse_cdf_follow_popularity(monkeypatch):
  """Above GUMBEL_MAX_VOCAB (an OLMo vocabulary) successors are drawn by inverse CDF: the same
  Zipfian popularity as the Gumbel-max draws, never EOD."""
  vocab, k = 512, 16
  draws = {}
  for limit in (vocab, 0):  # Gumbel-max, then inverse CDF
    monkeypatch.setattr(tk, 'GUMBEL_MAX_VOCAB', limit)
    chain = tk.make_markov(jax.random.key(5), vocab, max_successors=k)
    draws[limit] = np.asarray(chain.successors_VxK).ravel()
  popularity = np.exp(np.asarray(chain.start_log_probs_V, np.float64))
  n = vocab * k
  for succ in draws.values():
    assert succ.min() >= 1 and succ.max() < vocab
    got = np.bincount(succ, minlength=vocab) / n
    assert np.all(np.abs(got - popularity) < 5 * np.sqrt(popularity * (1 - popularity) / n)
                  + 1e-9)
  assert not np.array_equal(draws[vocab], draws[0])  # the two branches really differ
