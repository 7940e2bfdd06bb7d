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
    """The state of :func:`runtime_sgd`: its learning rate, as state, so that changing it does not recompile.

    The field is named as ``optax.inject_hyperparams`` names its own, so
    :func:`jaxsgd.train.set_learning_rate` replaces the rate of either alike.

    Attributes:
      hyperparams: ``{"learning_rate": α}``, α a scalar array of the parameters' dtype.

    Example:
      >>> from jaxsgd.model import init_params
      >>> runtime_sgd(0.1).init(init_params(2))
      RuntimeSGDState(hyperparams={'learning_rate': Array(0.1, dtype=float32)})
    """

    hyperparams: dict


def runtime_sgd(learning_rate=LEARNING_RATE) -> optax.GradientTransformation:
    r"""Plain SGD, ``θ ← θ − α g``, with α in the optimizer state (a runtime value).

    .. math::

      u = (−α)\,g, \qquad θ ← θ + u

    The same arithmetic as ``optax.sgd(α)`` (``updates = (−α)·g``), bit for bit,
    and lighter than ``optax.inject_hyperparams``: the state is only α, so
    changing it (:func:`jaxsgd.train.set_learning_rate`) does not recompile.

    Args:
      learning_rate: α, the initial step size, a float > 0 (default
        :data:`jaxsgd.defaults.LEARNING_RATE`); ``init`` casts it to the
        parameters' dtype.

    Returns:
      An optax ``GradientTransformation`` ``(init, update)``: ``init(params)``
      gives a :class:`RuntimeSGDState`, ``update(grads, state, params=None)``
      gives ``(updates, state)`` with ``updates`` a pytree like ``grads``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxsgd.model import Params
      >>> opt = runtime_sgd(0.5)
      >>> grads = Params(jnp.float32(1.0), jnp.array([2.0, -4.0]))
      >>> updates, state = opt.update(grads, opt.init(grads))
      >>> float(updates.b), updates.w.tolist()
      (-0.5, [-1.0, 2.0])

    References:
      Robbins and Monro, 1951, "A Stochastic Approximation Method".
    """

    def init(params):
        dtype = jax.tree.leaves(params)[0].dtype
        return RuntimeSGDState({"learning_rate": jnp.asarray(learning_rate, dtype)})

    def update(grads, state, params=None):
        step = -state.hyperparams["learning_rate"]
        return jax.tree.map(lambda g: step.astype(g.dtype) * g, grads), state

    update.plain_sgd = True  # the native epoch (jaxsgd.train._native) runs exactly this update
    return optax.GradientTransformation(init, update)


def is_plain_sgd(optimizer) -> bool:
    """Whether ``optimizer`` is :func:`runtime_sgd` (``θ ← θ − α g``, α in its state), whose epochs of the
    neuron can run natively on a CPU.

    Example:
      >>> is_plain_sgd(make_optimizer("sgd")), is_plain_sgd(make_optimizer("adam"))
      (True, False)
    """
    return bool(getattr(getattr(optimizer, "update", None), "plain_sgd", False))


@functools.cache
def make_optimizer(name: str = "sgd") -> optax.GradientTransformation:
    """A built-in optimizer whose learning rate lives in its state (a runtime value).

    ``"sgd"`` is the exercise's rule ``θ ← θ − α g`` (:func:`runtime_sgd`, equal to
    ``optax.sgd`` bit for bit), ``"momentum"`` is ``optax.sgd(α, momentum=0.9)``,
    ``"adam"`` is ``optax.adam(α)`` (both through ``optax.inject_hyperparams``).
    Cached, so every call with the same name returns the same object and reuses
    compiled code (three entries at most: one per name; any other name raises).

    Args:
      name: one of :data:`jaxsgd.defaults.OPTIMIZERS` (default ``"sgd"``).

    Returns:
      An optax ``GradientTransformation`` whose state holds
      ``hyperparams["learning_rate"]``, initially
      :data:`jaxsgd.defaults.LEARNING_RATE` (set it with
      :func:`jaxsgd.train.set_learning_rate`).

    Raises:
      InputError: ``name`` is not one of :data:`jaxsgd.defaults.OPTIMIZERS`.

    Example:
      >>> from jaxsgd.model import init_params
      >>> make_optimizer("sgd") is make_optimizer("sgd")
      True
      >>> make_optimizer("adam").init(init_params(2)).hyperparams["learning_rate"]
      Array(0.5, dtype=float32)
      >>> make_optimizer("rmsprop")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: unknown optimizer 'rmsprop': choose one of sgd, momentum, adam
    """
    if name == "sgd":
        return runtime_sgd(LEARNING_RATE)
    if name == "momentum":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=LEARNING_RATE, momentum=0.9)
    if name == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=LEARNING_RATE)
    checks.choice("optimizer", name, OPTIMIZERS)
    raise AssertionError(name)  # unreachable: every name in OPTIMIZERS is built above
