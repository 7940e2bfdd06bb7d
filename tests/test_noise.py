"""Noise scale: exact B_simple against numpy, the two-batch estimator's unbiasedness, bias/variance."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import study as noise
from jaxsgd.model import Params


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
