"""How the member axis is executed: padded, bucketed or packed — the same numbers either way.

Every caller (run loop, checkpoints, measurements, ``inspect``) sees one state: members on a
leading axis M, each stored at the population's largest width W with exact zeros beyond its own
width. A layout is how ``vmapped.make_chunk`` *trains* that state; it converts inside the
jitted chunk and converts back, so it never shows in files or metrics.

- ``padded``: one vmap over all members at width W — M·W hidden units of compute.
- ``bucketed``: members grouped by width (a group's widths within ``bucket_factor`` of its
  smallest); each group is cropped to its own largest width W_g and vmapped — Σ_g M_g·W_g units.
  The crop only drops entries that are exactly 0, so a member's trajectory is unchanged. Works
  for every model (any depth, per-member data).
- ``packed`` (one hidden layer, members sharing their batches): the members are laid side by
  side in one hidden layer of U = Σ w_m units; member m owns units [o_m, o_m + w_m) and its own
  output block, and the loss is the sum of the members' losses. No parameter feeds two members,
  so each member's gradient is its standalone gradient, and the optimizers being element-wise
  (one update of the packed tree: ``packed_update``), its trajectory is a standalone model's — at
  Σ w_m units of compute. Runs of members narrower than ``SOLO_UNITS`` share one hidden matmul;
  a wider member has its own (``Packing.runs``).
  With few outputs (M·O ≤ D, the sparse-parity classifiers' O = 2) all members share one hidden
  matmul and one block-diagonal output matmul (``Packing.block``).
- ``auto``: packed where it applies, else bucketed.

A chunk's evaluation (``evaluator``) crops each member as its layout trains it: to its own
width when packed, to its bucket's when bucketed.

Results agree across layouts to float32 rounding (sums run in a different order); the tests
compare every member's parameters and losses.

Shape letters (rarelearn/__init__.py): M members, W padded width, U packed units, B batch, D
input/output dimension, O outputs.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rarelearn.core import optim
from rarelearn.models import mlp
from rarelearn.population import mlp_training

LAYOUTS = ('auto', 'padded', 'bucketed', 'packed')
# packed: a member this wide gets its own hidden matmul (2-core CPU, batch 4,096, widths
# 256…4096: 1.05× the sequential loop this way, 0.996× with one matmul for all; the toy's widths
# 8…256 train ~15% faster sharing one matmul than each with its own)
SOLO_UNITS = 512


def packable(depth: int, shared_data: bool) -> bool:
  return depth == 1 and shared_data


def resolve(layout: str, depth: int, shared_data: bool, sharded: bool = False) -> str:
  """The layout ``auto`` stands for (bucketed when the members are split over devices: packed
  units of different members would share a device); ValueError if ``packed`` cannot be
  honoured."""
  if layout not in LAYOUTS:
    raise ValueError(f'unknown layout {layout!r}; expected one of {LAYOUTS}')
  if layout == 'packed' and not packable(depth, shared_data):
    raise ValueError('the packed layout needs one hidden layer (model.depth=1) and members that '
                     'share their batches (no swept frequency or gap)')
  if layout == 'auto':
    return 'packed' if packable(depth, shared_data) and not sharded else 'bucketed'
  return layout


def buckets(widths, factor: float) -> list[np.ndarray]:
  """Member indices grouped so that each group's widths lie within ``factor`` of its smallest
  (greedy over the sorted distinct widths); factor ≤ 1 gives one group per distinct width."""
  widths = np.asarray(widths)
  groups, start = [], None
  for w in np.unique(widths):
    if start is None or w > start * max(factor, 1.0) or (factor <= 1.0 and w != start):
      groups.append([])
      start = w
    groups[-1].extend(np.flatnonzero(widths == w).tolist())
  return [np.asarray(g) for g in groups]


def padded_units(widths, layout: str, factor: float) -> int:
  """Hidden units computed per step under ``layout`` (the cost the layout pays)."""
  widths = np.asarray(widths)
  if layout == 'packed':
    return int(widths.sum())
  if layout == 'bucketed':
    return int(sum(len(g) * widths[g].max() for g in buckets(widths, factor)))
  return int(len(widths) * widths.max())


# ---------------------------------------------------------------------------------------------
# The trainers: (state_M, data_key, first_step, member_M, spec, mix, num_steps, into=None) →
# (state_M, each step's loss [M, num_steps]); ``into`` = (losses [M, num_steps] so far, offset,
# count) runs steps offset … offset + count − 1 of the chunk only (``mlp_training.run_steps``)

def member_axes(spec, mixture_axis):
  """vmap axes of (spec, mix): with a schedule per member (``mixture_axis`` 0) the spec's
  ``log_freqs_K`` is [M, K] too, each member's own long-run π."""
  if mixture_axis is None:
    return None, None
  return jax.tree.map(lambda _: None, spec).replace(log_freqs_K=0), mixture_axis


def padded_trainer(hp: mlp_training.Hyper, mixture_axis: int | None) -> Callable:
  def run(state, data_key, first, member, spec, mix, num_steps, into=None):
    spec_axes, mix_axis = member_axes(spec, mixture_axis)
    if into is None:
      one = lambda s, m, sp, mx: mlp_training.train_steps(s, data_key, first, m, sp, hp,
                                                          num_steps, mx)
      return jax.vmap(one, in_axes=(0, 0, spec_axes, mix_axis))(state, member, spec, mix)
    losses, offset, count = into
    one = lambda s, m, sp, mx, ls: mlp_training.train_steps(s, data_key, first, m, sp, hp,
                                                            num_steps, mx, (ls, offset, count))
    return jax.vmap(one, in_axes=(0, 0, spec_axes, mix_axis, 0))(state, member, spec, mix,
                                                                 losses)
  return run


def _crop(tree, shapes):
  return jax.tree.map(lambda a, s: a[(slice(None),) + tuple(slice(0, n) for n in s.shape)],
                      tree, shapes)


def _uncrop(tree, full):
  return jax.tree.map(lambda a, f: jnp.pad(a, [(0, 0)] + [(0, n - k) for n, k in
                                                          zip(f.shape[1:], a.shape[1:])]),
                      tree, full)


def _plans(widths, factor: float, hp: mlp_training.Hyper) -> list:
  """[(member indices, one member's state shapes at the group's largest width)] per bucket."""
  return [(g, jax.eval_shape(lambda w=int(np.asarray(widths)[g].max()): mlp_training.init_state(
      jax.random.key(0), 1, hp, w))) for g in buckets(widths, factor)]


def _by_groups(fn, plans, mixture_axis, state, member, spec, mix, *per_member):
  """fn(state cropped to the group's width, member, spec, mix, *per_member) for every group of
  ``plans`` (``per_member``: more arrays with a member axis), the results joined back in member
  order."""
  take = lambda tree, g: jax.tree.map(lambda a: a[g], tree)
  outs = []
  for g, shapes in plans:
    spec_g, mix_g = spec, mix
    if mixture_axis == 0:  # each member its own π and schedule
      spec_g, mix_g = spec.replace(log_freqs_K=spec.log_freqs_K[g]), take(mix, g)
    outs.append(fn(_crop(take(state, g), shapes), take(member, g), spec_g, mix_g,
                   *take(per_member, g)))
  inverse = np.argsort(np.concatenate([g for g, _ in plans]))
  return jax.tree.map(lambda *a: jnp.concatenate(a)[inverse], *outs)


def bucketed_trainer(hp: mlp_training.Hyper, mixture_axis: int | None, widths,
                     factor: float) -> Callable:
  """One padded vmap per width bucket, each at its own largest width, in one program."""
  plans = _plans(widths, factor, hp)
  trainer = padded_trainer(hp, mixture_axis)  # the padded width is read from the shapes

  def run(state, data_key, first, member, spec, mix, num_steps, into=None):
    def group(sub, member, spec, mix, *losses):
      sub, loss = trainer(sub, data_key, first, member, spec, mix, num_steps,
                          into and (losses[0], *into[1:]))
      return _uncrop(sub, state), loss
    return _by_groups(group, plans, mixture_axis, state, member, spec, mix,
                      *([] if into is None else [into[0]]))
  return run


def evaluator(layout: str, hp: mlp_training.Hyper, mixture_axis: int | None, widths,
              bucket_factor: float = 2.0, sharded: bool = False) -> Callable:
  """(state, member, spec, eval_batch) → [M, K] ``mlp_training.task_losses`` of every member, each
  computed at the width its layout trains it at: its own (packed), its bucket's (bucketed) or
  the largest (padded). Cropping drops exact zeros only."""
  layout = resolve(layout, hp.depth, mixture_axis is None, sharded)

  def vmapped(state, member, spec, eval_batch):
    spec_axes, _ = member_axes(spec, mixture_axis)
    return jax.vmap(lambda s, m, sp: mlp_training.task_losses(s.params, m, sp, eval_batch, hp),
                    in_axes=(0, 0, spec_axes))(state, member, spec)
  if layout == 'padded':
    return vmapped
  plans = _plans(widths, 1.0 if layout == 'packed' else bucket_factor, hp)
  return lambda state, member, spec, eval_batch: _by_groups(
      lambda s, m, sp, *_: vmapped(s, m, sp, eval_batch), plans, mixture_axis, state, member,
      spec, None)


# ---------------------------------------------------------------------------------------------
# Packing (one hidden layer): padded member params [M, W, …] ↔ side-by-side units [U, …].

@dataclasses.dataclass(frozen=True)
class Packing:
  widths: tuple[int, ...]
  # One block-diagonal output matmul for all members (``_block_losses``) instead of one small
  # product each: chosen when the block costs at most the hidden layer (M·O ≤ D), as for the
  # sparse-parity classifiers (O = 2), whose [w, B]·[B, 2] gradient products are slow on CPU.
  block: bool = False

  @property
  def offsets(self) -> np.ndarray:  # [M] each member's first packed unit
    return np.concatenate([[0], np.cumsum(self.widths)[:-1]]).astype(int)

  def runs(self) -> list[list[int]]:
    """Consecutive members whose hidden units are computed by one matmul: a member of at least
    ``SOLO_UNITS`` units alone (its matmul is large enough by itself, and slicing its share out
    of a shared product would cost a copy of its activations), runs of smaller ones together;
    all members in one with a block output (nothing is sliced)."""
    if self.block:
      return [list(range(len(self.widths)))]
    out = []
    for m, w in enumerate(self.widths):
      if w >= SOLO_UNITS or not out or self.widths[out[-1][-1]] >= SOLO_UNITS:
        out.append([m])
      else:
        out[-1].append(m)
    return out


def _kind(path) -> str | None:
  """Which parameter a leaf of a params-shaped tree (params, Adam moments, …) belongs to:
  'hidden.w' [W, D], 'hidden.b' [W], 'out.w' [D, W], 'out.b' [D]; None for other leaves
  (optimizer counters)."""
  names = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)]
  for part in ('hidden', 'out'):
    if part in names and names[-1] in ('w', 'b'):
      return f'{part}.{names[-1]}'
  return None


def pack(tree, p: Packing):
  """Padded [M, …] params-shaped leaves → packed: hidden.w [U, D], hidden.b [U], out.w [U, D]
  (transposed), out.b [M, D]; other leaves (optimizer counters [M]) as they are."""
  def one(path, a):
    kind = _kind(path)
    if kind in ('hidden.w', 'hidden.b'):  # static slices: copies, no gather
      return jnp.concatenate([a[m, :w] for m, w in enumerate(p.widths)])
    if kind == 'out.w':
      return jnp.concatenate([a[m, :, :w].T for m, w in enumerate(p.widths)])
    return a
  return jax.tree_util.tree_map_with_path(one, tree)


def unpack(tree, like, p: Packing):
  """Packed → padded, shaped like ``like`` (zeros beyond each member's width)."""
  def one(path, a, old):
    kind = _kind(path)
    width_axis = {'hidden.w': 0, 'hidden.b': 0, 'out.w': 1}.get(kind)
    if width_axis is None:
      return a
    blocks = []  # static slices padded with zeros: copies, no scatter
    for o, w in zip(p.offsets, p.widths):
      block = a[o:o + w] if kind != 'out.w' else a[o:o + w].T
      pad = [(0, 0)] * block.ndim
      pad[width_axis] = (0, old.shape[1 + width_axis] - w)
      blocks.append(jnp.pad(block, pad))
    return jnp.stack(blocks)
  return jax.tree_util.tree_map_with_path(one, tree, like)


def packed_update(params, opt_state, diverged_M, grads, loss_M, step, lr_M, oh: optim.Hyper,
                  p: Packing):
  """``optim.update`` of every member's slice of a packed tree, as one element-wise update:
  equal to the member-by-member updates element for element, because the direction is
  element-wise (no clipping, no decay mask by rank) and healthy members share their step
  counter (a member's counter stops when it freezes, and a frozen member's update is rejected
  whatever it computes)."""
  if oh.clip or oh.decay != 'all':
    raise ValueError('the packed layout needs an element-wise optimizer (no clipping, decay on '
                     'all parameters)')
  # the member owning each row of a packed leaf: a unit's (hidden.w, hidden.b, out.w) or itself
  members = np.arange(len(p.widths))
  units = np.repeat(members, p.widths)
  rows = lambda path: units if _kind(path) in ('hidden.w', 'hidden.b', 'out.w') else members
  by_row = lambda v, path, a: v[rows(path)].reshape((-1,) + (1,) * (a.ndim - 1))
  healthy_M = diverged_M < 0
  shared = jax.tree_util.tree_map_with_path(  # the healthy members' counter
      lambda path, a: a if _kind(path) else jnp.max(jnp.where(healthy_M, a, 0)), opt_state)
  step_dir, new_opt = optim.direction(oh).update(grads, shared, params)
  eta_M = lr_M * optim.lr_multiplier(step, oh)
  new = jax.tree_util.tree_map_with_path(lambda path, a, u: a - by_row(eta_M, path, a) * u,
                                         params, step_dir)
  accept_M = healthy_M & jnp.isfinite(loss_M)
  for path, a in jax.tree_util.tree_flatten_with_path(new)[0]:
    accept_M &= jax.ops.segment_min(jnp.isfinite(a).reshape(a.shape[0], -1).all(axis=1),
                                    rows(path), len(p.widths), indices_are_sorted=True)
  params, opt_state = jax.tree_util.tree_map_with_path(
      lambda path, n, o: jnp.where(by_row(accept_M, path, o), jnp.broadcast_to(n, o.shape), o),
      (new, new_opt), (params, opt_state))
  return params, opt_state, jnp.where(healthy_M & ~accept_M, step, diverged_M).astype(jnp.int32)


def _block_product(h_BxU, w_UxO, p: Packing) -> jax.Array:
  """[B, M, O]: one matmul [B, U]·[U, M·O] whose block-diagonal matrix feeds member m's units
  into its own O columns only."""
  onehot_UxM = jnp.asarray(np.repeat(np.eye(len(p.widths)), p.widths, axis=0), w_UxO.dtype)
  block_UxMO = (onehot_UxM[:, :, None] * w_UxO[:, None, :]).reshape(w_UxO.shape[0], -1)
  return (h_BxU @ block_UxMO).reshape(h_BxU.shape[0], len(p.widths), -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _isolated_product(h_BxU, w_UxO, p: Packing) -> jax.Array:
  """``_block_product``, but a member whose activations are not finite gets a NaN prediction
  (its own model's would not be finite either) and adds exact zeros to the others' (in the plain
  product its 0·inf makes every member's NaN). The guard runs only when the product is not
  finite; the gradient is the plain product's, with none from the NaN predictions."""
  return _isolated_fwd(h_BxU, w_UxO, p)[0]


def _isolated_fwd(h_BxU, w_UxO, p: Packing):
  def guarded():
    finite_BxU = jnp.isfinite(h_BxU)
    bad_M = jnp.asarray([~finite_BxU[:, o:o + w].all() for o, w in zip(p.offsets, p.widths)])
    out = _block_product(jnp.where(finite_BxU, h_BxU, 0), w_UxO, p)
    return jnp.where(bad_M[:, None], jnp.nan, out), bad_M
  out = _block_product(h_BxU, w_UxO, p)
  out, bad_M = jax.lax.cond(jnp.isfinite(out).all(),
                            lambda: (out, jnp.zeros(len(p.widths), bool)), guarded)
  return out, (h_BxU, w_UxO, bad_M)


def _isolated_bwd(p: Packing, residuals, g_BxMxO):
  h_BxU, w_UxO, bad_M = residuals
  _, vjp = jax.vjp(lambda h, w: _block_product(h, w, p), h_BxU, w_UxO)
  return vjp(jnp.where(bad_M[:, None], 0, g_BxMxO))


_isolated_product.defvjp(_isolated_fwd, _isolated_bwd)


def _block_losses(h_BxU, out, batch, p: Packing, loss: str) -> jax.Array:
  """[M] every member's loss through one output matmul (``_isolated_product``)."""
  pred_BxMxO = (_isolated_product(h_BxU, out['w'], p) + out['b']).astype(jnp.float32)
  return jax.vmap(lambda pred: mlp_training.prediction_loss(pred, batch, loss), 1)(pred_BxMxO)


def packed_loss(params, batch, p: Packing, activation: str, compute_dtype: str = 'float32',
                loss: str = 'squared'):
  """(Σ_m L_m, L_M): each member's ``mlp_training.prediction_loss``, as ``mlp_training.loss_fn``."""
  params, x_BxD = mlp_training.in_compute_dtype(params, batch.x, compute_dtype)
  hidden, act = params['hidden'][0], mlp.ACTIVATIONS[activation]
  losses = []
  for run in p.runs():  # one hidden matmul per run of members
    start, stop = p.offsets[run[0]], p.offsets[run[-1]] + p.widths[run[-1]]
    h_BxR = act(x_BxD @ hidden['w'][start:stop].T + hidden['b'][start:stop])
    if p.block:  # one run of all members
      losses.append(_block_losses(h_BxR, params['out'], batch, p, loss))
      continue
    for m in run:  # each member's own output block
      o, w = p.offsets[m] - start, p.widths[m]
      h = h_BxR if len(run) == 1 else h_BxR[:, o:o + w]
      pred = (h @ params['out']['w'][start + o:start + o + w]
              + params['out']['b'][m]).astype(jnp.float32)  # [B, O]: no [B, M, O] concatenation
      losses.append(mlp_training.prediction_loss(pred, batch, loss)[None])
  loss_M = jnp.concatenate(losses)
  return jnp.sum(loss_M), loss_M


def packed_trainer(hp: mlp_training.Hyper, widths) -> Callable:
  """Trains the members side by side: the gradient of Σ_m L_m, then ``packed_update`` (the
  update and divergence freezing of ``mlp_training.train_step``, for every member at once)."""
  p = Packing(tuple(int(w) for w in widths),
              block=len(widths) * (hp.out_dim or hp.dim) <= hp.dim)

  def run(state, data_key, first, member, spec, mix, num_steps, into=None):
    def step_fn(carry, j):
      params, opt_state, diverged = carry
      step = first + j
      batch = mlp_training.batch_at(data_key, step, spec, hp, mix)
      grads, loss_M = jax.grad(packed_loss, has_aux=True)(params, batch, p, hp.activation,
                                                          hp.compute_dtype, hp.loss)
      return packed_update(params, opt_state, diverged, grads, loss_M, step, member.lr, hp.opt,
                           p), loss_M

    carry = (pack(state.params, p), pack(state.opt_state, p), state.diverged_at)
    (params, opt_state, diverged), losses_SxM = mlp_training.run_steps(
        step_fn, carry, num_steps, into and (into[0].T, *into[1:]))
    state = mlp_training.TrainState(unpack(params, state.params, p),
                                    unpack(opt_state, state.opt_state, p), diverged)
    return state, losses_SxM.T
  return run


def trainer(layout: str, hp: mlp_training.Hyper, mixture_axis: int | None, widths,
            bucket_factor: float = 2.0, sharded: bool = False) -> Callable:
  """The population trainer for a resolved or 'auto' layout."""
  layout = resolve(layout, hp.depth, mixture_axis is None, sharded)
  if layout == 'packed':
    return packed_trainer(hp, widths)
  if layout == 'bucketed':
    return bucketed_trainer(hp, mixture_axis, widths, bucket_factor)
  return padded_trainer(hp, mixture_axis)
