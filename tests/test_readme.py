"""The README's Python examples run exactly as written; its commands exist."""

import re
import runpy

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_python_blocks_run(tmp_path, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for i, code in enumerate(blocks):
        path = tmp_path / f"readme_{i}.py"
        path.write_text(code)
        runpy.run_path(str(path), run_name="__main__")
    assert "e-09" in capsys.readouterr().out


def test_two_commands_and_ci_agree():
    assert "make demo" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_worked_step_output_is_current(capsys):
    from jaxsgd.cli import main

    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--lr", "0.1"]) == 0
    assert capsys.readouterr().out.strip() in README


def test_derivative_output_is_current(capsys):
    from jaxsgd.cli import main

    assert main(["derivative", "3"]) == 0
    block = re.search(r"\$ jaxsgd derivative 3\n(.*?)```", README, flags=re.S).group(1)
    assert capsys.readouterr().out == block


def test_checker_examples_are_current(capsys):
    from jaxsgd.cli import main

    for expr, code in (("σ(1−σ)(1−2σ)", 0), ("σ³ − σ²", 1)):
        assert main(["check-derivative", "--order", "2", expr]) == code
        assert capsys.readouterr().out.strip() in README
