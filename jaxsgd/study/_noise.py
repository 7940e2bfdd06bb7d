"""Gradient noise: per-example gradients, the simple noise scale and the Hessian-weighted one.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training": with
``G`` the full-data gradient and ``Σ`` the covariance of per-example gradients,

    B_simple = tr(Σ) / |G|²,      E|G_B|² = |G|² + tr(Σ)/B   (B examples drawn i.i.d.)

so two batch sizes give unbiased estimates of both ``|G|²`` and ``tr(Σ)``:

    |G|²  ≈ (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small)
    tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)

each averaged over draws before dividing. Here ``Σ = (1/N) Σᵢ (gᵢ − G)(gᵢ − G)ᵀ``
(the population covariance of the N per-example gradients).

The noise scale of their theory, where the loss is locally quadratic with
Hessian ``H``, is

    B_noise = tr(HΣ) / (Gᵀ H G),

the batch size at which a step's expected improvement is half of the
noiseless one; ``B_simple`` is it with ``H`` replaced by the identity. ``H`` is
the exact Hessian of the full loss here (3 × 3 at d = 2, by :func:`jax.hessian`);
:func:`noise_scales` also takes Hessian-vector products (exact, one per parameter)
or Hutchinson's estimator ``tr(HΣ) ≈ (1/K) Σₖ (H zₖ)ᵀ(Σ zₖ)`` with Rademacher
``zₖ``, for models whose Hessian is too large to form.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxsgd.errors import InputError
from jaxsgd.model import Params, mean_loss, mean_loss_of, per_example_grads


class NoiseScale(NamedTuple):
    """The simple noise scale ``B_simple = tr(Σ)/|G|²`` and its two parts.

    ``G`` is the full-data gradient and ``Σ`` the (population) covariance of the per-example gradients.

    Attributes:
      g2: ``|G|²``, the full-data gradient's squared norm.
      trace: ``tr(Σ)``, the per-example gradients' total variance.
      b_simple: ``tr(Σ)/|G|²`` (``inf`` where ``|G|² ≤ 0``).

    Example:
      >>> scale = NoiseScale(g2=4.0, trace=1.0, b_simple=0.25)
      >>> scale.b_simple == scale.trace / scale.g2
      True
    """

    g2: float
    trace: float
    b_simple: float


def _flat(grads: Params):
    return jnp.concatenate([grads.b[:, None], grads.w], axis=1)


@functools.partial(jax.jit, static_argnames="loss")
def per_example_gradients(params, x, y, loss=None):
    """Every example's gradient ``∇Lᵢ`` as a row: ``(∂L/∂b, ∂L/∂w)`` for the neuron, or any model's, flattened.

    For the neuron ``∂Lᵢ/∂b = (h − yᵢ)·h(1 − h)`` with ``h = σ(b + w·xᵢ)``, and ``∂Lᵢ/∂w = ∂Lᵢ/∂b · xᵢ``; any
    other ``loss`` is differentiated by ``jax.vmap(jax.grad(loss))`` and each gradient flattened by
    ``jax.flatten_util.ravel_pytree``. Jitted; ``loss`` is static.

    Args:
      params: the parameters: the neuron's :class:`jaxsgd.model.Params`, or the pytree ``loss`` takes.
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar`` on one example; default ``None``:
        the neuron's ``½(y − h)²``.

    Returns:
      The gradients ``(N, p)``, in ``x``'s float dtype: ``p = d + 1`` for the neuron (``b`` first).

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> g = per_example_gradients(init_params(2), x, y)
      >>> g.shape, float(g[0, 0])   # θ = 0, y₀ = 1: (0.5 − 1)·0.25
      ((64, 3), -0.125)
    """
    if loss is None:
        return _flat(per_example_grads(params, x, y))
    grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
    return jax.vmap(lambda g: ravel_pytree(g)[0])(grads)


def noise_scale_of(g) -> NoiseScale:
    r"""The simple noise scale ``B_simple = tr(Σ)/|G|²`` of per-example gradient rows, in float64.

    With ``G`` the rows' mean and ``Σ = (1/N) Σᵢ (gᵢ − G)(gᵢ − G)ᵀ`` their population covariance,

    .. math::

      B_{simple} = \frac{\operatorname{tr} \Sigma}{|G|^2}.

    The one definition of ``B_simple``: :func:`noise_scale` and the study's
    bootstrap both call it.

    Args:
      g: the per-example gradients ``(N, p)``, any float dtype (computed in float64).

    Returns:
      A :class:`NoiseScale` of floats: ``|G|²``, ``tr(Σ)`` and their ratio (``inf`` where ``|G|² = 0``).

    Example:
      >>> noise_scale_of(np.array([[1.0, 0.0], [3.0, 0.0]]))   # G = (2, 0), Σ's trace 1
      NoiseScale(g2=4.0, trace=1.0, b_simple=0.25)

    References:
      McCandlish, Kaplan, Amodei et al., 2018, "An Empirical Model of Large-Batch Training".
    """
    g = np.asarray(g, np.float64)
    mean = g.mean(axis=0)
    g2 = float(mean @ mean)
    tr = float(((g - mean) ** 2).sum(axis=1).mean())
    return NoiseScale(g2, tr, tr / g2 if g2 > 0 else float("inf"))


class NoiseScales(NamedTuple):
    """Both noise scales at one θ: ``B_simple = tr Σ/|G|²`` and ``B_noise = tr(HΣ)/(GᵀHG)``.

    ``H`` is the Hessian of the full mean loss; ``B_noise`` is the batch size at which a step's expected
    improvement is half of the noiseless one, where the loss is locally quadratic.

    Attributes:
      g2: ``|G|²``, the full-data gradient's squared norm.
      trace: ``tr(Σ)``, the per-example gradients' total variance.
      b_simple: ``tr(Σ)/|G|²``.
      ghg: ``GᵀHG``, the curvature along the gradient.
      trace_h_sigma: ``tr(HΣ)``.
      b_noise: ``tr(HΣ)/(GᵀHG)`` (``inf`` where ``GᵀHG ≤ 0``).

    Example:
      >>> scales = noise_scales_of(np.array([[1.0, 0.0], [3.0, 0.0]]), np.diag([2.0, 1.0]))
      >>> scales.ghg, scales.trace_h_sigma, scales.b_noise
      (8.0, 2.0, 0.25)
    """

    g2: float
    trace: float
    b_simple: float
    ghg: float
    trace_h_sigma: float
    b_noise: float


def _ratio(num, den):
    return num / den if den > 0 else float("inf")


def noise_scales_of(g, hessian) -> NoiseScales:
    r"""Both noise scales of per-example gradient rows and the full loss's Hessian, in float64.

    The one definition of ``B_noise``:

    .. math::

      B_{noise} = \frac{\operatorname{tr}(H \Sigma)}{G^\top H G},

    with ``G`` the rows' mean and ``Σ`` their population covariance (``B_simple`` is :func:`noise_scale_of`).

    Args:
      g: the per-example gradients ``(N, p)``, any float dtype (computed in float64).
      hessian: the full mean loss's Hessian ``(p, p)`` in the same flat parameters.

    Returns:
      A :class:`NoiseScales` of floats.

    Example:
      >>> noise_scales_of(np.array([[1.0, 0.0], [3.0, 0.0]]), np.diag([2.0, 1.0])).b_noise   # 2·1/(2·4)
      0.25

    References:
      McCandlish, Kaplan, Amodei et al., 2018, "An Empirical Model of Large-Batch Training".
    """
    g = np.asarray(g, np.float64)
    h = np.asarray(hessian, np.float64)
    mean = g.mean(axis=0)
    c = g - mean
    simple = noise_scale_of(g)
    ghg = float(mean @ h @ mean)
    ths = float(np.einsum("ip,pq,iq->", c, h, c) / len(g))
    return NoiseScales(simple.g2, simple.trace, simple.b_simple, ghg, ths, _ratio(ths, ghg))


def _flat_loss(theta, x, y):
    return mean_loss(Params.from_theta(theta), x.T, y)


def _flat_of(params, x, y, loss):
    """The full mean loss as a function of the flat parameter vector, and that vector."""
    if loss is None:
        return (lambda t: _flat_loss(t, x, y)), params.to_theta()
    theta, unravel = ravel_pytree(params)
    mean = mean_loss_of(loss)
    return (lambda t: mean(unravel(t), x.T, y)), theta


@functools.partial(jax.jit, static_argnames="loss")
def hessian(params, x, y, loss=None):
    """The exact Hessian of the full mean loss in the flat parameters, by :func:`jax.hessian`.

    The flat parameters are ``θ = (b, w)`` for the neuron and ``ravel_pytree(params)`` for any ``loss``.
    Jitted; ``loss`` is static. ``H`` has ``p²`` entries: for large models use
    :func:`hessian_vector_product`.

    Args:
      params: the parameters: the neuron's :class:`jaxsgd.model.Params`, or the pytree ``loss`` takes.
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar``; default ``None``: the neuron's.

    Returns:
      The Hessian ``(p, p)``, symmetric, in ``x``'s float dtype.

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> h = hessian(init_params(2), x, y)
      >>> h.shape, float(h[0, 0])   # ∂²L/∂b² at θ = 0: σ'(0)² = 1/16
      ((3, 3), 0.0625)
    """
    f, theta = _flat_of(params, x, y, loss)
    return jax.hessian(f)(theta)


@functools.partial(jax.jit, static_argnames="loss")
def hessian_vector_product(params, x, y, v, loss=None):
    """``H v``, the full mean loss's Hessian times a vector, by forward-over-reverse, without forming ``H``.

    ``jax.jvp`` of ``jax.grad`` of the loss in the flat parameters (as :func:`hessian`): one product costs
    about two gradient evaluations. Jitted; ``loss`` is static.

    Args:
      params: the parameters: the neuron's :class:`jaxsgd.model.Params`, or the pytree ``loss`` takes.
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.
      v: the vector ``(p,)`` in the flat parameters, in their dtype.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar``; default ``None``: the neuron's.

    Returns:
      ``H v``, an array ``(p,)``.

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> v = np.ones(3, np.float32)
      >>> hv = hessian_vector_product(init_params(2), x, y, v)
      >>> hv.shape, bool(jnp.allclose(hv, hessian(init_params(2), x, y) @ v, atol=1e-6))
      ((3,), True)
    """
    f, theta = _flat_of(params, x, y, loss)
    return jax.jvp(jax.grad(f), (theta,), (v,))[1]


def noise_scales(params, x, y, *, method: str = "exact", probes: int = 256, key=None, loss=None) -> NoiseScales:
    r"""``B_simple`` and ``B_noise`` at ``params`` on the rows ``x``, ``y``.

    The per-example gradients come from :func:`per_example_gradients`, and the Hessian ``H`` of the full mean
    loss by one of three methods: ``"exact"`` forms it (:func:`hessian`); ``"hvp"`` builds it from one
    Hessian-vector product per parameter (exact too, and never more than ``p`` full-data passes);
    ``"hutchinson"`` never forms it, estimating

    .. math::

      \operatorname{tr}(H\Sigma) \approx \frac{1}{K} \sum_k (H z_k)^\top (\Sigma z_k)

    over ``K = probes`` Rademacher vectors ``zₖ``, and ``GᵀHG = Gᵀ(HG)`` from one product.

    Args:
      params: the parameters: the neuron's :class:`jaxsgd.model.Params`, or the pytree ``loss`` takes.
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.
      method: ``"exact"`` (default), ``"hvp"`` or ``"hutchinson"``.
      probes: the Rademacher vectors ``K`` of ``"hutchinson"``; default 256.
      key: the PRNG key they are drawn from; default ``None``: ``jax.random.key(0)``.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar`` over the pytree ``params``
        (gradients and products come from it, flattened); default ``None``: the neuron's.

    Returns:
      A :class:`NoiseScales` of floats (``"hutchinson"``: ``trace_h_sigma`` and ``b_noise`` estimated).

    Raises:
      InputError: an unknown ``method``.

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> scales = noise_scales(init_params(2), x, y)
      >>> round(scales.b_simple, 2), round(scales.b_noise, 2)
      (3.9, 4.23)
      >>> round(noise_scales(init_params(2), x, y, method="hutchinson", probes=64).b_noise, 1)
      4.4

    References:
      McCandlish, Kaplan, Amodei et al., 2018, "An Empirical Model of Large-Batch Training".
      Hutchinson, 1989, "A stochastic estimator of the trace of the influence matrix for Laplacian smoothing
      splines".
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    g = np.asarray(per_example_gradients(params, x, y, loss), np.float64)
    p = g.shape[1]
    if method == "exact":
        return noise_scales_of(g, np.asarray(hessian(params, x, y, loss)))
    if method == "hvp":
        basis = jnp.eye(p, dtype=x.dtype)
        h = np.stack([np.asarray(hessian_vector_product(params, x, y, e, loss)) for e in basis])
        return noise_scales_of(g, (h + h.T) / 2)
    if method != "hutchinson":
        raise InputError(lambda n: f"unknown {n('method')} {method!r}: choose one of exact, hvp, hutchinson")
    key = jax.random.key(0) if key is None else key
    z = np.asarray(jax.random.rademacher(key, (probes, p), jnp.float32), np.float64)
    mean = g.mean(axis=0)
    c = g - mean
    sz = (c @ z.T).T @ c / len(g)  # (K, p): Σ zₖ
    hz = np.stack([np.asarray(hessian_vector_product(params, x, y, jnp.asarray(v, x.dtype), loss)) for v in z])
    ths = float(np.mean(np.sum(hz * sz, axis=1)))
    ghg = float(mean @ np.asarray(hessian_vector_product(params, x, y, jnp.asarray(mean, x.dtype), loss)))
    simple = noise_scale_of(g)
    return NoiseScales(simple.g2, simple.trace, simple.b_simple, ghg, ths, _ratio(ths, ghg))


def bootstrap_noise_scales(g, hessian, *, resamples: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates over rows of ``B_simple`` and ``B_noise``, corrected for the resampling's own noise.

    Resampling N rows with replacement inflates ``|G_r|²`` by ``tr Σ/N`` on average (and ``G_rᵀ H G_r`` by
    ``tr(HΣ)/N``), which at a small gradient makes the plain ratios of the replicates fall well below the
    estimate, and their percentile interval miss it. The replicates here divide by ``|G_r|² − tr Σ_r/N`` and
    ``G_rᵀHG_r − tr(HΣ_r)/N`` (+inf where that is not positive), whose means are ``|G|²`` and ``GᵀHG`` up to
    a factor ``(N − 1)/N``. ``H`` is held at the full data's: the rows' share of the Hessian's own sampling
    noise is of second order, and holding it needs no per-example Hessians (any model's Hessian-vector
    products give it).

    Args:
      g: the per-example gradients ``(N, p)`` (computed in float64).
      hessian: the full mean loss's Hessian ``(p, p)``.
      resamples: the bootstrap replicates ``R``.
      seed: the seed of ``numpy.random.default_rng`` (an int or a sequence of ints).

    Returns:
      ``(b_simple, b_noise)``, two float64 arrays ``(R,)`` of replicates (``inf`` where a corrected
      denominator is not positive); their percentiles are the intervals.

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> g = per_example_gradients(init_params(2), x, y)
      >>> simple, noise = bootstrap_noise_scales(g, hessian(init_params(2), x, y), resamples=200, seed=0)
      >>> simple.shape, [round(float(v), 1) for v in np.percentile(simple, [2.5, 97.5])]   # B_simple = 3.9
      ((200,), [2.8, 5.6])
    """
    g = np.asarray(g, np.float64)
    h = np.asarray(hessian, np.float64)
    n = len(g)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)]) / n  # (R, N)
    mean = counts @ g  # (R, p)
    gh = g @ h  # (N, p): each row's gᵢᵀH
    tr = counts @ np.einsum("ip,ip->i", g, g) - np.einsum("rp,rp->r", mean, mean)  # tr Σ_r
    ths = counts @ np.einsum("ip,ip->i", gh, g) - np.einsum("rp,pq,rq->r", mean, h, mean)  # tr(HΣ_r)
    g2 = np.einsum("rp,rp->r", mean, mean) - tr / n
    ghg = np.einsum("rp,pq,rq->r", mean, h, mean) - ths / n
    with np.errstate(divide="ignore", invalid="ignore"):
        simple = np.where(g2 > 0, tr / g2, np.inf)
        noise = np.where(ghg > 0, ths / ghg, np.inf)
    return simple, noise


def noise_scale(params: Params, x, y) -> NoiseScale:
    """The neuron's exact ``B_simple = tr(Σ)/|G|²`` from all per-example gradients; for data that fits in memory.

    :func:`noise_scale_of` of :func:`per_example_gradients` (by ``vmap``).

    Args:
      params: the neuron's :class:`jaxsgd.model.Params`.
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.

    Returns:
      A :class:`NoiseScale` of floats.

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> round(noise_scale(init_params(2), x, y).b_simple, 2)
      3.9
    """
    return noise_scale_of(per_example_gradients(params, jnp.asarray(x), jnp.asarray(y)))


def _batch_grad_sq(params, x, y, key, b):
    idx = jax.random.randint(key, (b,), 0, x.shape[0])  # i.i.d. draws, with replacement
    g = jnp.mean(_flat(per_example_grads(params, x[idx], y[idx])), axis=0)
    return jnp.sum(g**2)


_mean_batch_grad_sq = jax.jit(
    lambda params, x, y, keys, b: jnp.mean(jax.vmap(_batch_grad_sq, in_axes=(None, None, None, 0, None))(
        params, x, y, keys, b)), static_argnums=4)


def noise_scale_two_batch(params: Params, x, y, *, b_small: int, b_big: int, draws: int, key) -> NoiseScale:
    r"""The neuron's ``B_simple`` from mean squared gradient norms at two batch sizes, without per-example ones.

    With ``B`` examples drawn i.i.d., ``E|G_B|² = |G|² + tr(Σ)/B``, so two batch sizes give unbiased
    estimates of both parts, each mean taken over ``draws`` batches before dividing:

    .. math::

      |G|^2 \approx \frac{B_{big} |G_{big}|^2 - B_{small} |G_{small}|^2}{B_{big} - B_{small}}, \qquad
      \operatorname{tr}\Sigma \approx \frac{|G_{small}|^2 - |G_{big}|^2}{1/B_{small} - 1/B_{big}}

    Args:
      params: the neuron's :class:`jaxsgd.model.Params`.
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.
      b_small: the smaller batch size.
      b_big: the larger batch size (each compiles its own program).
      draws: the batches drawn at each, with replacement.
      key: the PRNG key of the draws.

    Returns:
      A :class:`NoiseScale` of floats: the estimates and their ratio (``inf`` where the ``|G|²`` estimate is
      not positive).

    Raises:
      InputError: unless ``0 < b_small < b_big``.

    Example:
      >>> from jaxsgd.model import init_params
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> est = noise_scale_two_batch(init_params(2), x, y, b_small=2, b_big=16, draws=256, key=jax.random.key(0))
      >>> round(est.b_simple, 1)   # the exact value is 3.9
      3.8

    References:
      McCandlish, Kaplan, Amodei et al., 2018, "An Empirical Model of Large-Batch Training", appendix A.
    """
    if not 0 < b_small < b_big:
        raise InputError(lambda n: f"need 0 < {n('b_small')} < {n('b_big')}, got {b_small}, {b_big}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    ks, kb = jax.random.split(key)
    small = float(_mean_batch_grad_sq(params, x, y, jax.random.split(ks, draws), b_small))
    big = float(_mean_batch_grad_sq(params, x, y, jax.random.split(kb, draws), b_big))
    g2 = (b_big * big - b_small * small) / (b_big - b_small)
    tr = (small - big) / (1.0 / b_small - 1.0 / b_big)
    return NoiseScale(g2, tr, tr / g2 if g2 > 0 else float("inf"))
