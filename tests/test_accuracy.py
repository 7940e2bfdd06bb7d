"""The derivative checker: its Decimal reference against mpmath, the table, exit codes; `jaxsgd derivative`."""

import json

import mpmath as mp
import numpy as np
import pytest

from jaxsgd import derivatives as checker
from jaxsgd.cli import main


@pytest.mark.parametrize("k", [0, 1, 5, 40])
def test_decimal_reference_matches_mpmath(k):
    xs = np.array([-37.5, -3.25, -0.5, 0.0, 0.75, 12.0, 40.0])
    got = checker.reference(xs, k)
    with mp.workdps(60 + 2 * k):
        want = [float(1 / (1 + mp.exp(-mp.mpf(x)))) if k == 0 else float(-mp.polylog(-k, -mp.exp(mp.mpf(x))))
                for x in xs]
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_rows_and_tolerances():
    rows = list(checker.run_checks(3, methods=["auto", "closed_form"], dtypes=("float64",)))
    assert [(r.method, r.order) for r in rows] == [(m, k) for k in (1, 2, 3) for m in ("auto", "closed_form")]
    assert all(r.ok and r.max_rel_error < 1e-13 for r in rows)
    bad = checker.AccuracyRow("x", "float64", 1, 2e-12, 1e-12, 0.0)
    assert not bad.ok


def test_cli_check(capsys):
    assert main(["check", "--max-order", "2", "--methods", "auto,pole,taylor"]) == 0
    out = capsys.readouterr().out
    assert "max rel err" in out and "within tolerance" in out
    assert main(["check", "--methods", "magic"]) == 2
    assert "unknown method magic" in capsys.readouterr().err


def test_cli_derivative_formats(capsys):
    assert main(["derivative", "3", "--format", "json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["order"] == 3 and obj["coefficients"] == [0, 1, -7, 12, -6]
    assert obj["text"] == "−6σ⁴ + 12σ³ − 7σ² + σ" and obj["latex"].startswith("-6\\sigma^{4}")
    assert main(["derivative", "2"]) == 0
    out = capsys.readouterr().out
    assert "σ⁽²⁾ = 2σ³ − 3σ² + σ" in out and "σ(1 − σ)(1 − 2σ)" in out and "tanh" in out
    assert main(["derivative", "-1"]) == 2
    assert main(["derivative", "two"]) == 2
