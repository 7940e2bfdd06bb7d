"""The claims' tests have power: a biased gradient is caught, the unbiased one passes, the variance law holds."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsgd import study as claims


def _data(n=2000):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = ((x[:, 0] - 0.5 * x[:, 1] + rng.normal(size=n)) > 0).astype(np.float32)
    return x, y


def test_unbiased_gradients_pass_and_the_variance_law_holds():
    x, y = _data()
    c = claims.run_claims(x, y, batch_sizes=(1, 16, 256), draws=2048, seed=0)
    assert all(r.unbiased for r in c.rows)
    for r in c.rows:
        assert abs(r.variance / r.predicted_variance - 1) < 4 * r.variance_ratio_se + 0.02
        assert r.bias < r.bias_detectable


def test_the_bias_test_has_power_and_keeps_its_level():
    """Draws from a known distribution: unbiased ones are flagged about 1% of the time, a bias of four
    standard errors of the mean (in one coordinate of three) nearly always."""
    rng = np.random.default_rng(3)
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.5], [0.0, 0.5, 0.7]])
    chol = np.linalg.cholesky(cov)
    draws = 1024
    se = np.sqrt(cov[1, 1] / draws)
    false_alarms = found = 0
    for _ in range(200):
        d = rng.normal(size=(draws, 3)) @ chol.T
        false_alarms += claims.bias_test(d, np.zeros(3))[1] < claims.ALPHA
        found += claims.bias_test(d + np.array([0.0, 4 * se, 0.0]), np.zeros(3))[1] < claims.ALPHA
    assert false_alarms <= 8 and found >= 180


def test_chi2_survival_function_against_known_values():
    # χ²₃: sf(7.815) = 0.05, sf(11.345) = 0.01; χ²₁₀: sf(18.307) = 0.05
    assert abs(claims.chi2_sf(7.815, 3) - 0.05) < 0.003
    assert abs(claims.chi2_sf(11.345, 3) - 0.01) < 0.001
    assert abs(claims.chi2_sf(18.307, 10) - 0.05) < 0.002
    assert claims.chi2_sf(0.0, 3) == 1.0
    assert jnp.isfinite(claims.chi2_sf(1e6, 3))


def test_step_timings_report_each_batch_size_consistently():


    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 2)).astype(np.float32)
    y = rng.uniform(size=256).astype(np.float32)
    rows = claims.step_timings(x, y, (31, 32), repeats=2)
    assert [r["batch_size"] for r in rows] == [31, 32]
    for r in rows:  # examples per second counts only the full batches of an epoch
        assert r["examples_per_second"] == pytest.approx(256 // r["batch_size"] * r["batch_size"] / r["epoch_seconds"])
