"""The worked step: expression, numbers against mpmath, JSON contract, errors."""

import json
import subprocess
import sys

import mpmath as mp
import pytest

from jaxsgd import exercise as ws
from jaxsgd.cli import main


@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits for this module's references, restored afterwards."""
    with mp.workdps(50):
        yield
EXACT_GRAD_B = -1.5165120838575247e-09  # −(3 − σ(21))·σ(21)·σ(−21), mpmath to 50 digits


def _mp_ref(theta, x, y):
    z = mp.mpf(theta[0]) + sum(mp.mpf(w) * mp.mpf(v) for w, v in zip(theta[1:], x, strict=True))
    s = 1 / (1 + mp.exp(-z))
    dz = -(mp.mpf(y) - s) * s * (1 - s)
    return z, [dz] + [dz * mp.mpf(v) for v in x]


def test_reference_value_is_what_mpmath_says():
    _, g = _mp_ref([4, 5, 6], [1, 2], 3)
    assert float(g[0]) == EXACT_GRAD_B


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-15), ("float32", 1e-6)])
def test_exercise_numbers(dtype, rtol):
    s = ws.worked_step([4, 5, 6], [1, 2], 3, lr=0.1, dtype=dtype)
    assert s.z == 21.0
    _, ref = _mp_ref([4, 5, 6], [1, 2], 3)
    for got, r in zip(s.gradient, ref, strict=True):
        assert got == pytest.approx(float(r), rel=rtol)
    assert s.gradient[0] < 0  # ∇L < 0: the step increases θ, towards y = 3
    assert all(g == 0.0 for g in s.naive_float32_gradient)
    if dtype == "float64":
        assert s.theta1 == pytest.approx([t - 0.1 * float(r) for t, r in zip([4, 5, 6], ref, strict=True)], rel=1e-15)
    else:
        assert s.theta1 == (4.0, 5.0, 6.0)  # the step is below float32 resolution


def test_expression_and_text():
    s = ws.worked_step([4, 5, 6], [1, 2], 3, dtype="float64")
    assert ws.expression(s) == "θ¹ = (4, 5, 6) + α·(3 − σ(21))·σ(21)·(1 − σ(21))·(1, 1, 2)"
    text = ws.format_text(s)
    assert "z         = 4 + 5·1 + 6·2 = 21" in text
    assert "∂L/∂b     = -1.51651208385752" in text  # float64, within an ulp of the exact value
    assert "saturated" in text and "exactly 0" in text
    with_lr = ws.worked_step([4, 5, 6], [1, 2], 3, lr=0.5)
    assert ws.expression(with_lr).startswith("θ¹ = (4, 5, 6) + 0.5·(3 − σ(21))")


def test_general_point_signs_against_mpmath():
    s = ws.worked_step([0.5, -1.0, 2.0, 0.25], [1.5, -0.5, 2.0], -0.25, lr=0.3, dtype="float64")
    z, ref = _mp_ref([0.5, -1.0, 2.0, 0.25], [1.5, -0.5, 2.0], -0.25)
    assert s.z == float(z)
    assert s.gradient == pytest.approx([float(r) for r in ref], rel=1e-14)
    assert s.theta1 == pytest.approx([t - 0.3 * float(r) for t, r in zip([0.5, -1.0, 2.0, 0.25], ref, strict=True)])
    assert "(1, 1.5, -0.5, 2)" in ws.expression(s)
    assert "saturated" not in ws.lesson(s)


def test_latex_form():
    s = ws.worked_step([4, 5, 6], [1, 2], 3)
    tex = ws.latex(s)
    assert tex.startswith(r"\theta^{1} = \begin{pmatrix}4 \\ 5 \\ 6\end{pmatrix} + \alpha\,(3 - \sigma(21))")
    assert "−" not in tex


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lr", [None, "0.1"])
def test_json_contract(capsys, dtype, lr):
    argv = ["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--format", "json", "--dtype", dtype]
    if lr:
        argv += ["--lr", lr]
    assert main(argv) == 0
    out = capsys.readouterr().out
    obj = json.loads(out)
    assert out.count("\n") == 1
    assert obj["z"] == 21.0
    assert len(obj["gradient"]) == 3
    assert obj["gradient"][0] == pytest.approx(EXACT_GRAD_B, rel=1e-6)
    assert (obj["theta1"] is None) == (lr is None)
    assert "σ(21)" in obj["expression"] and r"\sigma(21)" in obj["latex"]


def test_text_and_latex_formats(capsys):
    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3"]) == 0
    assert "θ¹ = (4, 5, 6) + α·(3 − σ(21))" in capsys.readouterr().out
    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--format", "latex"]) == 0
    assert r"\nabla L" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--theta", "4", "5", "--x", "1", "2", "--y", "3"], "--theta has 2 numbers but --x has 2 features"),
        (["--theta", "4", "5", "6", "7", "--x", "1", "2", "--y", "3"], "theta has 4 numbers"),
        (["--theta", "4", "five", "6", "--x", "1", "2", "--y", "3"], "not a number: 'five'"),
        (["--theta", "4", "5", "6", "--x", "1", "2", "--y", "nan"], "not a finite number"),
        (["--theta", "4", "5", "6", "--x", "1", "inf", "--y", "3"], "not a finite number"),
        (["--theta", "4", "5", "6", "--x", "1", "2"], "required: --y"),
        (["--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--lr", "x"], "not a number"),
        (["--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--dtype", "float16"], "invalid choice"),
        (["--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--format", "xml"], "invalid choice"),
        (["--theta", "--x", "1", "--y", "3"], "expected at least one argument"),
    ],
)
def test_step_errors_are_one_line_exit_2(capsys, argv, needle):
    assert main(["step", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_worked_step_rejects_bad_values():
    with pytest.raises(ValueError, match="dtype must be one of"):
        ws.worked_step([1, 2], [1], 0, dtype="int8")
    with pytest.raises(ValueError, match="finite"):
        ws.worked_step([1, float("nan")], [1], 0)


def test_console_entry_point_exit_code_and_version():
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "step", "--theta", "1", "--x", "1", "--y", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "jaxsgd", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("jaxsgd ")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--theta", "0", "1e308", "1e308", "--x", "1", "2", "--y", "3", "--lr", "0.1"],
         "z = b + w·x overflows float64"),
        (["--theta", "0", "1e20", "0", "--x", "1e20", "0", "--y", "1", "--dtype", "float32"],
         "z = b + w·x overflows float32"),
        (["--theta", "0", "1e39", "0", "--x", "1", "2", "--y", "3", "--dtype", "float32"],
         "beyond the float32 range"),
        (["--theta", "0", "1e-300", "0", "--x", "1e300", "0", "--y", "1e300"], "the gradient overflows float64"),
        (["--theta", "0", "1", "1", "--x", "1", "2", "--y", "1e300", "--lr", "1e308"],
         "θ¹ = θ⁰ − lr·∇L overflows float64"),
        (["--theta", "0", "1", "1", "--x", "1", "2", "--y", "3", "--lr", "0"], "argument --lr: must be > 0"),
        (["--theta", "0", "1", "1", "--x", "1", "2", "--y", "3", "--lr", "-0.5"], "argument --lr: must be > 0"),
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_non_finite_step_is_refused_not_printed(capsys, argv, needle, fmt):
    assert main(["step", *argv, "--format", fmt]) == 2
    out = capsys.readouterr()
    assert out.out == "" and needle in out.err
    assert out.err.count("\n") == 1 and "Traceback" not in out.err and "nan" not in out.err


def test_float32_overflow_names_the_fix(capsys):
    assert main(["step", "--theta", "0", "2e38", "2e38", "--x", "1", "2", "--y", "3", "--dtype", "float32"]) == 2
    err = capsys.readouterr().err
    assert "overflows float32" in err and "--dtype float64" in err
    assert main(["step", "--theta", "0", "2e38", "2e38", "--x", "1", "2", "--y", "3", "--dtype", "float64"]) == 0


def test_json_with_values_beyond_float32(capsys):
    """float64 inputs float32 cannot hold: no naive float32 gradient (null), and valid JSON, not a crash."""
    argv = ["step", "--theta", "0", "1e300", "1", "--x", "1e-300", "0", "--y", "3", "--lr", "1", "--format", "json"]
    assert main(argv) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["naive_float32_gradient"] is None
    assert obj["z"] == 1.0 and all(isinstance(g, float) for g in obj["gradient"] + obj["theta1"])


def test_library_refuses_overflow_and_bad_lr():
    with pytest.raises(ValueError, match="z = b"):
        ws.worked_step([0, 1e308, 1e308], [1, 2], 3, dtype="float64")
    with pytest.raises(ValueError, match="lr must be > 0"):
        ws.worked_step([0, 1], [1], 3, lr=0.0)
    s = ws.worked_step([0, 1e300], [1e-300], 3, dtype="float64")
    assert s.naive_float32_gradient is None and "saturated" not in ws.lesson(s)


@pytest.mark.parametrize(("z", "shown"), [(-800.0, "3.7e-348"), (800.0, "3.7e-348"), (30.0, "9.4e-14")])
def test_lesson_states_the_tail_of_sigma_beyond_float64(z, shown):
    # σ(−800) ≈ e^−800 ≈ 3.7e−348; the lesson once capped |z| at 700 and printed 9.9e−305
    s = ws.worked_step([z, 0.0], [1.0], 0.5, dtype="float64")
    assert f"≈ {shown}" in ws.lesson(s)


def test_residual_sigma_prime_and_symbolic_step_against_mpmath(capsys):
    import mpmath

    from jaxsgd.cli import main

    s = ws.worked_step([4, 5, 6], [1, 2], 3)  # float64 by default, as the command line
    with mpmath.workdps(40):
        sig = 1 / (1 + mpmath.exp(-21))
        residual, prime = float(3 - sig), float(sig * (1 - sig))
    assert s.dtype == "float64"
    assert s.residual == pytest.approx(residual, rel=1e-15)
    assert s.sigma_prime == pytest.approx(prime, rel=1e-14)
    assert ws.symbolic_theta1(s).startswith("(4 + 1.5165120838575247e-09·α, 5 + 1.5165120838575247e-09·α, 6 + 3.")
    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3"]) == 0
    out = capsys.readouterr().out
    assert "y − σ(z)  = 2.000000000758256" in out and "σ′(z)     = 7.58256041641286" in out
    assert "θ¹        = (4 + 1.5165120838575247e-09·α" in out
    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--format", "latex"]) == 0
    assert r"\sigma'(z) = 7.582560416412862\times10^{-10}" in capsys.readouterr().out
