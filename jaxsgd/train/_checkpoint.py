"""Checkpoints: a ``.npz`` file written atomically (temporary file, then rename).

A checkpoint holds everything needed to continue bit for bit and to predict in
price units: the :class:`~jaxsgd.train.TrainState` (parameters, optimizer state
leaves, RNG key data, epoch), the data :class:`~jaxsgd.data.Transform`, and the
run's settings (feature names, optimizer, learning rate, batch size, seed, where
the data came from) and its history from θ = 0.

Reading checks every field, so that a damaged or hand-made file is refused in
one line when it is opened, not deep inside a run: array dtypes, shapes and
finiteness, the scales positive, the epoch in range, and each metadata field's
type and range (names unique strings, ``lr`` a finite number > 0, ``batch_size``
and ``seed`` whole numbers in range, the history's losses finite numbers, one
per epoch, its curve ``[examples, loss]`` pairs).
"""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd.data import Transform
from jaxsgd.defaults import OPTIMIZERS
from jaxsgd.errors import CheckpointError
from jaxsgd.model import Params
from jaxsgd.paths import write_atomically
from jaxsgd.train._engine import TrainState

MAGIC = "jaxsgd-checkpoint-v1"


def save_checkpoint(path, state: TrainState, transform: Transform, meta: dict, *, replaceable=None):
    """Writes ``state``, ``transform`` and ``meta`` to the ``.npz`` file ``path`` atomically.

    The file is written beside ``path`` and renamed into place
    (:func:`jaxsgd.paths.write_atomically`), so a reader never sees half a
    checkpoint. A file found at ``path`` at the moment of writing is replaced
    only if ``replaceable`` allows it.

    Args:
      path: where to write, a ``str`` or ``os.PathLike``.
      state: the :class:`~jaxsgd.train.TrainState` of one run: the neuron's
        :class:`jaxsgd.model.Params` are stored as θ, any other pytree as its
        leaves (and ``meta["n_params"]``).
      transform: the :class:`jaxsgd.data.Transform` the run was trained with.
      meta: the run's settings, JSON-able. :func:`load_checkpoint` needs
        ``"features"`` (distinct names), ``"target"`` and ``"optimizer"`` (one
        of :data:`jaxsgd.defaults.OPTIMIZERS`), and checks ``"lr"``,
        ``"batch_size"``, ``"seed"``, ``"source"``, ``"val_fraction"``,
        ``"data"``, ``"model"`` and ``"history"`` (a :class:`~jaxsgd.train.History`
        as a dict from θ = 0) where present.
      replaceable: which file at ``path`` may be replaced: a
        :func:`jaxsgd.paths.file_id` (the file checked before the run, or the
        one the last call wrote) or a predicate ``replaceable(path) -> bool``
        (default ``None``: only a jaxsgd checkpoint, :func:`is_checkpoint`).

    Returns:
      The new file's :func:`jaxsgd.paths.file_id`, ``(device, inode)``, to pass
      as ``replaceable`` to the next call.

    Raises:
      OutputError: ``path`` cannot be written (a full disk, no permission) or
        holds a file that may not be replaced, naming the path and the fix.

    Example:
      >>> import tempfile
      >>> from jaxsgd.model import init_params
      >>> from jaxsgd.paths import file_id
      >>> from jaxsgd.train import make_optimizer
      >>> state = TrainState.create(init_params(2), optimizer=make_optimizer("sgd"), key=jax.random.key(0))
      >>> transform = Transform(np.zeros(2), np.ones(2), 0.0, 1.0)
      >>> meta = {"features": ["area", "age"], "target": "price", "optimizer": "sgd"}
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     path = os.path.join(tmp, "run.npz")
      ...     written = save_checkpoint(path, state, transform, meta)
      ...     again = save_checkpoint(path, state, transform, meta, replaceable=written)   # its own file: replaced
      ...     kept = [written == file_id(path), again == file_id(path), is_checkpoint(path)]
      >>> kept
      [False, True, True]
    """
    path = os.fspath(path)
    leaves = jax.tree.leaves(state.opt_state)
    arrays = {f"opt_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    if isinstance(state.params, Params):
        arrays["theta"] = np.asarray(state.params.to_theta())
    else:  # any model's pytree: its leaves in order; the structure comes back from the model's init on load
        params = jax.tree.leaves(state.params)
        arrays.update({f"param_{i}": np.asarray(leaf) for i, leaf in enumerate(params)})
        meta = {**meta, "n_params": len(params)}
    arrays.update(
        key=np.asarray(state.key),
        epoch=np.asarray(state.epoch),
        mean=transform.mean,
        std=transform.std,
        y_range=np.array([transform.y_lo, transform.y_hi]),
        meta=np.array(json.dumps({"magic": MAGIC, "n_opt": len(leaves), **meta})),
    )
    return write_atomically(path, lambda f: np.savez(f, **arrays),
                            replaceable=is_checkpoint if replaceable is None else replaceable, argument="save")


def _not_ours(path, why) -> CheckpointError:
    return CheckpointError(f"not a jaxsgd checkpoint: {path} ({why}); give a file written by jaxsgd train --save")


def _read(path) -> dict:
    """The arrays of the ``.npz`` file at ``path``, or a ``CheckpointError`` saying what the file is instead."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    if os.path.isdir(path):
        raise _not_ours(path, "a directory")
    if not os.path.isfile(path):
        raise _not_ours(path, "not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror}") from None
    if not head:
        raise _not_ours(path, "an empty file")
    if head.startswith(b"\x93NUMPY"):
        raise _not_ours(path, "a single .npy array; checkpoints are .npz archives")
    if not head.startswith(b"PK"):
        raise _not_ours(path, "not a .npz archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # any archive numpy cannot read, whatever the reason, is not ours
        raise _not_ours(path, f"unreadable .npz archive: {type(e).__name__}") from None


def _array(path, data, name, shape, kind="f", finite=True) -> np.ndarray:
    """``data[name]`` checked for presence, dtype kind (``"f"``, ``"u"``, ``"i"``), shape and finiteness."""
    if name not in data:
        raise _not_ours(path, f"no {name} array")
    a = data[name]
    if a.dtype.kind not in kind or a.shape != shape:
        raise _not_ours(path, f"{name} is {a.dtype} of shape {a.shape}, expected shape {shape}")
    if finite and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise _not_ours(path, f"{name} has non-finite values")
    return a


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v, lo, hi) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v < hi


def _names(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(f, str) and f for f in v) and len(set(v)) == len(v)


def _meta(path, data) -> dict:
    try:
        meta = json.loads(str(data["meta"])) if "meta" in data and data["meta"].shape == () else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("magic") != MAGIC:
        raise _not_ours(path, "no jaxsgd metadata")
    features, n_opt = meta.get("features"), meta.get("n_opt")
    if not _names(features):
        raise _not_ours(path, "no feature names in its metadata (a list of distinct names)")
    if not _whole(n_opt, 0, 1 << 16) or not all(isinstance(meta.get(k), str) and meta.get(k)
                                                 for k in ("optimizer", "target")):
        raise _not_ours(path, "incomplete metadata")
    if meta["optimizer"] not in OPTIMIZERS:
        raise _not_ours(path, f"unknown optimizer {meta['optimizer'][:40]!r} in its metadata")
    checks = {"lr": lambda v: _number(v) and v > 0, "batch_size": lambda v: _whole(v, 1, 1 << 63),
              "seed": lambda v: _whole(v, 0, 1 << 64), "source": lambda v: isinstance(v, str),
              "val_fraction": lambda v: _number(v) and 0 <= v < 1}
    for key, ok in checks.items():  # fields of the run's settings: checked where present
        if key in meta and not ok(meta[key]):
            raise _not_ours(path, f"its metadata field {key} is {str(meta[key])[:40]!r}")
    if "data" in meta:
        _data_meta(path, meta["data"])
    return meta


def _data_meta(path, d) -> None:
    """The data source a checkpoint was trained on: ``{"csv", "features", "target", "drop_missing", "n_rows",
    "seed"}``."""
    ok = (isinstance(d, dict) and (d.get("csv") is None or (isinstance(d.get("csv"), str) and d["csv"]))
          and (d.get("features") is None or _names(d.get("features")))
          and (d.get("target") is None or (isinstance(d.get("target"), str) and d["target"]))
          and isinstance(d.get("drop_missing", False), bool) and _whole(d.get("n_rows", 1), 1, 1 << 63)
          and _whole(d.get("seed", 0), 0, 1 << 64))
    if not ok:
        raise _not_ours(path, "its metadata field data is malformed")


def _history(path, h, epoch: int) -> None:
    """A history from θ = 0: one finite training loss per epoch, validation losses (finite or None), speeds,
    and the curve's ``[examples seen, loss]`` pairs."""
    if h is None:
        return  # (checkpoints of a library caller may carry none)
    if not isinstance(h, dict):
        raise _not_ours(path, "its history is not a record")
    for k in ("train_loss", "val_loss", "curve"):
        if not isinstance(h.get(k), list):
            raise _not_ours(path, f"its history has no {k} list")
    speeds = h.get("examples_per_second", [])  # came later: older checkpoints lack it
    bad = ("train_loss" if not all(map(_number, h["train_loss"])) else
           "val_loss" if not all(v is None or _number(v) for v in h["val_loss"]) else
           "examples_per_second" if not (isinstance(speeds, list) and all(_number(v) and v >= 0 for v in speeds))
           else "curve" if not all(isinstance(c, list) and len(c) == 2 and _whole(c[0], 0, 1 << 63)
                                   and _number(c[1]) for c in h["curve"]) else None)
    if bad:
        raise _not_ours(path, f"its history's {bad} holds something other than finite numbers")
    n = len(h["train_loss"])
    if n != epoch or len(h["val_loss"]) != n or len(speeds) not in (0, n):
        raise _not_ours(path, f"its history has {n} training and {len(h['val_loss'])} validation losses for "
                              f"{epoch} epochs")


def load_checkpoint(path, opt_template=None, params_template=None):
    """Reads a checkpoint written by :func:`save_checkpoint`: ``(state, transform, meta)``.

    Every field is checked when the file is opened (see the module docstring),
    so a damaged or hand-made file is refused in one line, not deep inside a run.

    Args:
      path: the ``.npz`` file, a ``str`` or ``os.PathLike``.
      opt_template: an optimizer state of the right structure (from
        ``optimizer.init``), whose leaves must match the stored ones' shapes
        (default ``None``: ``opt_state`` is the flat list of leaves).
      params_template: for a checkpoint of another model than the neuron
        (``meta["model"]``), a pytree of its parameters (e.g. the model's
        ``init(key, d)``) giving their structure; every leaf's shape must match
        (default ``None``: ``params`` is the list of leaves). Unused for the neuron.

    Returns:
      ``(state, transform, meta)``: the :class:`~jaxsgd.train.TrainState`
      (``params`` a :class:`jaxsgd.model.Params` of float32 for the neuron,
      ``key`` ``(2,)`` uint32, ``epoch`` int32), the
      :class:`jaxsgd.data.Transform` (float64 scales), and the metadata dict as
      saved (with ``"magic"`` and ``"n_opt"`` added).

    Raises:
      CheckpointError: "not a jaxsgd checkpoint: …" for anything that is not a
        complete checkpoint: no such file, a directory, an empty file, a plain
        ``.npy``, missing fields, wrong shapes, non-finite parameters or scales,
        metadata of the wrong type or out of range, a history that is not finite
        numbers or does not count one loss per epoch; or a checkpoint whose
        optimizer state or parameters do not fit the templates.

    Example:
      >>> import tempfile
      >>> from jaxsgd.model import init_params
      >>> from jaxsgd.train import make_optimizer
      >>> opt = make_optimizer("sgd")
      >>> state = TrainState.create(init_params(2), optimizer=opt, key=jax.random.key(0), learning_rate=0.25)
      >>> meta = {"features": ["area", "age"], "target": "price", "optimizer": "sgd"}
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     path = os.path.join(tmp, "run.npz")
      ...     _ = save_checkpoint(path, state, Transform(np.zeros(2), np.ones(2), 0.0, 1.0), meta)
      ...     loaded, transform, meta = load_checkpoint(path, opt.init(init_params(2)))
      >>> int(loaded.epoch), loaded.params.w.tolist(), float(loaded.opt_state.hyperparams["learning_rate"])
      (0, [0.0, 0.0], 0.25)
      >>> meta["features"], transform.y_hi
      (['area', 'age'], 1.0)
      >>> load_checkpoint("no-such-run.npz")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.CheckpointError: no-such-run.npz: no such checkpoint file
    """
    path = os.fspath(path)
    data = _read(path)
    meta = _meta(path, data)
    d = len(meta["features"])
    model = meta.get("model", "sigmoid")
    if not isinstance(model, str) or not model:
        raise _not_ours(path, "its model is not named")
    if model == "sigmoid":
        theta = _array(path, data, "theta", (d + 1,))
        if not np.all(np.abs(theta) <= np.finfo(np.float32).max):
            raise _not_ours(path, "theta is beyond the float32 range")
    else:
        count = meta.get("n_params")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= 10_000:
            raise _not_ours(path, "its count of parameter arrays is missing or out of range")
        theta = [_array(path, data, f"param_{i}", np.shape(data.get(f"param_{i}"))) for i in range(count)]
    mean = _array(path, data, "mean", (d,))
    std = _array(path, data, "std", (d,))
    lo, hi = (float(v) for v in _array(path, data, "y_range", (2,)))
    if not (np.all(std > 0) and hi > lo and np.isfinite(hi - lo)):
        raise _not_ours(path, "its data scales are not positive and finite")
    key = _array(path, data, "key", jax.random.key_data(jax.random.key(0)).shape, kind="u")
    epoch = _array(path, data, "epoch", (), kind="iu")
    if not 0 <= int(epoch) <= np.iinfo(np.int32).max:
        raise _not_ours(path, f"epoch {int(epoch)} is out of range")
    _history(path, meta.get("history"), int(epoch))
    leaves = [_array(path, data, f"opt_{i}", np.shape(data.get(f"opt_{i}")), kind="fiub")
              for i in range(meta["n_opt"])]
    if not np.all(np.isfinite(mean / std)):  # (x − mean)/std must be computable for x near the mean
        raise _not_ours(path, "its feature scales overflow (mean/std beyond float64)")
    if opt_template is not None:
        treedef = jax.tree.structure(opt_template)
        want = [np.shape(leaf) for leaf in jax.tree.leaves(opt_template)]
        if want != [leaf.shape for leaf in leaves]:
            used = meta["optimizer"]
            raise CheckpointError(lambda n: f"{path}: checkpoint was trained with {n('optimizer')} {used}, whose "
                                            f"state does not fit this run's optimizer: resume with "
                                            f"{n('optimizer')} {used}")
        opt_state = jax.tree.unflatten(treedef, [jnp.asarray(leaf) for leaf in leaves])
    else:
        opt_state = [jnp.asarray(leaf) for leaf in leaves]
    if model == "sigmoid":
        params = Params.from_theta(jnp.asarray(theta, jnp.float32))
    elif params_template is not None:
        want = [np.shape(leaf) for leaf in jax.tree.leaves(params_template)]
        if want != [leaf.shape for leaf in theta]:
            raise CheckpointError(f"{path}: the checkpoint's parameters do not fit model {model} on {d} features "
                                  f"(shapes {[leaf.shape for leaf in theta]}, the model's {want})")
        params = jax.tree.unflatten(jax.tree.structure(params_template), [jnp.asarray(leaf) for leaf in theta])
    else:
        params = [jnp.asarray(leaf) for leaf in theta]
    state = TrainState(params, opt_state, jnp.asarray(key, jnp.uint32), jnp.asarray(epoch, jnp.int32))
    return state, Transform(mean.astype(np.float64), std.astype(np.float64), lo, hi), meta


def is_checkpoint(path) -> bool:
    """Whether ``path`` holds a complete jaxsgd checkpoint (so that replacing it loses nothing of the user's).

    Args:
      path: a file path, a ``str`` or ``os.PathLike``.

    Returns:
      ``True`` when :func:`load_checkpoint` reads it without error, else
      ``False`` (no file, another kind of file, a damaged checkpoint).

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     notes = os.path.join(tmp, "notes.txt")
      ...     with open(notes, "w") as f:
      ...         _ = f.write("not a checkpoint")
      ...     found = is_checkpoint(notes), is_checkpoint(os.path.join(tmp, "nothing.npz"))
      >>> found
      (False, False)
    """
    try:
        load_checkpoint(path)
    except CheckpointError:
        return False
    return True
