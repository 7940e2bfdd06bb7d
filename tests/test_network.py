"""The network claims: the slope intervals' coverage and power, λ_max against the exact Hessian, and the claims
for the neuron and an MLP end to end (the command's JSON)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsgd import model, study
from jaxsgd.study import _network


@pytest.mark.parametrize("true_slope", [0.0, 0.02])
def test_the_slope_interval_covers_the_true_slope_about_95_percent_of_the_time(true_slope):
    rng = np.random.default_rng(0)
    logb = np.log2([8, 32, 128, 512])
    covered, trials = 0, 200
    for _ in range(trials):
        per_seed = 0.1 + true_slope * logb[:, None] + rng.normal(0, 0.05, (4, 8))
        _, ci = _network._bootstrap_slope(logb, per_seed, rng, resamples=300)
        covered += ci[0] <= true_slope <= ci[1]
    # a percentile bootstrap over 8 seeds runs a little narrow: binomial(200, 0.95) is 190 ± 6; allow 0.85
    assert 0.85 <= covered / trials <= 0.99


def test_the_verdict_finds_a_real_gap_and_says_none_where_there_is_none():
    rng = np.random.default_rng(1)
    logb = np.log2([8, 32, 128, 512])
    found = sum(_network._word(_network._bootstrap_slope(
        logb, 0.1 + 0.01 * logb[:, None] + rng.normal(0, 0.01, (4, 8)), rng, resamples=200)[1],
        "worse", "better", "no gap") == "worse" for _ in range(50))
    assert found >= 45  # power: a slope of 2.5 standard errors per octave is found
    false = sum(_network._word(_network._bootstrap_slope(
        logb, 0.1 + rng.normal(0, 0.01, (4, 8)), rng, resamples=200)[1], "worse", "better", "no gap") != "no gap"
        for _ in range(50))
    assert false <= 8  # about 5% (2.5) expected, a little more from the narrow bootstrap


@pytest.mark.parametrize("spec", ["sigmoid", "mlp:3"])
def test_lambda_max_by_power_iteration_is_the_exact_hessians_largest_eigenvalue(spec):
    m = model.from_spec(spec)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    y = (1 / (1 + np.exp(-x[:, 0] + x[:, 1]))).astype(np.float32)
    p = jax.tree.map(lambda a: a + 0.3, m.init(jax.random.key(0), 2))
    loss = None if spec == "sigmoid" else m.loss
    h = np.asarray(study.hessian(p, jnp.asarray(x), jnp.asarray(y), loss), np.float64)
    want = float(np.linalg.eigvalsh((h + h.T) / 2)[-1])
    n = h.shape[0]
    got = float(_network._lambda_max(p, jnp.asarray(x).T, jnp.asarray(y), jnp.ones(n), loss=loss))
    assert got == pytest.approx(want, rel=2e-3)


def test_the_claims_command_measures_an_mlp_and_says_each_verdict(capsys):
    from jaxsgd.cli import main

    argv = ["batch-size", "--rows", "800", "--seeds", "4", "--batch-sizes", "8,64", "--levels", "0.1",
            "--max-steps", "800", "--claims", "--model", "mlp:4"]
    assert main([*argv, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["claims"]["network"]
    assert got["model"] == "mlp:4" and [r["batch_size"] for r in got["rows"]] == [8, 64]
    assert got["generalisation"]["verdict"] in ("worse", "better", "no gap")
    assert got["sharpness"]["verdict"] in ("sharper", "flatter", "no trend")
    assert got["lr_scaling"]["verdict"] in ("linear", "sublinear", "superlinear", "not measured")
    assert all(r["sharpness"] > 0 for r in got["rows"])
