"""The layout README draws: every module imports only modules listed above it (lazy imports included)."""

import ast
import re

from conftest import ROOT

ORDER = re.findall(r"^  (\w+)\.py ", (ROOT / "README.md").read_text().split("## Layout", 1)[1], flags=re.M)


def _imports(path):
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxsgd"):
            if node.module == "jaxsgd":
                out.update(a.name for a in node.names)
            else:
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("jaxsgd."))
    return out


def test_readme_lists_every_module():
    modules = {p.stem for p in (ROOT / "jaxsgd").glob("*.py")} - {"__init__", "__main__"}
    assert set(ORDER) == modules


def test_no_module_imports_one_below_it():
    rank = {name: i for i, name in enumerate(ORDER)}
    bad = []
    for name in ORDER:
        for dep in _imports(ROOT / "jaxsgd" / f"{name}.py"):
            if dep in rank and rank[dep] >= rank[name]:
                bad.append(f"{name} imports {dep}")
    assert not bad, bad
