"""The documentation site builds with warnings as errors, runs the tutorial, and documents every public name.

The build (``make docs`` does the same into build/docs) executes docs/tutorial.ipynb with myst-nb, an
error in any cell failing it, so this test is also the tutorial's: its cells assert what they show.
"""

import importlib
import inspect
import re
import subprocess
import sys

import pytest
from conftest import ROOT

PACKAGES = ("model", "exercise", "derivatives", "data", "train", "study", "distributed", "errors", "checks", "paths")


def public_names(package: str) -> list[str]:
    module = importlib.import_module(f"jaxsgd.{package}")
    return list(module.__all__)


def _documented(obj) -> list[str]:
    """What the docstring of a public function or class lacks of the standard (Args, Returns, an example)."""
    doc = inspect.getdoc(obj) or ""
    lacks = [] if doc else ["a docstring"]
    if ">>>" not in doc:
        lacks.append("an example")
    if inspect.isfunction(obj):
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
        if params and "Args:" not in doc:
            lacks.append("Args")
        if "Returns:" not in doc and "Yields:" not in doc:
            lacks.append("Returns")
    return lacks


def test_every_public_function_and_class_has_args_returns_and_an_example():
    missing = {}
    for package in PACKAGES:
        module = importlib.import_module(f"jaxsgd.{package}")
        for name in public_names(package):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                lacks = _documented(obj)
                if lacks:
                    missing[f"jaxsgd.{package}.{name}"] = lacks
    assert not missing, missing


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx", reason="the docs extra (sphinx, myst-nb) is not installed: pip install -e '.[docs]'")
    pytest.importorskip("myst_nb", reason="the docs extra (sphinx, myst-nb) is not installed: pip install -e '.[docs]'")
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                        str(ROOT / "docs"), str(out)], capture_output=True, text=True, timeout=600)
    warnings = [ln for ln in r.stderr.splitlines() if "Kernel is running over TCP" not in ln]
    assert r.returncode == 0 and not warnings, r.stderr[-4000:]
    return out


def test_the_site_builds_without_a_warning_and_the_tutorial_runs_in_it(site):
    import nbformat

    nb = nbformat.read(ROOT / "docs" / "tutorial.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed without outputs
    html = (site / "tutorial.html").read_text()
    assert html.count("<img") >= 4  # step, σ–tanh, training, study: rendered with their outputs
    assert "CORRECT" in html and "INCORRECT" in html  # a hand-written answer checked, a right and a wrong one


@pytest.mark.parametrize("package", PACKAGES)
def test_the_api_reference_shows_every_public_name(site, package):
    page = site / "api" / ("shared.html" if package in ("checks", "paths") else f"{package}.html")
    ids = set(re.findall(r'id="(jaxsgd\.[\w.]+)"', page.read_text()))
    missing = [n for n in public_names(package) if f"jaxsgd.{package}.{n}" not in ids]
    assert not missing, f"{page.name} lacks {missing}"


def test_every_user_page_is_in_the_site_and_readme_links_to_it(site):
    readme = (ROOT / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert (site / page.with_suffix(".html").name).exists(), page.name
        if page.name not in ("index.md", "layout.md", "development.md"):
            assert f"docs/{page.name}" in readme, f"README does not link to docs/{page.name}"
