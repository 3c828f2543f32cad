"""Model ladders: published sizes, one CPU step of the real 4M and 20M rungs, the tiny ladder."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rarelearn
from rarelearn.core import configlib
from rarelearn.models import transformer as tf
from rarelearn.population import ladder, lm_training
from rarelearn.tasks import tokens as tk

from conftest import REPO

CONFIGS = os.path.join(REPO, 'configs')
# OLMo names its models by non-embedding + one embedding matrix; OLMo-1B is published as
# 1,176,832,000 parameters (Groeneveld et al., 2024); the 4B rung is ≈ 4B non-embedding.
PUBLISHED = {'4M': 4e6, '20M': 20e6, '300M': 300e6, '1B': 1.1768e9}


def test_ladder_sizes_match_published_within_ten_percent():
  config = configlib.load_config_file(os.path.join(CONFIGS, 'olmo_ladder.py'))
  counts = {r.name: r.counts(config.model.vocab) for r in ladder.rungs(config)}
  for name, size in PUBLISHED.items():
    assert abs(counts[name]['ladder_size'] / size - 1) < 0.10, (name, counts[name])
  assert abs(counts['4B']['non_embedding'] / 4e9 - 1) < 0.10
  # 20M by hand: 16 layers × (4·192² attention + 3·192·768 MLP + 2·192 norms) + 192
  assert counts['20M']['non_embedding'] == 16 * (4 * 192**2 + 3 * 192 * 768 + 2 * 192) + 192
  assert counts['20M']['embedding'] == 2 * 50_304 * 192  # untied input and output


@pytest.mark.parametrize('name', ['4M', '20M'])
def test_one_training_step_of_real_rungs_on_cpu(name):
  config = configlib.load_config_file(os.path.join(CONFIGS, 'olmo_ladder.py') + ':small')
  rung = next(r for r in ladder.rungs(config) if r.name == name)
  config.data.seq_len, config.train.batch_size = 16, 2
  hp = ladder.hyper(config, rung)
  member = lm_training.Member(tf.shape_of(rung.d_model, rung.num_heads, rung.mlp, rung.depth),
                              jnp.float32(1e-3), tk.injection(0.5))
  state = lm_training.init_state(jax.random.key(0), member, hp)
  assert sum(x.size for x in jax.tree.leaves(state.params)) == rung.counts(50_304)['total']
  tokens = jax.random.randint(jax.random.key(1), (2, 17), 1, 50_304)
  new, loss, _ = jax.jit(lambda s, t: lm_training.train_step(s, t, jnp.int32(0), member, hp))(state,
                                                                                    tokens)
  # std-0.02 init: logits near 0, so the loss starts near ln V
  assert abs(float(loss) - np.log(50_304)) < 0.1
  assert int(new.diverged_at) == -1
  moved = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(new.params),
                                                          jax.tree.leaves(state.params))]
  assert max(moved) > 0


def test_token_file_background(tmp_path):
  """A file of one repeated token is learned at once; the Markov background cannot be."""
  path = tmp_path / 'tokens.bin'
  np.full(4000, 7, np.uint16).tofile(path)
  config = configlib.load_config_file(os.path.join(CONFIGS, 'olmo_tiny.py') + ':smoke')
  config.model.names, config.model.d_model, config.model.num_heads = ('d16',), (16,), (2,)
  config.model.depth, config.model.mlp = (1,), (64,)
  config.data.background, config.data.token_file = 'file', str(path)
  out = ladder.grid(rarelearn.train(config, progress=False))
  assert out['background_loss'][0, 0, 0, 0] == pytest.approx(np.log(160), abs=0.05)
  assert np.all(out['background_loss'][..., -1] < 0.5)
  config.data.token_dtype = 'uint32'  # 4,000 uint16 ids read as 2,000 uint32 ones: ids 7·65537
  with pytest.raises(tk.TokenFileError, match='outside the vocabulary'):
    rarelearn.train(config, progress=False)
