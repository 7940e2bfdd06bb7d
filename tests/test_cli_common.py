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
