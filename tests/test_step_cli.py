"""`jaxsgd step` as a student runs it: the lesson judges the actual step, y outside (0, 1) gets a note, LaTeX
numbers and α, and the text table's columns."""

import json
import math
import re

import pytest

from jaxsgd.cli import main

EXERCISE = ["--theta", "4,5,6", "--x", "1,2", "--y", "3"]


def _run(capsys, *argv):
    assert main(["step", *argv]) == 0
    return capsys.readouterr().out


def _json(capsys, *argv):
    return json.loads(_run(capsys, *argv, "--format", "json"))


# the labels of format_text's rows; "" is the continuation row of θ¹ with α's value
LABEL = re.compile(r"^(Model|Gradient|Step|z|σ\(z\)|y − σ\(z\)|σ′\(z\)|∂L/∂(?:b|w\d+)|θ¹|Note|Lesson|)( +)(\S)")


@pytest.mark.parametrize("argv", [
    EXERCISE,
    [*EXERCISE, "--lr", "0.1"],
    ["--theta", "0,0,0", "--x", "1,2", "--y", "0.5", "--lr", "0.1"],
    ["--theta", "0.5", "-1", "2", "0.25", "--x", "1.5", "-0.5", "2", "--y", "-0.25", "--lr", "0.3"],
    ["--theta", *["0.1"] * 12, "--x", *["1"] * 11, "--y", "0.2", "--lr", "1"],  # ∂L/∂w11: a longer label
])
def test_every_row_starts_its_text_in_the_same_column(capsys, argv):
    lines = _run(capsys, *argv).splitlines()
    columns = set()
    for line in lines:
        m = LABEL.match(line)
        assert m, f"a row without a known label: {line!r}"
        columns.add(len(m.group(1)) + len(m.group(2)))
        if m.group(1) not in ("Model", "Gradient", "Step", "Note", "Lesson"):
            assert m.group(3) == "=", line  # the equations' = signs line up too
    assert len(columns) == 1, columns


def _moved(obj):
    return math.sqrt(sum((b - a) ** 2 for a, b in zip(obj["theta0"], obj["theta1"], strict=True)))


def test_a_step_that_leaves_theta_where_it_was_is_not_called_noticeable(capsys):
    # θ⁰ = 0 and y = σ(0) = 0.5: ∇L = 0, so θ¹ = θ⁰ for every α
    obj = _json(capsys, "--theta", "0,0,0", "--x", "1,2", "--y", "0.5", "--lr", "0.1")
    assert obj["theta1"] == obj["theta0"]
    assert "noticeably" not in obj["lesson"] and "does not move θ" in obj["lesson"]
    # a learning rate so small that θ¹ rounds back to θ⁰, away from saturation
    obj = _json(capsys, "--theta", "1,1,1", "--x", "1,2", "--y", "0.9", "--lr", "1e-20")
    assert obj["theta1"] == obj["theta0"] and obj["gradient"][0] != 0
    assert "noticeably" not in obj["lesson"] and "rounds back to θ⁰" in obj["lesson"]


def test_the_lesson_states_the_change_it_judges(capsys):
    obj = _json(capsys, "--theta", "0,0,0", "--x", "1,2", "--y", "3", "--lr", "0.1")  # from θ⁰ = 0
    assert f"|Δθ| = {_moved(obj):.3g}" in obj["lesson"]
    obj = _json(capsys, "--theta", "1,2", "--x", "1", "--y", "0.2", "--lr", "1")  # noticeable: ≥ 1e-3 of |θ⁰|
    rel = _moved(obj) / math.hypot(1, 2)
    assert rel > 1e-3 and f"moves θ noticeably: |Δθ| = {_moved(obj):.3g}, {rel:.3g} of |θ⁰|" in obj["lesson"]
    obj = _json(capsys, "--theta", "1,2", "--x", "1", "--y", "0.2", "--lr", "1e-6")  # below that: "only"
    rel = _moved(obj) / math.hypot(1, 2)
    assert 0 < rel < 1e-3 and "noticeably" not in obj["lesson"] and f"only |Δθ| = {_moved(obj):.3g}" in obj["lesson"]
    obj = _json(capsys, "--theta", "0,0,0", "--x", "1,2", "--y", "3")  # α a symbol: the step per unit α
    norm = math.sqrt(sum(g * g for g in obj["gradient"]))
    assert f"α·|∇L| = {norm:.3g}·α" in obj["lesson"] and "noticeably" not in obj["lesson"]


@pytest.mark.parametrize(("y", "floor"), [("3", "½(y − 1)² = 2"), ("-1", "½(y − 0)² = 0.5"), ("1.5", "= 0.125")])
def test_a_target_outside_the_range_of_sigma_gets_a_one_line_note(capsys, y, floor):
    argv = ["--theta", "0,0,0", "--x", "1,2", "--y", y]
    notes = [line for line in _run(capsys, *argv).splitlines() if line.startswith("Note")]
    assert len(notes) == 1 and "never reaches it, so the loss cannot reach 0" in notes[0] and floor in notes[0]
    assert floor in _json(capsys, *argv)["note"]
    tex = _run(capsys, *argv, "--format", "latex").splitlines()
    assert [t for t in tex if t.startswith("%")] == ["% " + _json(capsys, *argv)["note"]]


@pytest.mark.parametrize("y", ["0", "1"])
def test_a_target_at_a_limit_of_sigma_is_never_reached(capsys, y):
    note = _json(capsys, "--theta", "0,0", "--x", "1", "--y", y)["note"]
    assert "never reaches" in note and "never 0" in note


def test_a_target_inside_the_range_has_no_note(capsys):
    assert "Note" not in _run(capsys, "--theta", "0,0", "--x", "1", "--y", "0.25")
    assert _json(capsys, "--theta", "0,0", "--x", "1", "--y", "0.25")["note"] is None


def _tex_of(v: float) -> str:
    mantissa, exponent = repr(v).split("e")
    return rf"{mantissa}\times10^{{{int(exponent)}}}"


@pytest.mark.parametrize("lr", [[], ["--lr", "0.1"]])
def test_latex_writes_powers_of_ten_not_e_notation(capsys, lr):
    tex = _run(capsys, *EXERCISE, *lr, "--format", "latex")
    obj = _json(capsys, *EXERCISE, *lr)
    assert not re.search(r"\de[-+]?\d", tex), tex  # no 7.58e-10 anywhere
    assert _tex_of(obj["sigma_prime"]) in tex  # 7.582560416412862\times10^{-10}
    assert _tex_of(abs(obj["gradient"][2])) in tex


def test_latex_puts_the_learning_rate_in_once_it_is_given(capsys):
    last = _run(capsys, *EXERCISE, "--lr", "0.1", "--format", "latex").splitlines()
    theta1 = [t for t in last if t.startswith(r"\theta^{1}")]
    assert r"\alpha" not in theta1[0].split("=")[1]  # the substituted step has the number, not α
    assert r"\cdot 0.1" in theta1[-1] and r"\alpha = 0.1" in theta1[-1]
    obj = _json(capsys, *EXERCISE, "--lr", "0.1")
    values = re.search(r"= \\begin\{pmatrix\}([^}]*)\\end\{pmatrix\}, \\quad \\alpha", theta1[-1]).group(1)
    assert [float(v) for v in values.split(r" \\ ")] == obj["theta1"]
    symbolic = _run(capsys, *EXERCISE, "--format", "latex").splitlines()[-2]  # no --lr: α stays a symbol
    assert symbolic.startswith(r"\theta^{1}") and r"\,\alpha" in symbolic


@pytest.mark.parametrize("theta", [["4,5,6"], ["(4, 5, 6)"], ["4", "5", "6"]])
def test_theta_as_the_exercise_writes_it(capsys, theta):
    assert _json(capsys, "--theta", *theta, "--x", "1,2", "--y", "3")["theta0"] == [4.0, 5.0, 6.0]


def test_a_negative_first_entry_and_an_empty_one_are_read_as_written(capsys):
    from jaxsgd.cli import main

    assert main(["step", "--theta", "-1000,0,0", "--x", "1,2", "--y", "1"]) == 0
    assert "σ(-1000)" in capsys.readouterr().out
    assert main(["step", "--theta", "4,,6", "--x", "1,2", "--y", "3"]) == 2
    assert "an empty entry in '4,,6'" in capsys.readouterr().err


def test_a_huge_learning_rate_is_not_called_a_tiny_step(capsys):
    from jaxsgd.cli import main

    assert main(["step", "--theta", "4,5,6", "--x", "1,2", "--y", "3", "--lr", "1e30"]) == 0
    lesson = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Lesson"))
    assert "step is tiny" not in lesson and "makes the step large" in lesson
