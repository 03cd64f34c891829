"""The Circe compiler's modules import one another without a cycle (function-level imports included): a criterion
with correlated criteria and a group of criteria are applied together in ``groups.py``, over ``criteria.py``."""

from __future__ import annotations

import ast
from importlib import resources

PACKAGE = "research_workbench.cohorts.circe"


def imports_of(source: str, module: str) -> set[str]:
    """Sibling modules of the circe package that ``module``'s source imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE + "."):
            found.add(node.module[len(PACKAGE) + 1:].split(".")[0])
    return found - {module}


def test_no_import_cycle_among_the_circe_modules():
    files = {f.name[:-3]: f.read_text(encoding="utf-8") for f in resources.files(PACKAGE).iterdir()
             if f.name.endswith(".py") and f.name != "__init__.py"}
    graph = {name: imports_of(text, name) & set(files) for name, text in files.items()}
    assert "groups" not in graph["criteria"]

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        for imported in sorted(graph[name]):
            visit(imported, path + (name,))

    for name in graph:
        visit(name, ())
