"""The CPU smoke ladder trained whole and in programs of one member with offloaded states
(``model.group_size=1``, ``train.offload=True``): the largest difference of the final
evaluation, and whether a run stopped after one chunk and resumed equals the uninterrupted
grouped run. Writes docs/results/ladder_groups_<date>.json (docs/scale.md, "Running on many
devices").

    python benchmarks/ladder_groups.py
"""
import datetime
import os
import platform
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import rarelearn
from rarelearn import expt
from rarelearn.core import configlib
from rarelearn.population import ladder
from rarelearn.runtime import workdir  # pylint: disable=wrong-import-position


def main() -> None:
  spec = os.path.join(REPO, 'configs', 'olmo_tiny.py:smoke')
  whole = ladder.grid(rarelearn.train(configlib.load_config_file(spec), progress=False))
  grouped = configlib.load_config_file(spec)
  grouped.model.group_size, grouped.train.offload = 1, True
  with tempfile.TemporaryDirectory() as tmp:
    full, resumed = os.path.join(tmp, 'full'), os.path.join(tmp, 'resumed')
    rarelearn.train(grouped, full, progress=False)
    rarelearn.train(grouped, resumed, progress=False, max_chunks=1)
    rarelearn.train(grouped, resumed, progress=False)
    final, again = workdir.read_summary(full)['final'], workdir.read_summary(resumed)['final']
  diff = max(float(np.max(np.abs(whole[k][..., -1].reshape(-1) - np.asarray(final[k]))))
             for k in ladder.COLUMNS)
  expt.write_results(os.path.join(REPO, 'docs', 'results'),
                     f'ladder_groups_{datetime.date.today()}', dict(
                         config='configs/olmo_tiny.py:smoke', command='python '
                         'benchmarks/ladder_groups.py', machine=platform.processor()
                         or platform.machine(), versions=workdir.provenance(),
                         columns=list(ladder.COLUMNS), max_abs_difference_whole_vs_grouped=diff,
                         resumed_equals_uninterrupted=final == again))


if __name__ == '__main__':
  main()
