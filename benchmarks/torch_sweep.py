"""The sweep as a researcher would write it in PyTorch: a Python loop over the members.

Used by ``python -m rarelearn.bench`` for ``speedup_vs_torch`` (optional: install
``torch==2.13.0``, the CPU build, with ``pip install -e '.[bench]'``). Each member is
``nn.Sequential(nn.Linear(D, N), activation, nn.Linear(N, D))`` trained with ``torch.optim.Adam``
in float32 on fresh Gaussian inputs of the same batch size, for the same number of steps: the
same FLOPs and data sizes as the jitted population (the block toy's targets are its inputs).

    python benchmarks/torch_sweep.py --widths=8,16,32,64,128,256 --dim=256 --batch=256 --steps=250
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def seconds(widths, dim: int, batch: int, steps: int, lr: float = 1e-2,
            activation: str = 'linear', repeats: int = 3, classes: int = 0) -> float | None:
  """Median seconds to train every member ``steps`` steps, one after another (None without
  torch). ``classes`` > 0: a classifier D → N → classes with cross-entropy on random 0/1
  inputs and labels (the sparse-parity peer's shapes) instead of the regression D → N → D."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  torch.set_num_threads(os.cpu_count() or 1)
  act = {'linear': torch.nn.Identity, 'relu': torch.nn.ReLU, 'gelu': torch.nn.GELU}[activation]
  total = 0.0
  for width in widths:
    model = torch.nn.Sequential(torch.nn.Linear(dim, width), act(),
                                torch.nn.Linear(width, classes or dim))
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def train(model=model, opt=opt):
      for _ in range(steps):
        if classes:
          x = torch.randint(0, 2, (batch, dim)).float()
          loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, classes, (batch,)))
        else:
          x = torch.randn(batch, dim)
          loss = ((model(x) - x) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    train()  # warm-up
    times = []
    for _ in range(repeats):
      t = time.perf_counter()
      train()
      times.append(time.perf_counter() - t)
    total += statistics.median(times)
  return total


if __name__ == '__main__':
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--widths', default='8,16,32,64,128,256')
  parser.add_argument('--dim', type=int, default=256)
  parser.add_argument('--batch', type=int, default=256)
  parser.add_argument('--steps', type=int, default=250)
  args = parser.parse_args()
  s = seconds([int(w) for w in args.widths.split(',')], args.dim, args.batch, args.steps)
  print('torch not installed' if s is None else f'{args.steps / s:.1f} steps/s for the sweep')
