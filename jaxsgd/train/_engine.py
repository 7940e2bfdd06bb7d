"""The one SGD step and the one shuffled mini-batch epoch, for one run or many: a leading
``(seeds, learning rates)`` runs axis.

A sweep of ``S`` seeds × ``L`` learning rates holds parameters of shape
``b: (S, L)``, ``w: (S, L, d)`` in one :class:`TrainState`. Each seed has its own
permutation of the rows per epoch; the ``L`` runs of a seed share it (common
random numbers: learning rates are compared on the same batches, and one gather
serves them all). :func:`jaxsgd.train.fit` is the case ``S = L = 1``.

The update is written once (:func:`step`): the gradient of
:func:`jaxsgd.model.mean_loss` over the batch by :func:`jax.grad`, then the
optimizer (plain SGD ``θ ← θ − α g`` by default). :func:`epoch` gathers each
seed's shuffled rows once and ``lax.scan``s over the batches; batching over runs
is ``jax.vmap`` (learning rates share the batch, seeds do not).

The order of the rows in each epoch comes from :func:`jaxsgd.train.permutations`
(a pure function of the key and the epoch), drawn ahead by a
:class:`~jaxsgd.train.Shuffler` while the current epoch runs.

>>> import jax.numpy as jnp, numpy as np
>>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
>>> y = (x[:, 0] > 0).astype(np.float32)
>>> runs = sweep(x, y, learning_rates=[0.5, 2.0], keys=np.array([[0, 1], [0, 2]], np.uint32), batch_size=8, epochs=2)
>>> runs.params.w.shape, runs.key.shape
((2, 2, 2), (2, 2))
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxsgd import checks
from jaxsgd.errors import InputError
from jaxsgd.model import init_params, mean_loss_of
from jaxsgd.train._optimizers import make_optimizer
from jaxsgd.train._shuffles import Shuffler


class TrainState(NamedTuple):
    """Everything a run needs to continue, for one run or ``S × L`` runs: a pytree, checkpointable as arrays.

    One run (:func:`jaxsgd.train.fit`): ``params`` as the model has them, ``key``
    its ``(2,)`` uint32 key data. ``S`` seeds × ``L`` learning rates
    (:func:`sweep`, the study): ``params`` and ``opt_state`` with leading
    ``(S, L)`` axes and ``key`` of shape ``(S, 2)``, one per seed. ``epoch``
    counts the epochs completed. Built by :meth:`create` or :meth:`create_runs`
    (the pattern of flax's ``TrainState.create``).

    Attributes:
      params: the model's parameters (a pytree; :class:`jaxsgd.model.Params`
        for the neuron), with leading ``(S, L)`` axes for many runs.
      opt_state: the optimizer's state, its learning rate in
        ``hyperparams["learning_rate"]``; leading ``(S, L)`` axes for many runs.
      key: uint32 PRNG key data, ``(2,)`` for one run, ``(S, 2)`` for ``S``
        seeds; with the epoch number it fixes each epoch's shuffle
        (:func:`jaxsgd.train.permutations`).
      epoch: int32 scalar, the epochs completed.

    Example:
      >>> state = TrainState.create(init_params(2), optimizer=make_optimizer("sgd"), key=jax.random.key(0))
      >>> runs = state.as_runs()   # one run as the S = L = 1 case of many
      >>> runs.params.w.shape, runs.key.shape, runs.run().params.w.shape, int(runs.epoch)
      ((1, 1, 2), (1, 2), (2,), 0)
    """

    params: Any
    opt_state: Any
    key: jax.Array  # uint32 key data: (2,) for one run, (S, 2) for S seeds
    epoch: jax.Array  # int32, epochs completed

    @classmethod
    def create(cls, params, *, optimizer, key, learning_rate=None) -> TrainState:
        """One run from ``params``; ``learning_rate`` (if given) replaces the optimizer's injected rate.

        Args:
          params: the initial parameters, any pytree of float arrays.
          optimizer: an optax ``GradientTransformation``; its ``init(params)``
            is the initial ``opt_state``.
          key: a typed PRNG key (``jax.random.key``) or its ``(2,)`` uint32 key data.
          learning_rate: α, put into the optimizer state by
            :func:`set_learning_rate` (default ``None``: the optimizer's own).

        Returns:
          A :class:`TrainState` at epoch 0 with ``key`` as ``(2,)`` uint32 key data.

        Raises:
          InputError: ``learning_rate`` is given but the optimizer has no
            injected learning rate.

        Example:
          >>> s = TrainState.create(init_params(2), optimizer=make_optimizer("sgd"), key=jax.random.key(0))
          >>> int(s.epoch), s.key.shape
          (0, (2,))
        """
        opt_state = optimizer.init(params)
        if learning_rate is not None:
            opt_state = set_learning_rate(opt_state, learning_rate)
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        return cls(params, opt_state, jnp.asarray(key, jnp.uint32), jnp.zeros((), jnp.int32))

    @classmethod
    def create_runs(cls, d: int, keys, learning_rates, *, optimizer, dtype=jnp.float32, params=None) -> TrainState:
        """Every (seed, learning rate) run, from one starting point or one per seed.

        Args:
          d: the number of features (used for the default θ = 0).
          keys: ``(S, 2)`` uint32 key data, one key per seed.
          learning_rates: the ``L`` learning rates α, put into each run's optimizer state.
          optimizer: an optax ``GradientTransformation`` whose learning rate is injected.
          dtype: the dtype of the default parameters and of the learning rates
            (default float32).
          params: one run's pytree, the start of every run (default ``None``:
            the neuron's θ = 0), or a callable ``seed index -> params`` giving
            each seed its own start.

        Returns:
          A :class:`TrainState` with leading ``(S, L)`` axes on ``params`` and
          ``opt_state``, ``key`` of shape ``(S, 2)`` and ``epoch`` 0.

        Example:
          >>> keys = np.array([[0, 1], [0, 2]], np.uint32)
          >>> runs = TrainState.create_runs(2, keys, [0.5, 2.0], optimizer=make_optimizer("sgd"))
          >>> runs.params.w.shape, runs.opt_state.hyperparams["learning_rate"].tolist()
          ((2, 2, 2), [[0.5, 2.0], [0.5, 2.0]])
        """
        keys = jnp.asarray(keys, jnp.uint32)
        lrs = jnp.asarray(learning_rates, dtype)
        s, n_lr = keys.shape[0], lrs.shape[0]
        if callable(params):
            per_seed = [params(i) for i in range(s)]
            params = jax.tree.map(lambda *a: jnp.broadcast_to(jnp.stack(a)[:, None], (s, n_lr, *a[0].shape)),
                                  *per_seed)
        else:
            params = init_params(d, dtype) if params is None else params
            params = jax.tree.map(lambda a: jnp.broadcast_to(jnp.asarray(a), (s, n_lr, *jnp.shape(a))), params)
        per_lr = jax.vmap(lambda p, a: set_learning_rate(optimizer.init(p), a), in_axes=(0, 0))
        opt_state = jax.vmap(per_lr, in_axes=(0, None))(params, lrs)
        return cls(params, opt_state, keys, jnp.zeros((), jnp.int32))

    def as_runs(self) -> TrainState:
        """One run as the ``S = L = 1`` case of many (a leading ``(1, 1)`` on parameters and state).

        Returns:
          A :class:`TrainState` with leading ``(1, 1)`` axes on ``params`` and
          ``opt_state`` and ``key`` of shape ``(1, 2)``; :meth:`run` undoes it.
        """
        one = functools.partial(jax.tree.map, lambda a: jnp.asarray(a)[None, None])
        return TrainState(one(self.params), one(self.opt_state), jnp.asarray(self.key, jnp.uint32)[None], self.epoch)

    def run(self, seed: int = 0, lr: int = 0) -> TrainState:
        """Run ``(seed, lr)`` of many, as one run.

        Args:
          seed: the index of the seed, along the first axis (default 0).
          lr: the index of the learning rate, along the second axis (default 0).

        Returns:
          A :class:`TrainState` of one run: ``params[seed, lr]``,
          ``opt_state[seed, lr]`` and ``key[seed]``, at the same epoch.
        """
        pick = functools.partial(jax.tree.map, lambda a: a[seed, lr])
        return TrainState(pick(self.params), pick(self.opt_state), self.key[seed], self.epoch)


def step(optimizer: optax.GradientTransformation, params, opt_state, xt, y, loss=None):
    r"""The SGD step, every run's: ``g = (1/B) Σᵢ ∇Lᵢ(θ)`` by :func:`jax.grad` of the batch mean, then the optimizer.

    .. math::

      g = ∇_θ \frac{1}{B} \sum_{i=1}^{B} L(θ; x_i, y_i), \qquad θ ← θ − α g

    The second half is the default optimizer's (the exercise's rule); any optax
    optimizer replaces it with its own ``update``. Pure, and jit-able with
    ``optimizer`` and ``loss`` static.

    Args:
      optimizer: an optax ``GradientTransformation`` (e.g.
        :func:`jaxsgd.train.make_optimizer`).
      params: the parameters θ, a pytree (:class:`jaxsgd.model.Params` for the neuron).
      opt_state: the optimizer's state for ``params``; it holds α.
      xt: the batch's features, feature-major ``(d, B)``.
      y: its targets ``(B,)``.
      loss: the per-example loss ``loss(params, x, y) -> scalar`` (default
        ``None``: the neuron's, :func:`jaxsgd.model.example_loss`; see
        :func:`jaxsgd.model.mean_loss_of`).

    Returns:
      ``(params, opt_state)`` after the step: the same pytree structures as given.

    Example:
      >>> opt = make_optimizer("sgd")
      >>> p = init_params(1)
      >>> jstep = jax.jit(step, static_argnums=0)   # the optimizer is static, α is not
      >>> p1, _ = jstep(opt, p, set_learning_rate(opt.init(p), 2.0), jnp.array([[1.0]]), jnp.array([1.0]))
      >>> float(p1.b), float(p1.w[0])   # gradient −(1 − ½)·¼ = −⅛ on both
      (0.25, 0.25)
    """
    g = jax.grad(mean_loss_of(loss))(params, xt, y)
    updates, opt_state = optimizer.update(g, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def runs_step(optimizer, loss=None):
    """:func:`step` for ``(S, L)`` runs: ``(params, opt_state, xt (S, d, B), y (S, B)) -> (params, opt_state)``.

    ``jax.vmap`` of :func:`step` twice: over the ``L`` learning rates, which
    share their seed's batch, then over the ``S`` seeds, each with its own.

    Args:
      optimizer: an optax ``GradientTransformation`` whose learning rate is injected.
      loss: the per-example loss, as :func:`step` takes it (default ``None``: the neuron's).

    Returns:
      A function ``(params, opt_state, xt, y) -> (params, opt_state)``:
      ``params`` and ``opt_state`` with leading ``(S, L)`` axes, ``xt`` of
      shape ``(S, d, B)``, ``y`` of shape ``(S, B)``.

    Example:
      >>> opt = make_optimizer("sgd")
      >>> runs = TrainState.create_runs(1, np.array([[0, 7]], np.uint32), [2.0, 4.0], optimizer=opt)
      >>> params, _ = jax.jit(runs_step(opt))(runs.params, runs.opt_state, jnp.ones((1, 1, 1)), jnp.ones((1, 1)))
      >>> params.b.tolist()   # α·⅛ for each learning rate
      [[0.25, 0.5]]
    """
    one = functools.partial(step, optimizer, loss=loss)
    per_lr = jax.vmap(one, in_axes=(0, 0, None, None))  # learning rates share the batch
    whole = jax.vmap(per_lr, in_axes=(0, 0, 0, 0))  # seeds do not
    mean = mean_loss_of(loss)
    if mean is mean_loss_of(None):
        return whole
    # any other model: a large batch's gradient over blocks of its rows, so that every run's activations of
    # one block stay in the cache (48 runs of mlp:16 at B = 4096 on one core: 21 ms a step in one piece,
    # 4 ms in blocks of 512)
    grads = jax.vmap(jax.vmap(jax.grad(mean), in_axes=(0, None, None)), in_axes=(0, 0, 0))

    def update(g, opt_state, params):
        updates, opt_state = optimizer.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    updates = jax.vmap(jax.vmap(update))

    def blocked(params, opt_state, xt, y):
        block = _row_block(params, xt.shape[-1], floats=_GRAD_BLOCK_FLOATS)
        if block >= xt.shape[-1]:
            return whole(params, opt_state, xt, y)
        return updates(_in_row_blocks(lambda xb, yb: grads(params, xb, yb), xt, y, block), opt_state, params)

    return blocked


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` with its injected learning rate replaced (a runtime value: no recompile).

    Args:
      opt_state: the state of an optimizer with an injected learning rate
        (:func:`jaxsgd.train.make_optimizer`, ``optax.inject_hyperparams``).
      learning_rate: the new α, a scalar (cast to the state's dtype), or an
        array inside ``jax.vmap``.

    Returns:
      ``opt_state`` of the same structure, ``hyperparams["learning_rate"]`` replaced.

    Raises:
      InputError: ``opt_state`` has no injected learning rate (no ``hyperparams``).

    Example:
      >>> opt = make_optimizer("sgd")
      >>> state = set_learning_rate(opt.init(init_params(2)), 0.125)
      >>> float(state.hyperparams["learning_rate"])
      0.125
      >>> set_learning_rate(optax.sgd(0.1).init(init_params(2)), 0.125)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: learning_rate was given but the optimizer has no injected learning rate; ...
    """
    if not hasattr(opt_state, "hyperparams"):
        raise InputError(lambda n: f"{n('learning_rate')} was given but the optimizer has no injected learning "
                                   "rate; pass optimizer=optax.inject_hyperparams(...)(learning_rate=...) or leave "
                                   "it out")
    hp = dict(opt_state.hyperparams)
    hp["learning_rate"] = jnp.asarray(learning_rate, jnp.result_type(hp["learning_rate"]))
    return opt_state._replace(hyperparams=hp)


def runs_loss(params, xt, y, loss=None):
    r"""``(S, L)`` full-data losses of every run over ``xt (d, N)``, ``y (N,)``.

    :func:`jaxsgd.model.mean_loss_of` ``(loss)``, ``jax.vmap``-ed over both runs axes. For a
    model other than the neuron the rows are taken in blocks (a power of two, runs × rows × √(parameters per run)
    about 2²¹ floats)
    (``lax.scan``), so that the activations of all runs over one block stay in the cache:

    .. math::

        \bar L = \frac{1}{N}\Big(\sum_{k} |R_k|\, \bar L_{R_k}\Big), \qquad
        R_k \text{ the blocks of rows}

    An MLP's whole-data activations (runs × rows × width floats) are otherwise written to
    memory and read back at every evaluation: 72 runs of ``mlp:16`` over 20,433 rows took
    about 100 ms an evaluation in one piece and 15–25 ms in blocks on a 2-core CPU, and
    over 100,000 rows 7.6 s against 0.12 s. The neuron's one matrix product is kept whole
    (bit-for-bit as before).

    Args:
      params: the runs' parameters, leading ``(S, L)`` axes.
      xt: features, feature-major ``(d, N)``, the same for every run.
      y: targets ``(N,)``.
      loss: the per-example loss, as :func:`step` takes it (default ``None``: the neuron's).

    Returns:
      An ``(S, L)`` array of mean losses, in the parameters' dtype.

    Example:
      >>> runs = TrainState.create_runs(2, np.array([[0, 1], [0, 2]], np.uint32), [0.5, 2.0],
      ...                               optimizer=make_optimizer("sgd"))
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> jax.jit(runs_loss)(runs.params, jnp.asarray(x.T), jnp.asarray(y)).tolist()   # θ = 0: ½(y − ½)² = ⅛
      [[0.125, 0.125], [0.125, 0.125]]
    """
    mean = mean_loss_of(loss)
    of_runs = jax.vmap(jax.vmap(mean, in_axes=(0, None, None)), in_axes=(0, None, None))
    n = xt.shape[1]
    block = n if mean is mean_loss_of(None) else _row_block(params, n)
    return _in_row_blocks(lambda xb, yb: of_runs(params, xb, yb), xt, y, block)


def _in_row_blocks(f, xt, y, block: int):
    """``Σₖ |Rₖ| f(x_{Rₖ}, y_{Rₖ}) / N`` over blocks ``Rₖ`` of ``block`` rows (the last one shorter): the mean
    of a per-block mean ``f`` (any pytree of arrays, e.g. a loss and its gradient), one ``lax.scan`` over the
    blocks; ``f(xt, y)`` itself where one block holds every row. The rows are the last axis of ``xt``
    (``(d, N)``, or ``(S, d, N)`` for seeds with batches of their own) and of ``y``."""
    n = xt.shape[-1]
    if block >= n:
        return f(xt, y)
    whole, rest = divmod(n, block)

    def blocks(a):
        return jnp.moveaxis(a[..., :whole * block].reshape(*a.shape[:-1], whole, block), -2, 0)

    def add(total, rows):
        return jax.tree.map(jnp.add, total, f(*rows)), None

    xs, ys = blocks(xt), blocks(y)
    total, _ = lax.scan(add, f(xs[0], ys[0]), (xs[1:], ys[1:]))
    total = jax.tree.map(lambda a: a * block, total)
    if rest:
        total = jax.tree.map(lambda a, b: a + b * rest, total, f(xt[..., whole * block:], y[..., whole * block:]))
    return jax.tree.map(lambda a: a / n, total)


_ROW_BLOCK_FLOATS = 1 << 21  # activations of all runs over one block of rows: 8 MB of float32, within a CPU's L3
_GRAD_BLOCK_FLOATS = 1 << 18  # a gradient keeps the forward activations and their cotangents: smaller blocks


def _row_block(params, n: int, run_axes: int = 2, floats: int = 0) -> int:
    """Rows per block in :func:`runs_loss` for runs with parameters ``params`` (``run_axes`` leading axes of
    runs: ``(S, L)`` by default).

    A power of two, at least 512 (below that the scan's steps cost more than the cache saves) and at most
    ``n``, with runs × rows × width about
    ``_ROW_BLOCK_FLOATS``, the width of an activation taken as the square root of
    the parameters per run (161 for ``mlp:16`` on 8 features: 12.7; the true width is 16).

    Args:
      params: the runs' parameters, leading ``(S, L)`` axes (arrays or shape structs).
      n: the number of rows.
      run_axes: how many leading axes of ``params`` are runs (default 2).
      floats: the target instead of ``_ROW_BLOCK_FLOATS`` (default 0: that one); a gradient keeps
        more activations per row than a loss, so it takes a smaller block.

    Returns:
      The rows per block, ``n`` where one block takes them all.

    Example:
      >>> from jaxsgd import model
      >>> m = model.mlp((16,))
      >>> runs = jax.vmap(jax.vmap(lambda k: m.init(k, 8)))(jax.random.split(jax.random.key(0), (8, 9)))
      >>> _row_block(runs, 20433)
      2048
    """
    leaves = jax.tree.leaves(params)
    runs = int(np.prod(leaves[0].shape[:run_axes])) if leaves and leaves[0].ndim >= run_axes else 1
    per_run = sum(int(np.prod(leaf.shape)) for leaf in leaves) / max(runs, 1)
    width = max(1.0, per_run ** 0.5)
    rows = (floats or _ROW_BLOCK_FLOATS) / (runs * width)
    block = 1 << max(9, int(np.floor(np.log2(max(rows, 1.0)))))
    return min(block, n)


def shuffled_batches(perms, rows, batch_size: int):
    """Each seed's rows in its shuffled order, cut into full batches, feature-major.

    One gather per seed (``rows[perms]``), then a reshape: batch ``k`` of seed
    ``s`` is the rows ``perms[s, kB:(k + 1)B]``. Traceable, and numpy arrays in
    give numpy arrays out.

    Args:
      perms: ``(S, N)`` int permutations of the rows, one per seed
        (:func:`jaxsgd.train.permutations`).
      rows: ``(N, d + 1)`` rows ``[x | y]`` (:func:`rows_of`).
      batch_size: ``B``; the ``nb = N // B`` full batches are cut.

    Returns:
      ``(xs, ys, shuffled)``: ``xs`` of shape ``(nb, S, d, B)``, ``ys`` of shape
      ``(nb, S, B)``, and the shuffled rows ``(S, N, d + 1)`` (for a last partial batch).

    Example:
      >>> rows = np.arange(18.0).reshape(6, 3)   # six rows [x1, x2 | y]
      >>> xs, ys, shuffled = shuffled_batches(np.array([[5, 4, 3, 2, 1, 0]]), rows, 4)
      >>> xs.shape, ys.tolist(), shuffled.shape   # one full batch of 4; rows 1 and 0 left over
      ((1, 1, 2, 4), [[[17.0, 14.0, 11.0, 8.0]]], (1, 6, 3))
    """
    n, d = rows.shape[0], rows.shape[1] - 1
    nb = n // batch_size
    shuffled = rows[perms]
    body = shuffled[:, :nb * batch_size].reshape(perms.shape[0], nb, batch_size, d + 1).transpose(1, 0, 3, 2)
    return body[:, :, :d], body[:, :, d], shuffled


def _shard(a, mesh, spec):
    if mesh is None:
        return a
    return lax.with_sharding_constraint(a, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec)))


UNROLL = 2  # steps per iteration of the epoch's scan; scripts/bench.py --only unroll measures the choice


@functools.partial(jax.jit, static_argnames=("optimizer", "batch_size", "drop_last", "mesh", "trace", "loss",
                                             "unroll", "native"))
def epoch(runs: TrainState, perms, rows, *, optimizer, batch_size: int, drop_last: bool = True, mesh=None,
          trace: bool = False, loss=None, unroll: int = UNROLL, native: bool | None = None):
    r"""One epoch of every run: one compiled program over each seed's shuffled batches (a ``lax.scan`` of
    :func:`step`, or the native loop on a CPU).

    For every run ``(s, l)`` and every batch ``β`` of seed ``s``'s permutation
    in turn:

    .. math::

      θ_{s,l} ← θ_{s,l} − α_l \frac{1}{B} \sum_{i ∈ β} ∇L_i(θ_{s,l})

    (with the default optimizer). Shapes, optimizer, batch size, the mesh,
    ``trace`` and ``loss`` are static; learning rates (in the optimizer state),
    keys and data are runtime values, so changing them does not recompile.

    For the neuron with plain SGD (:func:`jaxsgd.train.runtime_sgd`, the default) on a CPU, in float32 or
    float64 and without a mesh, the epoch is one native call (a C++ loop built on first use,
    :mod:`jaxsgd.train._native`) instead of the scan: the same math, equal to the scan's up to rounding
    (the sums over a batch are vectorised), 1.1–3.7× the scan at B = 32 on a 2-core CPU. ``native=False``
    keeps the scan.

    Args:
      runs: the :class:`TrainState` of ``S × L`` runs (leading ``(S, L)`` axes).
      perms: ``(S, N)`` int32, this epoch's permutation of the rows per seed
        (:func:`jaxsgd.train.permutations`).
      rows: ``(N, d + 1)``, each row ``[x | y]`` (:func:`rows_of`).
      optimizer: the optax ``GradientTransformation`` the runs were created with.
      batch_size: ``B``, from 1 to ``N``.
      drop_last: drop the last ``N mod B`` shuffled rows (default ``True``) or
        take them as one smaller batch, with its own ``1/|β|`` weight.
      mesh: a ``jax.sharding.Mesh`` with a ``"batch"`` axis: every mini-batch
        is split over its devices (default ``None``: no sharding).
      trace: also return the parameters after every full batch (default ``False``).
      loss: the per-example loss, as :func:`step` takes it (default ``None``: the neuron's).
      unroll: steps per iteration of the scan (default :data:`UNROLL`).
      native: ``None`` (default): the native epoch wherever it applies and is available
        (:func:`jaxsgd.train._native.status`); ``False``: always the scan; ``True``: the native epoch, or an
        :class:`~jaxsgd.errors.InputError` saying why it cannot run.

    Returns:
      The new :class:`TrainState` (``epoch`` one more, ``key`` unchanged); with
      ``trace=True`` the pair ``(state, steps)``, ``steps`` the parameters
      after each of the ``N // B`` full batches (a leading steps axis before
      ``(S, L)``).

    Example:
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> keys, opt = np.array([[0, 1], [0, 2]], np.uint32), make_optimizer("sgd")
      >>> from jaxsgd.train import permutations
      >>> runs = TrainState.create_runs(2, keys, [0.5, 2.0], optimizer=opt)
      >>> new = epoch(runs, permutations(keys, 0, 64), rows_of(x, y), optimizer=opt, batch_size=8, drop_last=True,
      ...             loss=None)
      >>> int(new.epoch), new.params.w.shape
      (1, (2, 2, 2))
      >>> bool((np.asarray(new.params.w)[..., 0] > 0).all())   # y = [x1 > 0]: every run's w1 grew
      True
    """
    n, d = rows.shape[0], rows.shape[1] - 1
    if native is not False:
        from jaxsgd.model import Params
        from jaxsgd.train import _native

        p, perms_ok = runs.params, jnp.issubdtype(jnp.result_type(perms), jnp.integer)
        if (_native.applies(optimizer, loss, mesh, dtype=rows.dtype) and isinstance(p, Params) and perms_ok
                and p.w.ndim == 3 and jnp.shape(perms) == (p.w.shape[0], n) and p.w.shape[2] == d
                and 1 <= batch_size <= n and p.w.dtype == rows.dtype == p.b.dtype):
            return _native_epoch(runs, perms, rows, optimizer, batch_size, drop_last, trace)
        if native:
            raise InputError(lambda a: f"{a('native')}=True, but the native epoch does not apply here "
                                       f"({_native.status()}; it needs the neuron, plain SGD, float32 or "
                                       "float64, no mesh, on a CPU): leave native out")
    nb, rem = divmod(n, batch_size)
    xs, ys, shuffled = shuffled_batches(perms, rows, batch_size)
    update = runs_step(optimizer, loss)
    (params, opt_state), steps = _scan(update, runs, xs, ys, mesh, trace, unroll)
    if rem and not drop_last:  # the last partial batch, with its own 1/|batch| weight
        tail = shuffled[:, nb * batch_size:].transpose(0, 2, 1)
        params, opt_state = update(params, opt_state, _shard(tail[:, :d], mesh, (None, None, "batch")),
                                   _shard(tail[:, d], mesh, (None, "batch")))
    new = TrainState(params, opt_state, runs.key, runs.epoch + 1)
    return (new, steps) if trace else new


def _native_epoch(runs: TrainState, perms, rows, optimizer, batch_size, drop_last, trace):
    from jaxsgd.model import Params

    p = runs.params
    lr = runs.opt_state.hyperparams["learning_rate"]
    b, w, b_steps, w_steps = _native_run(optimizer, batch_size, drop_last, trace, p.b, p.w, lr, perms, rows)
    new = TrainState(Params(b, w), runs.opt_state, runs.key, runs.epoch + 1)
    return (new, Params(b_steps, w_steps)) if trace else new


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _native_run(optimizer, batch_size, drop_last, trace, b, w, lr, perms, rows):
    """The native epoch's ``(b, w, b_steps, w_steps)``; differentiated as the scan is (its JVP is the scan's:
    the same function up to rounding), so ``jax.grad`` and ``jax.jvp`` through an epoch work as before."""
    from jaxsgd.train import _native

    return _native.epoch_call(b, w, lr, perms, rows, batch_size=batch_size, drop_last=drop_last, trace=trace)


@_native_run.defjvp
def _native_run_jvp(optimizer, batch_size, drop_last, trace, primals, tangents):
    from jaxsgd.model import Params
    from jaxsgd.train._optimizers import RuntimeSGDState

    b, w, lr, perms, rows = primals

    def by_scan(b, w, lr, rows):
        runs = TrainState(Params(b, w), RuntimeSGDState({"learning_rate": lr}), jnp.zeros((b.shape[0], 2), jnp.uint32),
                          jnp.zeros((), jnp.int32))
        out = epoch(runs, perms, rows, optimizer=optimizer, batch_size=batch_size, drop_last=drop_last, trace=trace,
                    native=False)
        if trace:
            return out[0].params.b, out[0].params.w, out[1].b, out[1].w
        return (out.params.b, out.params.w, jnp.zeros((0, *b.shape), b.dtype), jnp.zeros((0, *w.shape), w.dtype))

    tb, tw, tlr, _, trows = tangents
    _, out_tangents = jax.jvp(by_scan, (b, w, lr, rows), (tb, tw, tlr, trows))
    return _native_run(optimizer, batch_size, drop_last, trace, b, w, lr, perms, rows), out_tangents


def _scan(update, runs, xs, ys, mesh, trace, unroll=UNROLL):
    xs = _shard(xs, mesh, (None, None, None, "batch"))  # (nb, S, d, B)
    ys = _shard(ys, mesh, (None, None, "batch"))  # (nb, S, B)

    def scan_step(carry, batch):
        new = update(*carry, *batch)
        return new, (new[0] if trace else None)

    return lax.scan(scan_step, (runs.params, runs.opt_state), (xs, ys), unroll=unroll)


@functools.partial(jax.jit, static_argnames=("optimizer", "mesh", "trace", "loss"))
def epoch_of_batches(runs: TrainState, xs, ys, *, optimizer, mesh=None, trace: bool = False, loss=None):
    """:func:`epoch` on batches already cut: ``xs (nb, S, d, B)``, ``ys (nb, S, B)``.

    For data sharded over processes: each process cuts its own batches of ``B/P``
    rows from its share (:func:`jaxsgd.train.part_keys` shuffles it), and the global batch is
    their concatenation along the last axis (``jax.make_array_from_process_local_data``).

    Args:
      runs: the :class:`TrainState` of ``S × L`` runs (leading ``(S, L)`` axes).
      xs: the batches' features ``(nb, S, d, B)`` (e.g. from :func:`shuffled_batches`).
      ys: their targets ``(nb, S, B)``.
      optimizer: the optax ``GradientTransformation`` the runs were created with.
      mesh: a ``jax.sharding.Mesh`` with a ``"batch"`` axis (default ``None``: no sharding).
      trace: also return the parameters after every batch (default ``False``).
      loss: the per-example loss, as :func:`step` takes it (default ``None``: the neuron's).

    Returns:
      The new :class:`TrainState`; with ``trace=True`` the pair ``(state, steps)``, as :func:`epoch`.

    Example:
      >>> opt = make_optimizer("sgd")
      >>> runs = TrainState.create_runs(1, np.array([[0, 7]], np.uint32), [2.0], optimizer=opt)
      >>> xs, ys = jnp.ones((2, 1, 1, 4)), jnp.ones((2, 1, 4))   # two batches of four rows x = 1, y = 1
      >>> new = epoch_of_batches(runs, xs, ys, optimizer=opt)
      >>> b = float(np.asarray(new.params.b)[0, 0])   # 0.25 after the first batch, then + 2·(1 − σ(½))·σ′(½)
      >>> int(new.epoch), round(b, 4)
      (1, 0.4274)
    """
    (params, opt_state), steps = _scan(runs_step(optimizer, loss), runs, xs, ys, mesh, trace)
    new = TrainState(params, opt_state, runs.key, runs.epoch + 1)
    return (new, steps) if trace else new


def rows_of(x, y) -> jax.Array:
    """``[x | y]`` as one ``(N, d + 1)`` array: each example's features and target side by side for the gather.

    Args:
      x: features ``(N, d)``.
      y: targets ``(N,)``, cast to ``x``'s dtype.

    Returns:
      A JAX array ``(N, d + 1)`` of ``x``'s dtype, the target last in each row.

    Example:
      >>> rows_of(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), np.array([0.0, 1.0])).tolist()
      [[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]
    """
    x = jnp.asarray(x)
    return jnp.concatenate([x, jnp.asarray(y, x.dtype)[:, None]], axis=1)


def sweep(x, y, *, learning_rates, keys, batch_size: int, epochs: int, optimizer=None, drop_last: bool = True,
          shuffle: str = "auto", shard_runs: bool | None = None, loss=None, params=None,
          threads: int | None = None) -> TrainState:
    r"""``S × L`` runs of mini-batch SGD at once: ``S = len(keys)`` seeds × ``L = len(learning_rates)`` rates.

    Run ``(i, j)`` starts from θ = 0 and takes, for ``epochs`` epochs, the steps

    .. math::

      θ ← θ − α_j \frac{1}{B} \sum_{k ∈ β} ∇L_k(θ)

    over the batches ``β`` of seed ``i``'s permutation of the rows (one per
    epoch, shared by the ``L`` learning rates: common random numbers). Run
    ``(i, j)`` equals :func:`jaxsgd.train.fit` with ``learning_rate=learning_rates[j]``
    and ``key=keys[i]`` up to float32 rounding (the same batches and arithmetic,
    compiled for another shape). Each epoch is one compiled call for all runs.

    The arguments are keyword-only and flat (not a config NamedTuple) because a
    sweep is called like :func:`jax.jit`-ed code is: with arrays and a few
    settings, each named at the call.

    Args:
      x: features ``(N, d)``.
      y: targets ``(N,)``.
      learning_rates: the ``L`` rates α (runtime values: changing them does not recompile).
      keys: ``(S, 2)`` uint32 key data, one key per seed (e.g.
        ``jax.random.key_data(jax.random.split(key, S))``).
      batch_size: ``B``, from 1 to ``N``.
      epochs: passes over the data.
      optimizer: an optax ``GradientTransformation`` whose learning rate is
        injected (default: plain SGD, :func:`jaxsgd.train.runtime_sgd`).
      drop_last: drop the last ``N mod B`` rows of each epoch (default) or take
        them as a smaller batch.
      shuffle: where permutations are drawn (:data:`jaxsgd.defaults.SHUFFLES`).
      shard_runs: split the seeds over this process's devices (default: when
        there are several and they divide ``S``); the data are replicated.
      loss: the per-example loss ``loss(params, x, y) -> scalar`` of any model
        (a :class:`jaxsgd.model.Model`'s ``loss``; default: the neuron's).
      params: where every run starts: one pytree (every seed alike), or a
        callable ``seed index -> pytree`` (e.g. a model's ``init`` with each
        seed's key); default the neuron's θ = 0. Required with ``loss``.
      threads: on a CPU with the runs on one device, split the seeds into this
        many groups, each stepped by a host thread of its own (XLA runs calls
        from several threads side by side, so every core works); default
        :func:`cpu_threads` (the cores this process may use), at most ``S``
        and a divisor of it; 1 steps every run in one call. Each run is the
        same arithmetic either way (equal up to float32 rounding).

    Returns:
      A :class:`TrainState` with leading ``(S, L)`` axes on ``params`` and
      ``opt_state``, and ``key`` of shape ``(S, 2)``.

    Raises:
      InputError: bad arguments, named by their Python names.

    Example:
      >>> import numpy as np
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> runs = sweep(x, (x[:, 0] > 0).astype(np.float32), learning_rates=[0.5, 2.0],
      ...              keys=np.array([[0, 1], [0, 2]], np.uint32), batch_size=8, epochs=2)
      >>> runs.params.w.shape, int(runs.epoch)
      ((2, 2, 2), 2)

    References:
      McCandlish et al., 2018, "An Empirical Model of Large-Batch Training"
      (common random numbers across learning rates, as their sweeps use).
    """
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    n, d = checks.data(x, y, floating=False)  # before any conversion: a bad array is named, not passed to JAX
    x = jnp.asarray(x)
    checks.learning_rates(learning_rates, x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)
    if isinstance(keys, jax.Array) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.key_data(keys)
    keys = checks.keys(keys)
    checks.batch_size(batch_size, n)
    checks.count("epochs", epochs)
    if loss is not None and params is None:
        raise InputError(lambda a: f"{a('loss')} was given without {a('params')}: give the model's initial "
                                   "parameters too (e.g. params=model.init(key, d))")
    rows = rows_of(x, y)
    runs = TrainState.create_runs(d, keys, learning_rates, optimizer=optimizer, dtype=x.dtype, params=params)
    n_dev = jax.local_device_count()  # a sweep stays within its process (see jaxsgd.distributed)
    if shard_runs is None:
        shard_runs = n_dev > 1 and len(keys) % n_dev == 0
    seeds = None  # replicated unless the seeds axis is split over the devices
    if shard_runs:
        if len(keys) % n_dev:
            raise InputError(lambda a: f"{len(keys)} seeds do not split over {n_dev} devices ({a('shard_runs')}): "
                                       f"use a multiple of {n_dev}")
        seeds = jax.sharding.NamedSharding(jax.sharding.Mesh(np.asarray(jax.local_devices()), ("runs",)),
                                           jax.sharding.PartitionSpec("runs"))

    def place(a):
        return a if seeds is None else jax.device_put(a, seeds)

    runs = TrainState(jax.tree.map(place, runs.params), jax.tree.map(place, runs.opt_state), runs.key, runs.epoch)
    if threads is not None:
        checks.count("threads", threads)
    groups = 1 if shard_runs or jax.default_backend() != "cpu" else seed_groups(len(keys), threads)

    def run_group(group: TrainState) -> TrainState:
        with Shuffler(np.asarray(group.key), n, shuffle) as shuffler:
            for e in range(epochs):
                # seeds split over devices: the scan, which XLA partitions (a custom call would run whole on each)
                group = epoch(group, place(jnp.asarray(shuffler.get(e))), rows, optimizer=optimizer,
                              batch_size=int(batch_size), drop_last=bool(drop_last), loss=loss,
                              native=False if shard_runs else None)
            return jax.block_until_ready(group) if groups > 1 else group

    if groups == 1:
        return run_group(runs)
    size = len(keys) // groups
    parts = [TrainState(*(jax.tree.map(lambda a, i=i: a[i * size:(i + 1) * size], f) for f in runs[:3]), runs.epoch)
             for i in range(groups)]
    with concurrent.futures.ThreadPoolExecutor(groups, thread_name_prefix="jaxsgd-sweep") as pool:
        done = list(pool.map(run_group, parts))
    joined = [jax.tree.map(lambda *a: jnp.concatenate(a), *(getattr(p, f) for p in done))
              for f in ("params", "opt_state", "key")]
    return TrainState(*joined, done[0].epoch)


def cpu_threads() -> int:
    """The CPU cores this process may use (its affinity mask where the system has one).

    Returns:
      A whole number ≥ 1: the default number of host threads of :func:`sweep`.

    Example:
      >>> cpu_threads() >= 1
      True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def seed_groups(seeds: int, threads: int | None = None) -> int:
    """How many groups of seeds a sweep on a CPU steps side by side: the largest divisor of ``seeds`` at most
    ``threads`` (default :func:`cpu_threads`), so that every group has as many seeds.

    Args:
      seeds: ``S``, the sweep's seeds.
      threads: the most host threads to use (default: the cores).

    Returns:
      A divisor of ``seeds`` from 1 to ``threads``.

    Raises:
      InputError: ``seeds`` or ``threads`` is not a whole number ≥ 1.

    Example:
      >>> seed_groups(8, 2), seed_groups(9, 2), seed_groups(6, 4), seed_groups(1, 8)
      (2, 1, 3, 1)
    """
    seeds = checks.count("seeds", seeds)
    limit = cpu_threads() if threads is None else checks.count("threads", threads)
    return max(g for g in range(1, min(limit, seeds) + 1) if seeds % g == 0)
