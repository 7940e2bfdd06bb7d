"""The command line's conventions: bad input is one line on stderr and exit 2; help is on stdout, exit 0."""

import json

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


@pytest.mark.parametrize("command", [["check-derivative", "σ", "--order"], ["derivative"]])
def test_an_order_with_thousands_of_digits_is_out_of_range_in_a_short_line(capsys, command):
    assert main([*command, "9" * 5000]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be between 0 and" in err and len(err) < 300


@pytest.mark.parametrize("value", ["-inf", "-nan", "-Infinity"])
def test_step_names_a_negative_infinity_as_not_finite(capsys, value):
    assert main(["step", "--theta", "4", "5", "--x", "1", "--y", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a finite number" in err


@pytest.mark.parametrize("argv", [["--ord", "1", "σ-σ^2"], ["--orde=1", "σ-σ^2"], ["--o", "1", "-σ^2+σ"],
                                  ["-σ^2+σ", "--or", "1"]])
def test_check_derivative_takes_abbreviated_order_like_argparse(capsys, argv):
    assert main(["check-derivative", *argv]) == 0
    assert capsys.readouterr().out.startswith("CORRECT")


def test_every_option_says_what_it_does_and_its_default():
    import argparse

    from jaxsgd.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sp in sub.choices.items():
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            text = a.help or ""
            flag_needs_default = a.option_strings and not isinstance(a, argparse._StoreTrueAction)
            if not text or (flag_needs_default and "default" not in text and "required" not in text):
                missing.append(f"{name} {a.option_strings or a.dest}")
    assert not missing, missing


@pytest.fixture
def pyplot_available():
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")


def test_step_plot(tmp_path, capsys, pyplot_available):
    out = tmp_path / "step.png"
    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--lr", "0.1", "--plot", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG") and "θ¹" in capsys.readouterr().out


def test_step_loss_along_the_gradient_falls_for_a_small_step():
    from jaxsgd.exercise import loss_along, worked_step

    s = worked_step([0.5, -1.0], [2.0], 0.9, 0.1)
    assert loss_along(s, 0.0) == pytest.approx(0.5 * (s.residual) ** 2, rel=1e-12)
    assert loss_along(s, 0.01) < loss_along(s, 0.0) < loss_along(s, -0.01)


def test_derivative_plot_and_its_cap(tmp_path, capsys, pyplot_available):
    out = tmp_path / "d.svg"
    assert main(["derivative", "4", "--plot", str(out)]) == 0
    assert b"<svg" in out.read_bytes()[:400] and capsys.readouterr().out.startswith("σ⁽⁴⁾")
    assert main(["derivative", "13", "--plot", str(tmp_path / "e.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "orders 1 to 12" in err and not (tmp_path / "e.png").exists()


def test_check_shows_progress_on_stderr_and_quiet_hides_it(capsys):
    assert main(["check", "--max-order", "1", "--methods", "auto"]) == 0
    out = capsys.readouterr()
    assert "[2/2]" in out.err and "within tolerance" in out.out
    assert main(["check", "--max-order", "1", "--methods", "auto", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_step_plot_far_in_the_tails_and_with_a_zero_gradient(tmp_path, capsys, pyplot_available):
    for i, theta in enumerate((["600", "0"], ["-600", "0"], ["0", "0"])):
        out = tmp_path / f"s{i}.png"
        y = "0.5" if theta == ["0", "0"] else "1"
        assert main(["step", "--theta", *theta, "--x", "1", "--y", y, "--plot", str(out)]) == 0
        assert out.exists() and capsys.readouterr().err == f"wrote {out}\n"  # no overflow, no matplotlib warning


@pytest.mark.parametrize(("argv", "needle"), [
    (["check-derivative", "--order", "1", "--quiet", "σ(1-σ)"], "unrecognized arguments: --quiet"),
    (["derivative", "0", "--plot", "d.png"], "give K from 1 to 12"),
    (["train", "--features", "a", "--target", "b"], "name columns of a file: give --data"),
    (["batch-size", "--rows", "100", "--lrs", "1e39"], "that float32 holds (1.4e-45 to 3.4e38), got 1e+39"),
])
def test_options_that_do_not_apply_are_named(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_undefined_figures_are_said_not_printed_as_nan():
    import math

    from jaxsgd import train
    from jaxsgd.cli.train import format_report
    from jaxsgd.data import DataSource

    report = train.run_training(train.TrainConfig(DataSource(n_rows=300), epochs=1), log=lambda s: None)
    text = format_report(report._replace(val_r2=math.nan))
    assert "R² undefined" in text and "nan" not in text.lower()


@pytest.mark.parametrize("theta", [["4,5,6"], ["(4, 5, 6)"], ["4", "5", "6"], ["4,", "5,6"]])
def test_step_takes_theta_as_the_exercise_writes_it(capsys, theta):
    assert main(["step", "--theta", *theta, "--x", "1,2", "--y", "3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["theta0"] == [4.0, 5.0, 6.0]


def test_step_names_a_bad_number_in_a_tuple(capsys):
    assert main(["step", "--theta", "4,a,6", "--x", "1", "2", "--y", "3"]) == 2
    err = capsys.readouterr().err
    assert "--theta" in err and "not a number: 'a'" in err and err.count("\n") == 1


def test_derivative_0_gives_the_sigmoid_tanh_relation_both_ways(capsys):
    assert main(["derivative", "0"]) == 0
    out = capsys.readouterr().out
    assert "(1 + tanh(x/2))/2" in out and "tanh(x) = 2σ(2x) − 1" in out
    assert main(["derivative", "0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["relations"] == ["σ(x) = (1 + tanh(x/2))/2", "tanh(x) = 2σ(2x) − 1"]


def test_every_plot_command_says_where_it_wrote(tmp_path, capsys, pyplot_available):
    for argv in (["derivative", "3"], ["train", "--rows", "500", "--epochs", "1", "--quiet"],
                 ["step", "--theta", "4,5,6", "--x", "1,2", "--y", "3"]):
        out = tmp_path / f"{argv[0]}.png"
        assert main([*argv, "--plot", str(out)]) == 0
        assert out.exists() and f"wrote {out}" in capsys.readouterr().err.splitlines()
