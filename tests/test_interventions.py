"""Interventions on the update (rarelearn/population/interventions.py, family_population.py): each
removes or adds exactly what it names — a numpy oracle on hand-made gradients, directions and an
Adam preconditioner worked by hand —, strength 0 is plain training bit for bit, and every family
runs them through ``rarelearn.main`` with ``--config.intervention.…``."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rarelearn import families, main as rarelearn_main
from rarelearn.core import configlib, optim
from rarelearn.population import family_population, interventions
from rarelearn.runtime import loop
from conftest import REPO

RNG = np.random.default_rng(0)
SHAPES = {'a': (3, 4), 'b': (5,)}


def _tree(scale=1.0):
  return {k: jnp.asarray(RNG.normal(size=s) * scale, jnp.float32) for k, s in SHAPES.items()}


def _flat(tree):
  return np.concatenate([np.asarray(tree[k], np.float64).ravel() for k in sorted(SHAPES)])


def _delta(kind, strength, g, g_r, d, p, q):
  member = interventions.Member(jnp.int32(interventions.KINDS.index(kind)), jnp.float32(strength))
  change, effect = interventions.delta(g, g_r, d, p, member, q)
  return _flat(change), np.asarray(effect)


@pytest.mark.parametrize('conflict', [True, False])
def test_each_intervention_changes_the_gradient_as_it_names(conflict):
  """By hand, in P's metric: c = ⟨d, P g_o⟩ / ⟨d, P d⟩; protect δ = −s·min(c, 0)·d (nothing
  when the rest helps the target), after which ⟨d, P (g_o + δ)⟩ = 0 at s = 1; control the same
  norm along q; disturb −s·‖g_o‖·d̂; none and strength 0 exactly nothing."""
  g, g_r, d = _tree(), _tree(0.3), _tree()
  q = interventions.random_direction(jax.random.key(0), _tree())  # a unit vector
  p = jax.tree.map(lambda a: jnp.abs(a) + 0.5, _tree())
  G, R, D, P, Q = map(_flat, (g, g_r, d, p, q))
  rest = G - R
  if (D @ (P * rest) < 0) != conflict:  # make the rest conflict with d, or help it
    d = jax.tree.map(lambda a: -a, d)
    D = -D
  c = (D @ (P * rest)) / (D @ (P * D))
  assert (c < 0) == conflict
  for s in (1.0, 0.4):
    change, effect = _delta('protect', s, g, g_r, d, p, q)
    np.testing.assert_allclose(change, -s * min(c, 0) * D, rtol=1e-5, atol=1e-7)
    unit = D / np.linalg.norm(D)
    np.testing.assert_allclose(effect, [unit @ (P * rest), unit @ (P * (rest + change))],
                               rtol=1e-4, atol=1e-6)
    if conflict and s == 1.0:
      assert abs(D @ (P * (rest + change))) < 1e-4 * abs(D @ (P * rest))
    control, _ = _delta('control', s, g, g_r, d, p, q)
    np.testing.assert_allclose(np.linalg.norm(control), np.linalg.norm(change), rtol=1e-5,
                               atol=1e-7)
    if conflict:  # along q, against the sign of ⟨q, P g_o⟩
      np.testing.assert_allclose(control, -np.sign(Q @ (P * rest)) * np.linalg.norm(change)
                                 * Q / np.linalg.norm(Q), rtol=1e-5, atol=1e-7)
    disturb, _ = _delta('disturb', s, g, g_r, d, p, q)
    np.testing.assert_allclose(disturb, -s * np.linalg.norm(rest) * D / np.linalg.norm(D),
                               rtol=1e-5, atol=1e-7)
  for kind, s in (('none', 1.0), ('protect', 0.0), ('control', 0.0), ('disturb', 0.0)):
    change, _ = _delta(kind, s, g, g_r, d, p, q)
    assert not np.any(change), (kind, s)
  zero_d = jax.tree.map(jnp.zeros_like, d)  # no direction yet (the target never seen): nothing
  for kind in ('protect', 'control', 'disturb'):
    assert not np.any(_delta(kind, 1.0, g, g_r, zero_d, p, q)[0]), kind


@pytest.mark.parametrize('name', ['adam', 'adamw', 'sgd'])
def test_the_preconditioner_is_the_step_s_scale_of_the_gradient(name):
  """Adam by hand: after the step's gradient g, v̂ = (β₂ v + (1 − β₂) g²) / (1 − β₂ᵗ) and the
  direction's scale of g is (1 − β₁) / ((1 − β₁ᵗ)(√v̂ + ε)); SGD's is 1."""
  oh = optim.Hyper(name=name, weight_decay=0.1 if name == 'adamw' else 0.0)
  params, g0, g = _tree(), _tree(), _tree()
  state = optim.init(params, oh)
  _, state, _ = optim.apply(params, state, g0, jnp.int32(0), jnp.float32(0.01), oh)
  scale = interventions.preconditioner(params, state, g, jnp.int32(1), jnp.float32(0.01), oh)
  if name == 'sgd':
    np.testing.assert_array_equal(_flat(scale), 1.0)
    return
  v = 0.999 * (0.001 * _flat(g0) ** 2) + 0.001 * _flat(g) ** 2
  want = 0.1 / ((1 - 0.9 ** 2) * (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8))
  np.testing.assert_allclose(_flat(scale), want, rtol=1e-4)


def _smoke(**changes):
  config = configlib.load_config_file(os.path.join(REPO, 'configs', 'superposition.py:smoke'))
  config.train.num_steps, config.train.steps_per_chunk = 40, 20
  for key, value in changes.items():
    config.intervention[key] = value
  families.validate(config)
  return config


def test_strength_0_is_plain_training_bit_for_bit():
  """Every kind at strength 0, beside the same members without interventions: the same
  parameters and losses, bit for bit; at strength 1 protect and disturb move them."""
  plain = loop.run(families.population(_smoke()), None, progress=False)
  kinds = ('none', 'protect', 'control', 'disturb')
  pop = family_population.FamilyPopulation(families.get('superposition').Family(
      _smoke(kinds=kinds, strengths=(0.0, 1.0))))
  out = loop.run(pop, None, progress=False)
  w = np.asarray(out.state.params.W)
  for m, row in enumerate(pop.members):
    mine = w[m]
    theirs = np.asarray(plain.state.params.W)[m // (2 * len(kinds))]
    if row['strength'] == 0.0 or row['intervention'] == 'none':
      np.testing.assert_array_equal(mine, theirs)
    elif row['intervention'] in ('protect', 'disturb'):
      assert not np.array_equal(mine, theirs), row


def test_a_bad_intervention_is_one_line():
  for changes, message in (({'kinds': ('protekt',)}, 'intervention.kinds'),
                           ({'strengths': (-1.0,)}, 'intervention.strengths'),
                           ({'decay': 1.0}, 'intervention.decay')):
    with pytest.raises(configlib.ConfigError, match=message):
      _smoke(**changes)
  config = _smoke(kinds=('protect',), target=6)
  with pytest.raises(configlib.ConfigError, match=r'intervention.target=6 .* \[-6, 5\]'):
    families.population(config)


def _steps(spec: str) -> list[str]:
  out = ['--config.train.num_steps=20', '--config.train.steps_per_chunk=10',
         '--config.intervention.kinds=("none","protect","control")']
  if spec.startswith('olmo'):  # its first rung only, one frequency
    out += ['--config.model.names=("d16",)', '--config.model.d_model=(16,)',
            '--config.model.num_heads=(2,)', '--config.model.mlp=(64,)',
            '--config.model.depth=(1,)', '--config.task.frequencies=(0.5,)']
  if spec.startswith(('sweep', 'msp')):
    out += ['--config.measure.every=0']
  return out


def _check_rows(wd: str) -> None:
  rows = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
  last = [r for r in rows if r['step'] == 20]
  assert [r['intervention'] for r in last[:3]] == ['none', 'protect', 'control']
  none, protect = last[0]['interference'], last[1]['interference']
  assert none[0] == none[1] and len(protect) == 2


def test_the_command_line_intervenes(tmp_path):
  """``python -m rarelearn.main --config.intervention.kinds=…``: none, protect and control side
  by side in one population; the rows carry each member's intervention and the interference
  before and after it."""
  spec, wd = os.path.join(REPO, 'configs', 'superposition.py:smoke'), str(tmp_path / 'wd')
  proc = subprocess.run([sys.executable, '-m', 'rarelearn.main', f'--config={spec}',
                         f'--workdir={wd}', '--noprogress', *_steps('superposition')],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  _check_rows(wd)


@pytest.mark.parametrize('spec', ['sweep.py:smoke', 'msp.py:smoke', 'olmo_tiny.py:smoke'])
def test_every_family_intervenes_through_main(tmp_path, spec):
  """The other families through ``rarelearn.main``'s entry (``main.train``) with the command
  line's flags read as the command line reads them (``configlib.from_command_line``)."""
  config = configlib.from_command_line([f'--config={os.path.join(REPO, "configs", spec)}',
                                        *_steps(spec)])
  wd = str(tmp_path / 'wd')
  rarelearn_main.train(config, wd, progress=False)
  _check_rows(wd)
