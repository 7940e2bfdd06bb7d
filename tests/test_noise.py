"""Noise scale: exact B_simple against numpy, the two-batch estimator's unbiasedness, bias/variance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsgd import study as noise
from jaxsgd.model import Params
from jaxsgd.study._critical_batch import _percentiles


def _setup(x64=False, n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = rng.uniform(0, 1, n)
    theta = np.array([0.2, 0.7, -0.4])
    return x, y, theta


def _numpy_noise(x, y, theta):
    z = theta[0] + x @ theta[1:]
    h = 1 / (1 + np.exp(-z))
    dz = (h - y) * h * (1 - h)
    g = np.concatenate([dz[:, None], dz[:, None] * x], axis=1)
    mean = g.mean(0)
    tr = ((g - mean) ** 2).sum(1).mean()
    return (mean**2).sum(), tr


def test_exact_b_simple_matches_numpy(x64):
    x, y, theta = _setup()
    g2, tr = _numpy_noise(x, y, theta)
    ns = noise.noise_scale(Params.from_theta(jnp.asarray(theta)), jnp.asarray(x), jnp.asarray(y))
    np.testing.assert_allclose([ns.g2, ns.trace, ns.b_simple], [g2, tr, tr / g2], rtol=1e-12)


def test_two_batch_estimator_is_unbiased(x64):
    x, y, theta = _setup()
    g2, tr = _numpy_noise(x, y, theta)
    p = Params.from_theta(jnp.asarray(theta))
    est = [noise.noise_scale_two_batch(p, jnp.asarray(x), jnp.asarray(y), b_small=4, b_big=64, draws=50,
                                       key=jax.random.key(i)) for i in range(60)]
    for got, want in ((np.array([e.g2 for e in est]), g2), (np.array([e.trace for e in est]), tr)):
        se = got.std(ddof=1) / np.sqrt(len(got))
        assert abs(got.mean() - want) < 4 * se, (got.mean(), want, se)


def test_minibatch_gradient_is_unbiased_and_variance_follows_the_formula(x64):
    """The one bias/variance measurement (jaxsgd.study.run_claims) on the noise module's data."""
    x, y, theta = _setup(n=200)
    c = noise.run_claims(x, y, batch_sizes=(1, 8, 64, 199), draws=2000, seed=0,
                         params=Params.from_theta(jnp.asarray(theta, jnp.float32)))
    assert [r.batch_size for r in c.rows] == [1, 8, 64, 199]
    for r in c.rows:
        assert r.bias < 2 * r.bias_detectable  # six standard errors
        assert abs(r.variance / r.predicted_variance - 1) < 0.15


def _numpy_hessian(x, y, theta, eps=1e-5):
    """The full loss's Hessian by central differences of the analytic gradient, float64 numpy."""
    def grad(t):
        z = t[0] + x @ t[1:]
        h = 1 / (1 + np.exp(-z))
        dz = (h - y) * h * (1 - h)
        return np.concatenate([[dz.mean()], (dz[:, None] * x).mean(0)])

    return np.stack([(grad(theta + eps * e) - grad(theta - eps * e)) / (2 * eps) for e in np.eye(len(theta))])


def test_b_noise_against_a_direct_computation(x64):
    """tr(HΣ)/(GᵀHG) from numpy (finite-difference Hessian, per-example gradients by hand) against the exact
    Hessian (jax.hessian), Hessian-vector products, and Hutchinson's estimator with many probes."""
    x, y, theta = _setup()
    z = theta[0] + x @ theta[1:]
    h = 1 / (1 + np.exp(-z))
    dz = (h - y) * h * (1 - h)
    g = np.concatenate([dz[:, None], dz[:, None] * x], axis=1)
    hess = _numpy_hessian(x, y, theta)
    c = g - g.mean(0)
    want = np.trace(hess @ (c.T @ c / len(g))) / (g.mean(0) @ hess @ g.mean(0))
    p = Params.from_theta(jnp.asarray(theta))
    for method, rtol in (("exact", 1e-7), ("hvp", 1e-7), ("hutchinson", 0.05)):
        got = noise.noise_scales(p, jnp.asarray(x), jnp.asarray(y), method=method, probes=4000,
                                 key=jax.random.key(1))
        assert got.b_noise == pytest.approx(want, rel=rtol), method
        assert got.b_simple == pytest.approx(np.trace(c.T @ c / len(g)) / (g.mean(0) @ g.mean(0)), rel=1e-10)


def test_b_noise_is_b_simple_for_an_isotropic_hessian():
    g = np.random.default_rng(0).normal(size=(500, 3)) + 0.3
    a, b = noise.noise_scales_of(g, 2.5 * np.eye(3)), noise.noise_scale_of(g)
    assert a.b_noise == pytest.approx(b.b_simple, rel=1e-12) and a.b_simple == b.b_simple


def test_noise_scale_intervals_contain_their_estimate_and_cover_the_population():
    """Per-example gradients drawn from N(G, Σ) with |G|² small against tr Σ/N (where the plain bootstrap
    ratio falls far below the estimate): the corrected intervals contain their own estimate every time, and
    cover the population's B_simple = tr Σ/|G|² and B_noise in about 95% of 200 data sets."""
    rng = np.random.default_rng(0)
    n, mean, sd = 400, np.array([0.05, -0.03, 0.02]), np.array([0.6, 0.4, 0.3])
    hess = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    true_simple = float((sd**2).sum() / (mean @ mean))
    true_noise = float(np.trace(hess @ np.diag(sd**2)) / (mean @ hess @ mean))
    inside = cover_s = cover_n = 0
    trials = 200
    for i in range(trials):
        g = mean + sd * rng.normal(size=(n, 3))
        est = noise.noise_scales_of(g, hess)
        s, nz = noise.bootstrap_noise_scales(g, hess, resamples=400, seed=i)
        ci_s, ci_n = _percentiles(s), _percentiles(nz)  # order statistics: an infinite replicate stays so
        inside += ci_s[0] <= est.b_simple <= ci_s[1] and ci_n[0] <= est.b_noise <= ci_n[1]
        cover_s += ci_s[0] <= true_simple <= ci_s[1]
        cover_n += ci_n[0] <= true_noise <= ci_n[1]
    assert inside >= 0.97 * trials
    assert 0.88 * trials <= cover_s and 0.88 * trials <= cover_n, (cover_s, cover_n)
