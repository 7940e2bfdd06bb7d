"""The layout docs/layout.md draws: every module imports only modules listed above it (lazy imports included)."""

import ast
import re

from conftest import ROOT

LAYOUT = (ROOT / "docs" / "layout.md").read_text().split("## Layout", 1)[1].split("```")[1]
ORDER = re.findall(r"^  (\w+)\.py ", LAYOUT, flags=re.M)
CLI_ORDER = re.findall(r"^    (\w+)\.py ", LAYOUT, flags=re.M)


def _imports(path):
    """The jaxsgd modules ``path`` imports: ``cli.x`` for the command line's own, else the top-level name."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxsgd"):
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module in ("jaxsgd", "jaxsgd.cli") \
                else [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("jaxsgd.")]
        for name in names:
            parts = name.split(".")[1:]
            if parts and parts[0] == "cli":
                out.add(".".join(parts[:2]))
            elif parts:
                out.add(parts[0])
    return out


def test_readme_lists_every_module():
    assert set(ORDER) == {p.stem for p in (ROOT / "jaxsgd").glob("*.py")} - {"__init__", "__main__"}
    assert set(CLI_ORDER) == {p.stem for p in (ROOT / "jaxsgd" / "cli").glob("*.py")}


def test_no_module_imports_one_below_it():
    rank = {name: i for i, name in enumerate(ORDER)}
    rank.update({f"cli.{name}": len(ORDER) + i for i, name in enumerate(CLI_ORDER)})
    files = {name: ROOT / "jaxsgd" / f"{name}.py" for name in ORDER}
    files.update({f"cli.{name}": ROOT / "jaxsgd" / "cli" / f"{name}.py" for name in CLI_ORDER})
    bad = []
    for name, path in files.items():
        for dep in _imports(path):
            if dep in rank and rank[dep] >= rank[name]:
                bad.append(f"{name} imports {dep}")
    assert not bad, bad


def test_the_library_does_not_import_the_command_line():
    assert not [name for name in ORDER if any(d.startswith("cli") for d in _imports(ROOT / "jaxsgd" / f"{name}.py"))]


def test_modules_stay_small():
    """One idea per module: none much over 300 lines."""
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in (ROOT / "jaxsgd").rglob("*.py")}
    assert not {k: v for k, v in sizes.items() if v > 330}, sizes
