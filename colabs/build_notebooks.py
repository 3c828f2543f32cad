"""Writes colabs/*.ipynb from the cell sources below (edit here, then run this file).

    python colabs/build_notebooks.py
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = '''\
# Install rarelearn: from the repository in Colab, from this checkout anywhere else.
import importlib.util, os, subprocess, sys
REPO_URL = 'https://github.com/rarelearn/rarelearn'  # where your copy of the repository lives
if importlib.util.find_spec('rarelearn') is None:
    if 'google.colab' in sys.modules:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', f'git+{REPO_URL}'], check=True)
    else:  # a local checkout: this notebook sits in <repo>/colabs
        sys.path.insert(0, os.path.abspath('..'))
import jax
PLATFORM = jax.default_backend()  # 'tpu', 'gpu' or 'cpu'
print('runtime:', PLATFORM, '|', len(jax.devices()), 'device(s):', jax.devices())
'''

QUICKSTART = [
    new_markdown_cell('''\
# rarelearn quickstart

Trains a population of widths on the paper's block-regression toy (32 Zipf-frequency tasks),
draws the width × task phase diagram with the utility theory's predicted boundary, and shows the
per-task gradient measurements (Mechanism I).

**Runtime.** Any: the sweep is sized to the device. On a **TPU** runtime `jax.devices()` lists
the TPU cores (8 on a v2-8 / v3-8) and the population's member axis is split over all of them
(`rarelearn/population/sharding.py`; a member count that is not a multiple of 8 is padded with copies that
are dropped from the outputs), so the larger sweep below costs little more than the default.
On a GPU the same sweep runs on the one device. On a CPU the default sweep takes about a
minute.'''),
    new_code_cell(SETUP),
    new_code_cell('''\
# Parameters. TINY: a seconds-long sweep (the test suite sets it).
TINY = False
WORKDIR = '/tmp/rarelearn/colab_quickstart'
''', metadata={'tags': ['parameters']}),
    new_code_cell('''\
import json
import numpy as np
import matplotlib.pyplot as plt
import rarelearn
from rarelearn.analysis import plots, theory
from rarelearn.core import configlib
from rarelearn.runtime import workdir as wd

config = configlib.load_config_file(
    os.path.join(os.path.dirname(rarelearn.__file__), os.pardir, 'configs', 'sweep.py')
    + (':smoke' if TINY else ''))
if PLATFORM in ('tpu', 'gpu') and not TINY:  # an accelerator: more widths and seeds
    config.population.widths = (4, 8, 16, 32, 64, 128, 256, 512)
    config.population.seeds = 4
summary = rarelearn.train(config, WORKDIR, overwrite=True, progress=not TINY).summary
print(f"{len(summary['members'])} members; agreement with the utility theory: {summary['agreement']:.3f}")
'''),
    new_code_cell('''\
fig, ax = plt.subplots(figsize=(10, 4))
im = plots.draw_phase_diagram(ax, summary)
fig.colorbar(im, ax=ax, label='ℓ_k = 1 − L_k')
ax.set_title('feature presence ℓ_k: measured (colour) and predicted (dashed)')
plt.show()
'''),
    new_markdown_cell('''\
**Mechanism I.** Every `measure.every` steps the run records per-task gradient norms on a
probe batch (`grad_norm_probe`), their residual bound, and the cosine between the batch
gradient and the rarest task's gradient (`ref_cos_batch`). Wider models fit the common tasks,
so the common tasks' gradients fall toward zero.'''),
    new_code_cell('''\
rows = wd.read_metrics(WORKDIR)
measured = [r for r in rows if 'grad_norm_probe' in r and r['seed'] == 0]
widths = sorted({r['width'] for r in measured})
common = 2 if TINY else 4  # the most frequent tasks
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
final_norm = {}
for w in widths:
    mine = [r for r in measured if r['width'] == w]
    norms = [np.mean(r['grad_norm_probe'][:common]) for r in mine]
    final_norm[w] = float(norms[-1])
    axes[0].semilogy([r['step'] for r in mine], norms, label=f'N = {w}')
    axes[1].plot([r['step'] for r in mine], [r['ref_cos_batch'] for r in mine], label=f'N = {w}')
axes[0].set_title('common-task gradient norm'); axes[1].set_title('cos(batch gradient, rare-task gradient)')
for ax in axes: ax.set_xlabel('step'); ax.legend(fontsize=7)
plt.show()
'''),
    new_code_cell('''\
RESULTS = {'platform': PLATFORM, 'agreement': summary['agreement'],
           'members': len(summary['members']), 'final_common_grad_norm': final_norm,
           'common_tasks': common}
print(json.dumps(RESULTS))
'''),
]

INSPECT = [
    new_markdown_cell('''\
# Inspecting a run's checkpoints

Opens a rarelearn workdir, restores its orbax checkpoints at several steps
(`rarelearn.inspect.load`), re-evaluates every member exactly, and plots per-task learning
curves, how the hidden units are allocated to tasks, and the gradient metrics over training.
Point `WORKDIR` at any run (`python -m rarelearn.main --config=... --workdir=...`); if it does
not exist, a small sweep is trained there first. Runs on a CPU, GPU or TPU runtime.'''),
    new_code_cell(SETUP),
    new_code_cell('''\
# Parameters. TINY: a seconds-long run to inspect (the test suite sets it).
TINY = False
WORKDIR = '/tmp/rarelearn/colab_inspect'
''', metadata={'tags': ['parameters']}),
    new_code_cell('''\
import json
import numpy as np
import matplotlib.pyplot as plt
import rarelearn
from rarelearn import inspect
from rarelearn.core import configlib
from rarelearn.runtime import workdir as wd

if not os.path.exists(os.path.join(WORKDIR, 'config.json')):
    config = configlib.load_config_file(
        os.path.join(os.path.dirname(rarelearn.__file__), os.pardir, 'configs', 'sweep.py')
        + (':smoke' if TINY else ''))
    config.train.keep_checkpoints = 100  # keep every checkpoint, to look at them all
    config.train.checkpoint_every_chunks = 1 if TINY else 2
    rarelearn.train(config, WORKDIR, progress=not TINY)
latest = inspect.load(WORKDIR)
print(f'{WORKDIR}: checkpoints at steps {latest.steps}')
print(inspect.table(latest, members=range(min(4, len(latest.results)))))
'''),
    new_code_cell('''\
# Restore several checkpoints and re-evaluate every member at each.
steps = latest.steps if len(latest.steps) <= 6 else latest.steps[::len(latest.steps) // 6]
restored = {s: inspect.load(WORKDIR, step=s) for s in steps}
member = len(latest.results) - 1  # the widest member (seed of the last row)
score_SxK = np.array([restored[s].results[member]['task_score'] for s in steps])
fig, ax = plt.subplots(figsize=(7, 3.5))
for k in range(score_SxK.shape[1]):
    ax.plot(steps, score_SxK[:, k], color=plt.cm.plasma(k / score_SxK.shape[1]))
ax.set_xlabel('checkpoint step'); ax.set_ylabel('ℓ_k'); ax.set_title(f'member {member}: per-task ℓ_k from checkpoints')
plt.show()
'''),
    new_code_cell('''\
# Neuron allocation (which task each hidden unit serves) and gradient metrics over training.
folder = os.path.join(WORKDIR, 'measurements')
last = max(os.listdir(folder), key=lambda n: int(n.split('.')[0]))
share = np.load(os.path.join(folder, last))['unit_share'][member]  # [units, tasks]
rows = [r for r in wd.read_metrics(WORKDIR) if r['member'] == member and 'grad_norm_probe' in r]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
width = latest.results[member]['width']
axes[0].imshow(share[:width].T, aspect='auto', cmap='magma'); axes[0].set_xlabel('hidden unit'); axes[0].set_ylabel('task')
axes[0].set_title('unit share per task (last measurement)')
axes[1].semilogy([r['step'] for r in rows], [r['grad_norm_probe'] for r in rows]); axes[1].set_xlabel('step')
axes[1].set_title('per-task gradient norms')
plt.show()
'''),
    new_code_cell('''\
RESULTS = {'steps': steps, 'member': member,
           'task_score': {str(s): restored[s].results[member]['task_score'] for s in steps},
           'units_share_sum': float(share[:width].sum())}
print(json.dumps(RESULTS))
'''),
]


def main():
  for name, cells in (('quickstart', QUICKSTART), ('inspect_checkpoint', INSPECT)):
    nb = new_notebook(cells=cells, metadata={
        'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
        'accelerator': 'TPU', 'colab': {'provenance': []}})
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding changes only what was edited
      cell.id = f'{name}-{i}'
    nbformat.write(nb, os.path.join(HERE, f'{name}.ipynb'))
    print(f'wrote colabs/{name}.ipynb')


if __name__ == '__main__':
  main()
