"""Fig. 7 (T_ADD), the measure: does the Fourier share find the modular-addition feature?

    python experiments/fig7_fourier_validation.py --workdir=DIR [--smoke]

``measure.features.fourier_share``: the share of the task tokens' centred representation
variance carried by the ``FOURIER_TOP`` = K = 5 strongest frequencies of their hidden values
(each frequency k: the cos and sin of 2πkv/p over the value order v); chance 2K/(p − 1) for any
fixed K frequencies of isotropic noise, somewhat more for the strongest K (the fewer dimensions,
the more), and ``fourier_share_chance``: the same representation's share with the values
shuffled. Validated here, before it scores the ladder's T_ADD cells (whose Fourier count was 0
even in cells that learned the task):

(i) planted: p = 100 values (the ladder's task tokens), widths D = 16 and 128; 5 frequencies
    (cos and sin along orthonormal directions) carrying a share φ of the variance, isotropic
    noise the rest (orthogonal to the planted part as a whole, so the total is exact); φ from 0
    to 1. Expected share, by hand: φ + (1 − φ) · 2K/(p − 1) once the planted frequencies are
    the strongest (the noise's expected share in 5 fixed frequencies).
(ii) an MLP that learns modular addition on the CPU: p = 59 tokens with hidden values (a random
    permutation per seed), the label of (a, b) the token of value (v_a + v_b) mod p, all p²
    pairs split 50/50 into train and test (as T_ADD); a shared embedding (32 dimensions) of a
    and b, concatenated, one ReLU layer of 128 units, a linear readout over the p tokens;
    full-batch AdamW (lr 3e-3, β2 0.98, weight decay 1, the grokking setting of Nanda et al.
    2023), 3,000 steps, evaluated every 100. The measure: ``fourier_share`` of the embedding.
    Control: the same model on a random label table (nothing to generalize).
(iii) the ladder's own transformer (``models.transformer``, 1 layer, d_model 32, 2 heads, MLP
    64) on the same task as two-token sequences (a, b) with the loss at the label position;
    AdamW as (ii), 500 steps, evaluated every 25; the measure exactly as the ladder computes
    it: ``features.feature_scores`` (the embedding or the layer where the share stands out
    most above its shuffled chance).

Claims, fixed before the run (per seed; intervals over 3 seeds; ``rarelearn.analysis.claims``):
- ``planted_share_recovered``: the largest |share − (φ + (1 − φ) 2K/(p − 1))| over φ ∈ {0.3,
  0.5, 0.7, 0.9} and both widths, ci95 below 0.03;
- ``noise_at_shuffled_chance``: for pure noise (φ = 0) the largest |share / shuffled chance − 1|
  over both widths, ci95 below 0.15;
- ``mlp_learns``, ``transformer_learns``: final test accuracy, ci95 above 0.9;
- ``mlp_share_at_init``: share of the initial embedding / its shuffled chance, ci95 within
  (0.85, 1.15);
- ``mlp_share_when_learned``, ``transformer_share_when_learned``: final share / 2K/(p − 1),
  ci95 above 3;
- ``mlp_share_above_shuffled``, ``transformer_share_above_shuffled``: final share / its
  shuffled chance, ci95 above 2;
- ``mlp_share_tracks_accuracy``, ``transformer_share_tracks_accuracy``: Spearman ρ between the
  share and the test accuracy over the evaluations of training, ci95 above 0.7;
- ``control_share_at_chance``: the random-label MLP's final share / its shuffled chance, ci95
  below 1.3.
The model sizes and step counts come from a trial run of the same models (to fit the CPU
budget); the thresholds are the ones above.

Writes ``DIR/fig7_fourier_validation.json``: ``claims``; ``planted``: width → φ → per-seed share,
shuffled chance and Fourier count (``fourier_count``: frequencies above 10 × the median power;
with 5 planted frequencies it needs φ above 10/19), and the expected shares; ``mlp``, ``control``,
``transformer``: per seed the steps, test and train accuracy, share, shuffled chance and Fourier
count (10 × median, ``fourier_count``) over training, the final Fourier variance by frequency,
and the mean top-K share of isotropic noise of the same shape (``noise_share``); and
``DIR/fig7_fourier_validation.png``: the planted shares against φ, the share and the test
accuracy over training for (ii) and (iii), and the final spectra.

What the literature reports: Nanda et al. (2023, "Progress measures for grokking via
mechanistic interpretability") find that a one-layer transformer trained on a + b mod 113 with
weight decay 1 represents the tokens by a few key frequencies (5): the embedding's Fourier
spectrum is sparse, and the key frequencies appear as the test accuracy rises; Gromov (2023)
and Zhong et al. (2023) find the same periodic features in MLPs on modular addition.

What we measured: docs/experiments.md "The mechanism in pretraining" and "Reproducing the paper"
(``docs/results/fig7_fourier_validation_2026-12-01.json``).

Runtime: about 45 seconds on a 2-core CPU (80 s when the cores are shared; ``--smoke``:
seconds; its numbers are not the figure's).
"""
from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
import optax

from rarelearn import expt
from rarelearn.analysis import claims
from rarelearn.measure import features
from rarelearn.models import transformer as tf
from rarelearn.tasks import tokens as tk

NAME = 'fig7_fourier_validation'
TOP = features.FOURIER_TOP
FULL = dict(seeds=3, planted_values=100, widths=(16, 128),
            phis=(0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0), claimed_phis=(0.3, 0.5, 0.7, 0.9),
            p=59, embed=32, hidden=128, mlp_steps=3000, mlp_every=100,
            d_model=32, heads=2, tf_mlp=64, tf_steps=500, tf_every=25, lr=3e-3, wd=1.0)
SMOKE = dict(FULL, seeds=2, widths=(16,), phis=(0.0, 0.5), claimed_phis=(0.5,), p=23, embed=16,
             hidden=32, mlp_steps=40, mlp_every=20, d_model=16, tf_mlp=16, tf_steps=10,
             tf_every=5)


# ---------------------------------------------------------------------------------------------
# (i) planted Fourier features

def planted(rng: np.random.Generator, p: int, width: int, phi: float) -> tuple:
  """(x [p, width], values [p]): ``TOP`` random frequencies (not p/2) carrying exactly the
  share ``phi`` of the centred variance, isotropic noise orthogonal to them as a whole the
  rest."""
  value = rng.permutation(p)
  freqs = rng.choice(np.arange(1, (p - 1) // 2 + 1), TOP, replace=False)
  directions = np.linalg.qr(rng.standard_normal((width, 2 * TOP)))[0].T
  angle = 2 * np.pi * freqs[None, :] * value[:, None] / p  # [p, TOP]
  signal = np.cos(angle) @ directions[0::2] + np.sin(angle) @ directions[1::2]
  noise = rng.standard_normal((p, width))
  noise -= noise.mean(0)
  signal /= np.linalg.norm(signal)
  noise -= np.sum(noise * signal) * signal
  noise /= np.linalg.norm(noise)
  return np.sqrt(phi) * signal + np.sqrt(1 - phi) * noise, value


def planted_part(cfg: dict) -> dict:
  """Per width and φ the seeds' shares, shuffled chances and Fourier counts; the expected
  shares."""
  p, chance = cfg['planted_values'], features.fourier_chance(cfg['planted_values'])
  measure = jax.jit(lambda x, v: {'share': features.fourier_share(x, v),
                                   'shuffled_chance': features.fourier_share_chance(x, v),
                                   'count': features.fourier_count(x, v)})
  out = {'values': p, 'chance': chance, **{k: {} for k in ('share', 'shuffled_chance', 'count')},
         'expected': {str(phi): phi + (1 - phi) * chance for phi in cfg['phis']}}
  for width in cfg['widths']:
    for name in ('share', 'shuffled_chance', 'count'):
      out[name][str(width)] = {}
    for phi in cfg['phis']:
      got = [measure(jnp.asarray(x, jnp.float32), v) for x, v in (
          planted(np.random.default_rng([seed, width, int(1000 * phi)]), p, width, phi)
          for seed in range(cfg['seeds']))]
      for name in got[0]:
        out[name][str(width)][str(phi)] = [float(g[name]) for g in got]
  return out


# ---------------------------------------------------------------------------------------------
# (ii), (iii): models that learn modular addition

def addition_task(key: jax.Array, p: int, random_labels: jax.Array) -> tk.TokenTask:
  """p tokens 0…p−1 with hidden values (a permutation), the label of (a, b) the token of value
  (v_a + v_b) mod p (where ``random_labels``: a random token), all p² pairs split 50/50."""
  k_value, k_split, k_label = jax.random.split(key, 3)
  value = jax.random.permutation(k_value, p)
  a, b = (x.ravel() for x in jnp.meshgrid(jnp.arange(p), jnp.arange(p), indexing='ij'))
  label = jnp.where(random_labels, jax.random.randint(k_label, (p * p,), 0, p),
                    jnp.argsort(value)[(value[a] + value[b]) % p])
  pairs = jnp.stack([a, b], axis=1)
  order = jax.random.permutation(k_split, p * p)
  return tk.TokenTask(jnp.arange(p), jnp.arange(p), value, label.reshape(p, p),
                      pairs[order[:p * p // 2]], pairs[order[p * p // 2:]])


def mlp_init(key: jax.Array, cfg: dict) -> dict:
  k_embed, k_hidden, k_out = jax.random.split(key, 3)
  p, e, h = cfg['p'], cfg['embed'], cfg['hidden']
  return {'embed': jax.random.normal(k_embed, (p, e)) / np.sqrt(e),
          'hidden': jax.random.normal(k_hidden, (2 * e, h)) / np.sqrt(2 * e),
          'bias': jnp.zeros(h), 'out': jax.random.normal(k_out, (h, p)) / np.sqrt(h)}


def mlp_logits(params: dict, pairs_Nx2: jax.Array) -> jax.Array:
  """ReLU(W [E_a; E_b] + c) · U: the first layer applied to each token once, then gathered."""
  e = params['embed'].shape[1]
  first = params['embed'] @ params['hidden'][:e], params['embed'] @ params['hidden'][e:]
  h = jax.nn.relu(first[0][pairs_Nx2[:, 0]] + first[1][pairs_Nx2[:, 1]] + params['bias'])
  return h @ params['out']


def mlp_measure(params: dict, task: tk.TokenTask) -> dict:
  x = params['embed']
  return {'share': features.fourier_share(x, task.value_T),
          'chance_shuffled': features.fourier_share_chance(x, task.value_T),
          'count': features.fourier_count(x, task.value_T)}


def tf_model(cfg: dict) -> tuple:
  """(shape, dims) of the one-layer transformer, no padding."""
  d, heads, mlp = cfg['d_model'], cfg['heads'], cfg['tf_mlp']
  return (tf.shape_of(d, heads, mlp, 1), tf.Dims(cfg['p'], d, heads, d // heads, mlp, 1))


def tf_logits(params: dict, pairs_Nx2: jax.Array, cfg: dict) -> jax.Array:
  shape, dims = tf_model(cfg)
  return jax.vmap(lambda s: tf.apply(params, s, shape, dims)[1])(pairs_Nx2)


def tf_measure(params: dict, task: tk.TokenTask, cfg: dict) -> dict:
  shape, dims = tf_model(cfg)
  s = features.feature_scores(params, task, shape, dims)
  return {'share': s['fourier_share'], 'chance_shuffled': s['fourier_share_chance'],
          'count': s['fourier_count']}


def train(seed: jax.Array, random_labels: jax.Array, cfg: dict, kind: str) -> dict:
  """One seed of (ii) (``kind`` 'mlp') or (iii) ('transformer'): per evaluation (step 0, then
  every ``every`` steps) the test and train accuracy, the measure, and the Fourier variance by
  frequency of the embedding (and, for the transformer, after its layer)."""
  k_task, k_init = jax.random.split(jax.random.key(seed))
  task = addition_task(k_task, cfg['p'], random_labels)
  if kind == 'mlp':
    params, steps, every = mlp_init(k_init, cfg), cfg['mlp_steps'], cfg['mlp_every']
    logits, measure = mlp_logits, lambda q: mlp_measure(q, task)
    reps = lambda q: q['embed'][None]
  else:
    shape, dims = tf_model(cfg)
    params, steps, every = tf.init_params(k_init, shape, dims), cfg['tf_steps'], cfg['tf_every']
    logits = lambda q, pairs: tf_logits(q, pairs, cfg)
    measure = lambda q: tf_measure(q, task, cfg)
    reps = lambda q: features.token_representations(q, task, shape, dims)
  labels = lambda pairs: task.label_TxT[pairs[:, 0], pairs[:, 1]]
  opt = optax.adamw(cfg['lr'], b1=0.9, b2=0.98, weight_decay=cfg['wd'])
  loss = lambda q: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      logits(q, task.train_pairs), labels(task.train_pairs)))

  def step(carry, _):
    q, state = carry
    updates, state = opt.update(jax.grad(loss)(q), state, q)
    return (optax.apply_updates(q, updates), state), None

  def chunk(carry, _):  # evaluate, then train (the last chunk's training is not used)
    q = carry[0]
    acc = {f'{s}_accuracy': jnp.mean(jnp.argmax(logits(q, pairs), -1) == labels(pairs))
           for s, pairs in (('test', task.test_pairs), ('train', task.train_pairs))}
    spectra = jax.vmap(lambda x: features.fourier_variance(x, task.value_T))(reps(q))
    carry, _ = jax.lax.scan(step, carry, None, every)
    return carry, dict(measure(q), spectra=spectra, **acc)

  return jax.lax.scan(chunk, (params, opt.init(params)), None, steps // every + 1)[1]


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def noise_share(p: int, width: int, draws: int = 200) -> jax.Array:
  """The mean ``fourier_share`` of isotropic Gaussian rows [p, width]."""
  x = jax.random.normal(jax.random.key(1), (draws, p, width))
  return jnp.mean(jax.vmap(lambda r: features.fourier_share(r, jnp.arange(p)))(x))


def trained_part(cfg: dict, kind: str, run, random_labels: bool = False) -> dict:
  """(ii) or (iii) over the seeds: each evaluation's numbers [seeds, evaluations]; ``run`` the
  jitted ``train`` over seeds."""
  start = time.time()
  history = jax.device_get(run(jnp.arange(cfg['seeds']), jnp.asarray(random_labels)))
  steps, every = ((cfg['mlp_steps'], cfg['mlp_every']) if kind == 'mlp'
                  else (cfg['tf_steps'], cfg['tf_every']))
  width = cfg['embed'] if kind == 'mlp' else cfg['d_model']
  return dict({k: np.asarray(v) for k, v in history.items()},
              steps=np.arange(0, steps + 1, every),
              noise_share=float(noise_share(cfg['p'], width)),
              chance=features.fourier_chance(cfg['p']), wall_time_s=time.time() - start)


# ---------------------------------------------------------------------------------------------
# claims, figure

def planted_statistics(pl: dict, cfg: dict) -> tuple[list, list]:
  """Per seed: the largest |share − expected| over the claimed φ and the widths, and the
  largest |share / shuffled chance − 1| of pure noise over the widths."""
  widths = [str(w) for w in cfg['widths']]
  error = [max(abs(pl['share'][w][str(phi)][z] - pl['expected'][str(phi)])
               for w in widths for phi in cfg['claimed_phis']) for z in range(cfg['seeds'])]
  noise = [max(abs(pl['share'][w]['0.0'][z] / pl['shuffled_chance'][w]['0.0'][z] - 1)
               for w in widths) for z in range(cfg['seeds'])]
  return error, noise


def validation_claims(res: dict, cfg: dict) -> list[dict]:
  """The docstring's claims, per seed."""
  error, noise = planted_statistics(res['planted'], cfg)
  out = [claims.over_seeds('planted_share_recovered', 'the share of planted frequencies is '
                           'the planted share plus the noise\'s share in them',
                           'largest |share − expected| over φ ≥ 0.3 and widths', error,
                           below=0.03),
         claims.over_seeds('noise_at_shuffled_chance', 'pure noise has its shuffled-values '
                           'share', 'largest |share / shuffled chance − 1| over widths', noise,
                           below=0.15)]
  for kind in ('mlp', 'transformer'):
    r = res[kind]
    rho = [expt.spearman(s, a) for s, a in zip(r['share'], r['test_accuracy'])]
    out += [
        claims.over_seeds(f'{kind}_learns', f'the {kind} learns modular addition',
                          'final test accuracy', r['test_accuracy'][:, -1], above=0.9),
        claims.over_seeds(f'{kind}_share_when_learned', 'the learned model\'s share stands '
                          'out', 'final share / 2K/(p − 1)', r['share'][:, -1] / r['chance'],
                          above=3.0),
        claims.over_seeds(f'{kind}_share_above_shuffled', 'the share is of the value order',
                          'final share / its shuffled chance',
                          r['share'][:, -1] / r['chance_shuffled'][:, -1], above=2.0),
        claims.over_seeds(f'{kind}_share_tracks_accuracy', 'the share rises with the test '
                          'accuracy over training', 'Spearman ρ(share, test accuracy) over the '
                          'evaluations', rho, above=0.7)]
  mlp, control = res['mlp'], res['control']
  out.insert(3, claims.over_seeds('mlp_share_at_init', 'the initial embedding is at chance',
                                  'initial share / its shuffled chance',
                                  mlp['share'][:, 0] / mlp['chance_shuffled'][:, 0],
                                  within=(0.85, 1.15)))
  out.append(claims.over_seeds('control_share_at_chance', 'a model of random labels has no '
                               'Fourier feature', 'final share / its shuffled chance',
                               control['share'][:, -1] / control['chance_shuffled'][:, -1],
                               below=1.3))
  return out


def figure(res: dict, cfg: dict):
  fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
  pl, ax = res['planted'], axes[0]
  phis = list(cfg['phis'])
  for w in cfg['widths']:
    ax.plot(phis, [np.mean(pl['share'][str(w)][str(f)]) for f in phis], 'o-', label=f'D = {w}')
  ax.plot(phis, [pl['expected'][str(f)] for f in phis], 'k--', lw=1, label='φ + (1 − φ)·chance')
  ax.axhline(pl['chance'], color='gray', ls=':', label=f'chance 2K/(p − 1), K = {TOP}')
  ax.set(xlabel='planted share φ', ylabel='Fourier share', title=f'(i) planted, p = {pl["values"]}')
  ax.legend(fontsize=7, loc='upper left')
  count_ax = ax.twinx()
  for i, w in enumerate(cfg['widths']):
    count_ax.plot(phis, [np.mean(pl['count'][str(w)][str(f)]) for f in phis], color=f'C{i}',
                  ls='--', lw=1)
  count_ax.set(ylabel='Fourier count, 10 × median (dashed)', ylim=(0, 2 * TOP))
  for ax, kind in ((axes[1], 'mlp'), (axes[2], 'transformer')):
    r, acc_ax = res[kind], ax.twinx()
    for z in range(cfg['seeds']):
      ax.plot(r['steps'], r['share'][z], color=f'C{z}', label=f'seed {z}: share')
      ax.plot(r['steps'], r['chance_shuffled'][z], color=f'C{z}', ls=':', lw=1)
      acc_ax.plot(r['steps'], r['test_accuracy'][z], color=f'C{z}', ls='--', lw=1)
    if kind == 'mlp':
      ax.plot(r['steps'], res['control']['share'].mean(0), color='k', lw=1,
              label='random labels: share')
    ax.axhline(r['chance'], color='gray', ls=':')
    acc_ax.set(ylabel='test accuracy (dashed)', ylim=(0, 1.02))
    ax.set(xlabel='step', ylabel='Fourier share (dotted: shuffled chance)', ylim=(0, 1),
           title=f'({"ii" if kind == "mlp" else "iii"}) {kind}, p = {cfg["p"]}')
    ax.legend(fontsize=7, loc='center right')
  ax = axes[3]
  final = {k: res[k]['spectra'][0, -1] for k in ('mlp', 'control', 'transformer')}
  for kind, spectra in (('mlp embedding', final['mlp'][0]),
                        ('transformer embedding', final['transformer'][0]),
                        ('transformer after layer 1', final['transformer'][1]),
                        ('random labels', final['control'][0])):
    ax.plot(np.arange(1, len(spectra) + 1), spectra / spectra.sum(), '.-', label=kind)
  ax.set(xlabel='frequency k', ylabel='share of the variance', title='final spectra, seed 0')
  ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def _seeds(r: dict) -> dict:
  """A trained part's numbers for the JSON: per seed over training, and the final spectra."""
  keys = ('test_accuracy', 'train_accuracy', 'share', 'chance_shuffled', 'count')
  return dict({k: r[k] for k in keys}, steps=r['steps'], final_spectra=r['spectra'][:, -1],
              chance=r['chance'], noise_share=r['noise_share'], wall_time_s=r['wall_time_s'])


def main(argv=None) -> dict:
  args = expt.parse_args(NAME, __doc__, argv)
  cfg = SMOKE if args.smoke else FULL
  start = time.time()
  res = {'planted': planted_part(cfg)}
  print(f'{NAME}: planted {time.time() - start:.1f} s')
  runs = {kind: jax.jit(jax.vmap(functools.partial(train, cfg=cfg, kind=kind),
                                 in_axes=(0, None))) for kind in ('mlp', 'transformer')}
  for name, kind, random_labels in (('mlp', 'mlp', False), ('control', 'mlp', True),
                                    ('transformer', 'transformer', False)):
    res[name] = trained_part(cfg, kind, runs[kind], random_labels)
    print(f'{NAME}: {name} {res[name]["wall_time_s"]:.1f} s')
  out = {'claims': validation_claims(res, cfg), 'planted': res['planted'], 'config': cfg,
         'top': TOP, 'smoke': args.smoke}
  out.update({k: _seeds(res[k]) for k in ('mlp', 'control', 'transformer')})
  for c in out['claims']:
    print(f'{NAME}: claim {claims.line(c)}')
  fig = figure(res, cfg)
  out['wall_time_s'] = time.time() - start
  expt.write_results(args.workdir, NAME, out, fig)
  plt.close(fig)
  return out


if __name__ == '__main__':
  main()
