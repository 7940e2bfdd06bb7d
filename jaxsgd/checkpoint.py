"""Checkpoints: a ``.npz`` file written atomically (temporary file, then rename).

A checkpoint holds everything needed to continue bit for bit and to predict in
price units: the :class:`~jaxsgd.sgd.TrainState` (parameters, optimizer state
leaves, RNG key data, epoch), the data :class:`~jaxsgd.data.Transform`, and the
run's settings (feature names, optimizer, learning rate, batch size, seed).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd.data import Transform
from jaxsgd.model import Params
from jaxsgd.sgd import TrainState

__all__ = ["CheckpointError", "load", "save"]

MAGIC = "jaxsgd-checkpoint-v1"


class CheckpointError(ValueError):
    """A file that is not a jaxsgd checkpoint, or one that does not fit the run."""


def save(path, state: TrainState, transform: Transform, meta: dict) -> None:
    """Writes ``state``, ``transform`` and ``meta`` (JSON-able) to ``path`` atomically."""
    path = os.fspath(path)
    leaves = jax.tree.leaves(state.opt_state)
    arrays = {f"opt_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays.update(
        theta=np.asarray(state.params.to_theta()),
        key=np.asarray(state.key),
        epoch=np.asarray(state.epoch),
        mean=transform.mean,
        std=transform.std,
        y_range=np.array([transform.y_lo, transform.y_hi]),
        meta=np.array(json.dumps({"magic": MAGIC, "n_opt": len(leaves), **meta})),
    )
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".jaxsgd-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, opt_template=None):
    """Reads a checkpoint: ``(state, transform, meta)``.

    ``opt_template`` is an optimizer state of the right structure (from
    ``optimizer.init``); without it the returned state's ``opt_state`` is the
    flat list of leaves.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        raise CheckpointError(f"{path}: not a jaxsgd checkpoint") from None
    if not isinstance(meta, dict) or meta.get("magic") != MAGIC:
        raise CheckpointError(f"{path}: not a jaxsgd checkpoint (unknown format)")
    theta = data["theta"]
    params = Params.from_theta(jnp.asarray(theta))
    leaves = [jnp.asarray(data[f"opt_{i}"]) for i in range(meta["n_opt"])]
    if opt_template is not None:
        treedef = jax.tree.structure(opt_template)
        if treedef.num_leaves != len(leaves):
            raise CheckpointError(f"{path}: its optimizer state does not match --optimizer {meta.get('optimizer')}")
        opt_state = jax.tree.unflatten(treedef, leaves)
    else:
        opt_state = leaves
    state = TrainState(params, opt_state, jnp.asarray(data["key"], jnp.uint32), jnp.asarray(data["epoch"], jnp.int32))
    lo, hi = (float(v) for v in data["y_range"])
    return state, Transform(data["mean"], data["std"], lo, hi), meta
