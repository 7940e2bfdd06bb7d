"""The command line's conventions: bad input is one line on stderr and exit 2; help is on stdout, exit 0."""

import pytest

from jaxsgd.cli import main


def test_bare_command_is_usage_on_stderr_exit_2(capsys):
    assert main([]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1
    assert "missing COMMAND" in out.err and "usage: jaxsgd" in out.err and "train" in out.err


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["train", "--help"], ["batch-size", "--help"]])
def test_help_is_on_stdout_exit_0(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr()
    assert out.out.startswith("usage: jaxsgd") and out.err == ""


def test_help_states_the_output_rules(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "replaced only if it is a jaxsgd checkpoint" in text and "already an image of that format" in text


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("jaxsgd ")


@pytest.mark.parametrize("argv", [["nope"], ["train", "--bogus"], ["predict", "--csv", "x.csv"]])
def test_usage_errors_are_one_line(capsys, argv):
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and out.err.startswith("error: jaxsgd")
