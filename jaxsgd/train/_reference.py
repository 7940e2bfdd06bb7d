"""The full-data loss, and the reference every loss level is measured from: L*, by long full-batch descent.

``L* = min_θ (1/N) Σᵢ ½(yᵢ − σ(b + w·xᵢ))²`` is approached by full-batch gradient
descent ``θ ← θ − α ∇L(θ)`` from θ = 0 at several step sizes α at once; the best
run's lowest loss is ``L*``, and its path (loss and θ after every step) is where
the study evaluates the noise scale at each level (examples: :func:`full_batch_reference`,
:func:`evaluate_loss`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxsgd.model import init_params, mean_loss_of
from jaxsgd.train._engine import _GRAD_BLOCK_FLOATS, _in_row_blocks, _row_block


@functools.partial(jax.jit, static_argnames="loss")
def _mean_loss(params, xt, y, loss=None):
    return mean_loss_of(loss)(params, xt, y)


def evaluate_loss(params, xt, y, loss=None) -> float:
    r"""Mean loss over a feature-major data set ``xt (d, N)``, ``y (N,)``: the neuron's ``½(y − h)²`` or any model's.

    .. math::

      L(θ) = \frac{1}{N} \sum_{i=1}^{N} \tfrac12 \bigl(y_i − σ(b + w·x_i)\bigr)^2

    (:func:`jaxsgd.model.mean_loss`), or the mean of ``loss`` over the rows;
    one compiled call per shape.

    Args:
      params: the parameters: :class:`jaxsgd.model.Params` for the neuron, or
        the pytree ``loss`` takes.
      xt: features, feature-major ``(d, N)``.
      y: targets ``(N,)``.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar``
        (default ``None``: the neuron's, :func:`jaxsgd.model.example_loss`).

    Returns:
      The mean loss as a Python ``float``; NaN for an empty data set (``N = 0``).

    Example:
      >>> import numpy as np
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> evaluate_loss(init_params(2), jnp.asarray(x.T), jnp.asarray(y))   # ½(y − ½)² = ⅛ on every row
      0.125
      >>> evaluate_loss(init_params(2), jnp.zeros((2, 0)), jnp.zeros(0))
      nan
    """
    if xt.shape[1] == 0:
        return float("nan")
    return float(_mean_loss(params, xt, y, loss=loss))


@functools.partial(jax.jit, static_argnums=(4, 5))
def _gd_runs(p0, lrs, xt, y, steps, loss=None):
    """``steps`` of full-batch gradient descent from ``p0`` for each learning rate: loss and the flat
    parameters (θ = (b, w) for the neuron, ``ravel_pytree`` for any model) after each."""
    mean = mean_loss_of(loss)
    if loss is None or mean is mean_loss_of(None):
        def run(p, lr):
            def body(p, _):
                p = jax.tree.map(lambda a, g: a - lr * g, p, jax.grad(mean)(p, xt, y))
                return p, (mean(p, xt, y), p.to_theta())

            return lax.scan(body, p, None, length=steps)

        return jax.vmap(run)(p0, lrs)
    # any other model: the loss and its gradient in one pass, over blocks of rows that stay in the cache
    # (an MLP's whole-data activations do not: 41 ms a step for 6 runs of mlp:16 on 20,433 rows in one piece,
    # 4–5 ms in blocks of 2,048)
    block = _row_block(p0, xt.shape[1], run_axes=1, floats=_GRAD_BLOCK_FLOATS)
    value_and_grad = jax.vmap(jax.value_and_grad(mean), in_axes=(0, None, None))

    def of_all(p):
        return _in_row_blocks(lambda xb, yb: value_and_grad(p, xb, yb), xt, y, block)

    def body(carry, _):
        p, g = carry
        p = jax.tree.map(lambda a, b: a - lrs.reshape((-1,) + (1,) * (a.ndim - 1)) * b, p, g)
        value, g = of_all(p)
        return (p, g), (value, jax.vmap(lambda q: ravel_pytree(q)[0])(p))

    (p, _), (values, thetas) = lax.scan(body, (p0, of_all(p0)[1]), None, length=steps)
    return p, (values.T, jnp.swapaxes(thetas, 0, 1))


def full_batch_reference(x, y, *, steps: int = 4000, lrs=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0), chunk: int = 500,
                         loss=None, params=None):
    r"""``(L*, losses, θ after each step)`` of the best of long full-batch runs.

    .. math::

      L^* = \min_θ \frac{1}{N} \sum_{i} \tfrac12 \bigl(y_i − σ(b + w·x_i)\bigr)^2,
      \qquad θ ← θ − α ∇L(θ) \text{ from } θ = 0

    for every step size α in ``lrs`` at once (one compiled ``lax.scan`` per
    chunk); the run whose last loss is lowest is the best, and ``L*`` is its
    lowest loss. Runs in chunks of ``chunk`` steps and stops early once a chunk
    improves the best loss by less than 10⁻⁹ of the loss (float32 cannot
    resolve more), at most ``steps`` steps.

    Args:
      x: features ``(N, d)``, scaled.
      y: targets ``(N,)``.
      steps: the most steps of each run (default 4000); ``steps // chunk``
        chunks at most, and at least one.
      lrs: the step sizes α tried (default ``(0.5, 1, 2, 4, 8, 16)``).
      chunk: steps per compiled call (default 500), between which the early
        stop is checked.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar``
        (default ``None``: the neuron's).
      params: where every run starts, any model's pytree (default ``None``:
        the neuron's θ = 0). θ is then the flat vector of
        ``jax.flatten_util.ravel_pytree(params)``.

    Returns:
      ``(l_star, losses, thetas)``: ``L*`` as a ``float``; the best run's loss
      after each step, a float64 ``(T,)`` array (``T`` the steps run); and its
      flat parameters after each step, ``(T, P)`` (``P = d + 1``, θ = (b, w),
      for the neuron).

    Example:
      >>> import numpy as np
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32)   # θ = (0, 1, 0) fits exactly
      >>> l_star, losses, thetas = full_batch_reference(x, y, steps=100, chunk=100)
      >>> bool(l_star < 1e-6), losses.shape, thetas.shape
      (True, (100,), (100, 3))
      >>> bool(np.abs(thetas[-1] - [0.0, 1.0, 0.0]).max() < 1e-3)
      True
    """
    xt, yj = jnp.asarray(x).T, jnp.asarray(y)
    lr = jnp.asarray(lrs, xt.dtype)
    start = init_params(xt.shape[0], xt.dtype) if params is None else params
    p = jax.tree.map(lambda a: jnp.broadcast_to(a, (len(lrs), *jnp.shape(a))), start)
    losses, thetas, best = [], [], np.inf
    for _ in range(max(1, steps // chunk)):
        p, (value, theta) = _gd_runs(p, lr, xt, yj, chunk, loss)
        losses.append(np.asarray(value, np.float64))
        thetas.append(np.asarray(theta))
        now = np.nanmin(np.where(np.isfinite(losses[-1]), losses[-1], np.inf))
        if best - now < 1e-9 * abs(now):
            break
        best = min(best, now)
    losses, thetas = np.concatenate(losses, axis=1), np.concatenate(thetas, axis=1)
    final = losses[:, -1].copy()
    final[~np.isfinite(final)] = np.inf
    i = int(np.argmin(final))
    return float(np.min(losses[i])), losses[i], thetas[i]
