"""The built-in optimizers, each with its learning rate in the optimizer state (a runtime value).

>>> import jax.numpy as jnp
>>> from jaxsgd.model import init_params
>>> opt = make_optimizer("sgd")
>>> state = opt.init(init_params(2))
>>> state.hyperparams["learning_rate"]   # defaults.LEARNING_RATE; jaxsgd.train.set_learning_rate changes it
Array(0.5, dtype=float32)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsgd import checks
from jaxsgd.defaults import LEARNING_RATE, OPTIMIZERS


class RuntimeSGDState(NamedTuple):
    """The learning rate as state, so that changing it does not recompile."""

    hyperparams: dict


def runtime_sgd(learning_rate=LEARNING_RATE) -> optax.GradientTransformation:
    """``θ ← θ − α g`` with α in the optimizer state: the same arithmetic as ``optax.sgd(α)``
    (``updates = (−α)·g``), bit for bit, and lighter than ``optax.inject_hyperparams``."""

    def init(params):
        dtype = jax.tree.leaves(params)[0].dtype
        return RuntimeSGDState({"learning_rate": jnp.asarray(learning_rate, dtype)})

    def update(grads, state, params=None):
        step = -state.hyperparams["learning_rate"]
        return jax.tree.map(lambda g: step.astype(g.dtype) * g, grads), state

    return optax.GradientTransformation(init, update)


@functools.cache
def make_optimizer(name: str = "sgd") -> optax.GradientTransformation:
    """A built-in optimizer whose learning rate lives in its state (runtime value).

    ``"sgd"`` is the exercise's rule ``θ ← θ − α g`` (:func:`runtime_sgd`, equal to
    ``optax.sgd`` bit for bit), ``"momentum"``
    is ``optax.sgd(α, momentum=0.9)``, ``"adam"`` is ``optax.adam(α)``. Cached, so
    every call with the same name returns the same object and reuses compiled code
    (three entries at most: one per name; any other name raises).
    """
    if name == "sgd":
        return runtime_sgd(LEARNING_RATE)
    if name == "momentum":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=LEARNING_RATE, momentum=0.9)
    if name == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=LEARNING_RATE)
    checks.choice("optimizer", name, OPTIMIZERS)
    raise AssertionError(name)  # unreachable: every name in OPTIMIZERS is built above
