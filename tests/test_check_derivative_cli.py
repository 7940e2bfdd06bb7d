"""``jaxsgd check-derivative`` as a student types it: the verdicts, the lines that come with them, exit codes."""

import subprocess
import sys

import pytest

from jaxsgd import derivatives as P
from jaxsgd.cli import main

_OLD_POINTS = ("0.5", "-1.25", "1.7", "-0.3", "3.1", "-2.6", "0.9", "-6.7", "7.3", "-17.9", "19.1", "-39.7", "40.3")
_VANISHING = "(x-0.5)(x+1.25)(x-1.7)(x+0.3)(x-3.1)(x+2.6)(x-0.9)(x+6.7)(x-7.3)(x+17.9)(x-19.1)(x+39.7)(x-40.3)"


def _run(capsys, *argv):
    code = main(["check-derivative", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("order", [0, 1, 2, 3, 40])
@pytest.mark.parametrize("form", ["sigma", "tanh"])
def test_the_issue_counterexample_is_incorrect_at_every_order(capsys, order, form):
    # used to print CORRECT, exit 0: the product vanishes at the 13 points every CORRECT message listed
    if form == "sigma":
        right = "σ(1-σ)" if order == 1 else P.text(P.sigmoid_polynomial(order))
    else:
        right = P.tanh_form(order) if order else "(1 + tanh(x/2))/2"
    code, out, _ = _run(capsys, "--order", str(order), f"{right} + {_VANISHING}")
    assert code == 1 and out.startswith("INCORRECT") and "proven different exactly, as functions of x" in out
    shown = out.split("at x = ")[1].split(" ")[0]
    assert shown not in _OLD_POINTS


def test_a_bump_at_100_is_incorrect_and_shown_there(capsys):
    code, out, _ = _run(capsys, "--order", "1", "σ(1-σ) + e^(-(x-100)^2)")
    assert code == 1 and "at x = 100 your expression gives 1.0 but" in out


def test_a_tiny_proven_difference_is_incorrect_not_cannot_judge(capsys):
    # exact check said different, then the 13 points at 30 digits could not show it: exit 2 before
    code, out, err = _run(capsys, "--order", "1", "σ(1-σ) + 10^-60·σ")
    assert code == 1 and out.startswith("INCORRECT") and err == ""
    given, expected = out.split(" your expression gives ")[1].split(" (proven")[0].split(" but σ⁽¹⁾")
    assert given != expected.split(" = ")[1]


def test_the_correct_message_says_which_method_decided(capsys):
    assert _run(capsys, "--order", "2", "σ(1−σ)(1−2σ)")[1].strip().endswith("(compared exactly, as functions of σ)")
    assert _run(capsys, "--order", "1", "e^-x/(1+e^-x)^2")[1].strip().endswith(
        "(compared exactly, as functions of x)")
    code, out, _ = _run(capsys, "--order", "1", "σ(1 − σ)·σ(e^x)/σ(e^x)")
    assert code == 0 and "12 points drawn at random for this check, in interval arithmetic" in out


def test_a_mixed_number_is_read_and_echoed(capsys):
    # 2(σ³ − 1½σ² + ½σ) used to be INCORRECT (1½ read as 1·½)
    code, out, _ = _run(capsys, "--order", "2", "2(σ³ − 1½σ² + ½σ)")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("CORRECT")
    assert lines[1] == "read as: 2·(σ^3 − (1 + 1/2)·σ^2 + (1/2)·σ)"
    code, _, err = _run(capsys, "--order", "2", "2(σ³ − 1 ½σ² + ½σ)")
    assert code == 2 and "1 ½ is ambiguous" in err and err.count("\n") == 1


def test_an_ascii_mixed_number_after_a_space_is_refused_with_the_fix(capsys):
    # 1 1/2 used to be read as 1·½: INCORRECT, with no "read as:" line
    code, out, err = _run(capsys, "--order", "2", "2σ³ − 3σ² + 1 1/2 σ")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "1 1/2 is ambiguous: write 1+1/2 or 3/2 for the mixed number, or 1*1/2 for the product" in err


@pytest.mark.parametrize(("expr", "read"), [("σ2 - σ", "σ·2 − σ"), ("σ^(1)", "σ^1")])
def test_a_reading_that_is_not_literal_is_echoed(capsys, expr, read):
    code, out, _ = _run(capsys, "--order", "1", expr)
    assert code == 1 and f"read as: {read}" in out.splitlines()


def test_plain_answers_get_no_echo(capsys):
    code, out, _ = _run(capsys, "--order", "1", "σ(1 − σ)")
    assert code == 0 and len(out.splitlines()) == 1


def test_capital_sigma_is_refused(capsys):
    code, out, err = _run(capsys, "--order", "1", "Σ(1 − Σ)")
    assert code == 2 and out == "" and "did you mean σ (lower case)?" in err and err.count("\n") == 1


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_what_derivative_prints_in_latex_is_correct(capsys, order):
    assert main(["derivative", str(order), "--format", "latex"]) == 0
    line = capsys.readouterr().out.strip()
    code, out, _ = _run(capsys, "--order", str(order), line)
    assert code == 0 and out.startswith("CORRECT") and "read as: " in out
    code, out, _ = _run(capsys, "--order", str(order), line.split("=", 1)[1])
    assert code == 0 and out.startswith("CORRECT")


def test_latex_in_other_forms_is_read_or_refused_with_the_plain_form(capsys):
    code, out, _ = _run(capsys, "--order", "1", r"\frac{1}{4}\left(1 - \tanh^{2}\frac{x}{2}\right)")
    assert code == 0 and "read as: (1/4)·(1 − tanh(x/2)^2)" in out
    code, _, err = _run(capsys, "--order", "1", r"\sqrt{\sigma}")
    assert code == 2 and r"\sqrt is not read: type the formula plainly" in err and err.count("\n") == 1


@pytest.mark.parametrize("expr", ["sech(x/2)^2/4", "1/(4cosh(x/2)^2)", "1/(2 + 2cosh(x))",
                                  "(cosh(x) − sinh(x))σ(x)^2"])
def test_sech_cosh_and_sinh_are_read(capsys, expr):
    code, out, _ = _run(capsys, "--order", "1", expr)
    assert code == 0 and out.startswith("CORRECT")


@pytest.mark.parametrize("expr", ["d²σ/dx²", "d^2σ/dx^2", "dσ/dx"])
def test_leibniz_notation_is_refused_with_the_fix(capsys, expr):
    code, _, err = _run(capsys, "--order", "2", expr)
    assert code == 2 and "Leibniz notation" in err and "σ″" in err and err.count("\n") == 1


@pytest.mark.parametrize(("order", "expr"), [(3, "σ'''"), (3, "σ‴(x)"), (1, "σ′"), (2, "σ⁽²⁾")])
def test_restating_the_derivative_is_refused(capsys, order, expr):
    # was CORRECT: true, and no answer
    code, out, err = _run(capsys, "--order", str(order), expr)
    assert code == 2 and out == "" and "restates the derivative asked for" in err and err.count("\n") == 1


def test_an_answer_for_another_order_says_which(capsys):
    code, out, _ = _run(capsys, "--order", "3", "σ″")
    lines = out.splitlines()
    assert code == 1 and lines[0].startswith("INCORRECT")
    assert lines[-1] == "note: your expression is σ⁽²⁾, the derivative of order 2, not of order 3"
    code, out, _ = _run(capsys, "--order", "3", "--hide-answer", "σ″")
    assert code == 1 and "−6σ⁴" not in out and "note: your expression is σ⁽²⁾" in out


def test_hide_answer_keeps_the_answer_out_of_every_line(capsys):
    for expr in ("σ(1-σ) + e^(-(x-100)^2)", "σ(1 − σ) + ((10^-128)^128)^2·σ", "σ2"):
        code, out, _ = _run(capsys, "--order", "1", "--hide-answer", expr)
        assert code == 1 and "−σ² + σ" not in out and "σ⁽¹⁾(" not in out


@pytest.mark.parametrize("expr", ["σ(1 − σ)·σ(e^x)/σ(e^x)", "1/(4cosh(x/2)^2)", "σ2"])
def test_every_method_runs_without_jax(expr):
    script = ("import sys; sys.modules['jax'] = None; from jaxsgd.cli import main; code = main(sys.argv[1:]); "
              "sys.stderr.write('LOADED ' + ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('numpy', 'jaxlib')))); sys.exit(code)")
    got = subprocess.run([sys.executable, "-c", script, "check-derivative", "--order", "1", expr],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode in (0, 1), got.stderr
    assert got.stderr.split("LOADED")[-1].strip() == "" and "CORRECT" in got.stdout
