"""The README's and the docs' Python examples run exactly as written; their outputs and links are current."""

import re
import runpy

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()
PAGES = {p.name: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}
DOCS = "\n".join(PAGES.values())


@pytest.mark.parametrize("name", ["README.md", *PAGES])
def test_python_blocks_run(tmp_path, capsys, name):
    text = README if name == "README.md" else PAGES[name]
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S)):
        path = tmp_path / f"block_{i}.py"
        path.write_text(code)
        runpy.run_path(str(path), run_name="__main__")
    if name == "api.md":
        assert "e-09" in capsys.readouterr().out


def test_links_point_at_files():
    for name, text in [("README.md", README), *((f"docs/{k}", v) for k, v in PAGES.items())]:
        base = ROOT if name == "README.md" else ROOT / "docs"
        for target in re.findall(r"\]\(([^)#:]+)\)", text):
            assert (base / target).exists(), f"{name} links to {target}, which is not there"


def test_two_commands_and_ci_agree():
    assert "make demo" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_worked_step_output_is_current(capsys):
    from jaxsgd.cli import main

    assert main(["step", "--theta", "4", "5", "6", "--x", "1", "2", "--y", "3", "--lr", "0.1"]) == 0
    assert capsys.readouterr().out.strip() in PAGES["worked-step.md"]


def test_derivative_output_is_current(capsys):
    from jaxsgd.cli import main

    assert main(["derivative", "3"]) == 0
    block = re.search(r"\$ jaxsgd derivative 3\n(.*?)```", PAGES["derivatives.md"], flags=re.S).group(1)
    assert capsys.readouterr().out == block


def test_checker_examples_are_current(capsys):
    from jaxsgd.cli import main

    for expr, code in (("σ(1−σ)(1−2σ)", 0), ("σ³ − σ²", 1)):
        assert main(["check-derivative", "--order", "2", expr]) == code
        assert capsys.readouterr().out.strip() in PAGES["derivatives.md"]
