"""The command line's shared pieces: progress on stderr, flag names, data."""

import io

import pytest

from jaxsgd.cli.common import Progress, flag, table


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_one_line_per_step_off_a_terminal():
    out = io.StringIO()
    p = Progress(3, stream=out)
    for i in range(1, 4):
        p.update(i, f"step {i}")
    lines = out.getvalue().splitlines()
    assert [ln.split()[0] for ln in lines] == ["[1/3]", "[2/3]", "[3/3]"]
    assert "s left" in lines[0] and "s left" not in lines[-1]  # an ETA until the last step


def test_progress_is_a_bar_redrawn_in_place_on_a_terminal():
    out = _Tty()
    p = Progress(4, stream=out)
    p.update(1, "a")
    p.note("warning: kept")
    p.update(4, "d")
    text = out.getvalue()
    assert text.count("\r[") == 2 and "[######" in text and text.endswith("\n")
    assert "\nwarning: kept\n" in text  # a note starts on a line of its own, below the bar


def test_quiet_progress_prints_nothing_but_notes():
    out = _Tty()
    p = Progress(2, quiet=True, stream=out)
    p.update(1, "a")
    p.note("warning: x")
    assert out.getvalue() == "warning: x\n"


def test_eta_of_a_resumed_run_counts_only_its_own_steps():
    out = io.StringIO()
    p = Progress(10, stream=out)
    p.update(9, "epoch 9")  # a run resumed at epoch 8: one epoch run, one left
    eta = float(out.getvalue().split("about ")[1].split(" s left")[0])
    elapsed = float(out.getvalue().split("(")[1].split(" s")[0])
    assert eta == pytest.approx(elapsed, abs=1)


@pytest.mark.parametrize(("argument", "shown"), [("batch_size", "--batch-size"), ("n_rows", "--rows"),
                                                  ("fractions", "--levels"), ("csv", "--data")])
def test_flags_of_library_arguments(argument, shown):
    assert flag(argument) == shown


def test_table_aligns_columns():
    lines = table(["name", "n"], [["a", "10"], ["bbb", "2"]], [-4, 3])
    assert lines == ["name   n", "a     10", "bbb    2"]


@pytest.mark.parametrize(("parse", "text", "fix"), [
    ("positive_int", "1_000", "write 1000"), ("positive_int", "１", "write 1"), ("seed", "1_0", "write 10"),
    ("finite_float", "0_5", "write 05"), ("finite_float", "１.５", "write 1.5"),
])
def test_number_flags_refuse_python_only_spellings_with_the_fix(parse, text, fix):
    import argparse

    from jaxsgd.cli import common

    with pytest.raises(argparse.ArgumentTypeError, match=f"^not a (whole )?number: '{text}'; {fix}$"):
        getattr(common, parse)(text)


def test_orders_and_lists_refuse_python_only_spellings():
    import argparse

    from jaxsgd.cli import common

    with pytest.raises(argparse.ArgumentTypeError, match="write 10"):
        common.order_type(12, "this")("1_0")
    for parse, text in ((common.int_list, "32,6_4"), (common.float_list, "0.5,１")):
        with pytest.raises(argparse.ArgumentTypeError, match="ASCII digits"):
            parse(text)
    assert common.order_type(12, "this")(" +3 ") == 3 and common.positive_int("007") == 7
    assert common.finite_float("−1.5e3") == -1500.0 and common.int_list("64,32") == (32, 64)


@pytest.mark.parametrize(("text", "ascii_"), [
    ("θ ← θ − α∇L", "theta <- theta - alpha grad L"),  # words for symbols stay apart from their neighbours
    ("θ¹ = θ⁰ − α·∇L(θ⁰)", "theta^1 = theta^0 - alpha*grad L(theta^0)"),
    ("σ⁽³⁾ = σ(1−σ)", "s^(3) = s(1-s)"),
    ("  λ  max", "  lambda  max"),  # spacing already there is kept (tables line up)
])
def test_the_ascii_rendering_keeps_words_apart(text, ascii_):
    from jaxsgd.cli import terminal

    assert text.encode("ascii", terminal.ASCII).decode() == ascii_
