"""The layout docs/layout.md draws: packages in order, private modules kept private, the no-JAX boundary.

Every unit (a top-level module or a package) imports only units listed above
it, and within a package each private module only those listed above it (lazy
imports included). No private module is imported from outside its package by
the library, the command line, the scripts or the docs. Units marked "no JAX"
import neither JAX nor optax at module level, nor any unit that does; and the
commands that promise it run with JAX made unimportable.
"""

import ast
import re
import subprocess
import sys

import pytest
from conftest import ROOT

PKG = ROOT / "jaxsgd"
LAYOUT = (ROOT / "docs" / "layout.md").read_text().split("## Layout", 1)[1].split("```")[1]
LINES = [line for line in LAYOUT.splitlines() if line.strip() and line.strip() != "jaxsgd/"]


def _units():
    """``[(unit, [(module path relative to jaxsgd/, no_jax), …]), …]`` in the drawn order."""
    units, current = [], None
    for line in LINES:
        indent = len(line) - len(line.lstrip())
        name = line.split()[0]
        no_jax = "(no JAX" in line
        if indent == 2:
            current = (name.rstrip("/").removesuffix(".py"), [])
            units.append(current)
            if not name.endswith("/"):
                current[1].append((name, no_jax))
            else:
                current[1].append((f"{name}__init__.py", no_jax and "JAX only" not in line))
        elif indent == 4:
            assert current is not None and name.endswith(".py"), line
            if name != "__init__.py":
                current[1].append((f"{current[0]}/{name}", no_jax))
            else:
                current[1][0] = (f"{current[0]}/__init__.py", no_jax)
    return units


UNITS = _units()
RANK = {u: i for i, (u, _) in enumerate(UNITS)}
MODULES = {path: (u, j, no_jax) for u, mods in UNITS for j, (path, no_jax) in enumerate(mods)}


def _imports(path, *, top_level_only=False):
    """The jaxsgd modules ``path`` imports, as dotted names below jaxsgd (``train._fit``, ``cli.common``), and
    whether it imports jax or optax; ``top_level_only``: imports at module level only."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level includes `if`/`try` blocks, not function bodies
        nodes = [n for top in tree.body for n in ast.walk(top)
                 if not isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    out, heavy = set(), False
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module
            if mod.split(".")[0] in ("jax", "optax", "jaxlib"):
                heavy = True
            if mod == "jaxsgd" or mod.startswith("jaxsgd."):
                base = mod.split(".")[1:]
                for a in node.names:
                    out.add(".".join([*base, a.name]) if base else a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("jax", "optax", "jaxlib"):
                    heavy = True
                if a.name.startswith("jaxsgd."):
                    out.add(a.name.removeprefix("jaxsgd."))
    return out, heavy


def _unit_of(dotted: str) -> str:
    return dotted.split(".")[0]


def test_layout_lists_every_module():
    drawn = set(MODULES)
    there = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")} - {"__init__.py", "__main__.py"}
    assert drawn == there, (drawn - there, there - drawn)


def test_units_import_only_units_above_them():
    bad = []
    for path, (unit, j, _) in MODULES.items():
        for dep in _imports(PKG / path)[0]:
            dep_unit = _unit_of(dep)
            if dep_unit not in RANK:
                continue  # a name of the top-level package itself (__version__)
            if dep_unit != unit and RANK[dep_unit] >= RANK[unit]:
                bad.append(f"{path} imports {dep}")
            if dep_unit == unit and "." in dep and j > 0:  # within a package: only modules drawn above
                target = dep.split(".")[1]
                order = [p.split("/")[-1].removesuffix(".py") for p, _ in dict(UNITS)[unit]]
                if target in order and order.index(target) >= j:
                    bad.append(f"{path} imports {dep}, drawn below it")
    assert not bad, bad


def _outside_files():
    """Everything outside the packages that may import jaxsgd: the command line, scripts, docs' Python."""
    files = [p for p in PKG.rglob("*.py")]
    files += list((ROOT / "scripts").glob("*.py"))
    return files


# the benchmark times the line-by-line reader the CSV loader keeps for naming errors: an internal, as a baseline;
# python -m jaxsgd starts where the installed command does
ALLOWED = {("scripts/bench.py", "data._tables"), ("jaxsgd/__main__.py", "_entry.main")}


def test_no_private_module_is_imported_from_outside_its_package():
    bad = []
    for path in _outside_files():
        rel = path.relative_to(ROOT).as_posix()
        own = path.relative_to(PKG).parts[0] if path.is_relative_to(PKG) else None
        for dep in _imports(path)[0]:
            parts = dep.split(".")
            if any(p.startswith("_") and not p.startswith("__") for p in parts) and parts[0] != own \
                    and (rel, dep) not in ALLOWED:
                bad.append(f"{rel} imports jaxsgd.{dep}")
    docs = [*(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "docs" / "tutorial.ipynb"]
    for doc in docs:
        bad += [f"{doc.name}: {m}" for m in re.findall(r"jaxsgd\.\w+\._\w+", doc.read_text())]
    assert not bad, bad


def test_the_library_does_not_import_the_command_line():
    bad = [p for p, (u, _, _) in MODULES.items() if u not in ("cli", "_entry") and any(
        _unit_of(d) == "cli" for d in _imports(PKG / p)[0])]  # _entry is the command's own start
    assert not bad, bad


def test_no_jax_units_import_no_jax_at_module_level():
    heavy = {}
    for path, (_, _, no_jax) in MODULES.items():
        deps, uses_jax = _imports(PKG / path, top_level_only=True)
        heavy[path] = (no_jax, deps, uses_jax)
    bad = []
    for path, (no_jax, deps, uses_jax) in heavy.items():
        if not no_jax:
            continue
        if uses_jax:
            bad.append(f"{path} imports jax at module level")
        for dep in deps:
            target = dep.replace(".", "/")
            for cand in (f"{target}.py", f"{target}/__init__.py", f"{'/'.join(dep.split('.')[:-1])}.py",
                         f"{'/'.join(dep.split('.')[:-1])}/__init__.py"):
                if cand in heavy:
                    if not heavy[cand][0]:
                        bad.append(f"{path} imports {dep}, which needs JAX")
                    break
    assert not bad, bad


_NO_JAX = """
import sys
sys.modules['jax'] = None  # any import of jax (or optax) now raises ImportError
sys.modules['optax'] = None
from jaxsgd.cli import main
code = main(sys.argv[1:])
sys.stderr.write("LOADED " + " ".join(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'jaxlib'))))
sys.exit(code)
"""


@pytest.mark.parametrize("argv", [["derivative", "3"], ["check-derivative", "--order", "2", "σ(1−σ)(1−2σ)"],
                                  ["check-derivative", "--order", "1", "e^-x/(1+e^-x)^2"], ["derivative", "--help"],
                                  ["--help"]])
def test_derivative_commands_run_without_jax(argv):
    """The promised boundary: with JAX unimportable these run, and load neither numpy nor jaxlib (their start-up
    time is measured by ``python scripts/bench.py --only startup``)."""
    got = subprocess.run([sys.executable, "-c", _NO_JAX, *argv], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stderr.split("LOADED")[-1].strip() == "", got.stderr
    assert "σ" in got.stdout or "CORRECT" in got.stdout or "usage" in got.stdout
