"""The shape of the code: imports flow one way between the packages, and no module imports itself
back through others (a cycle means a helper sits in the wrong module).

Read from the source with `ast`, so imports inside functions (the lazy imports that keep
commands fast) count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("crawler", "storage", "monitor")
# Which of our packages each package may import (besides itself).
ALLOWED = {"storage": set(), "crawler": {"storage"}, "monitor": {"storage", "crawler"}}


def modules() -> dict[str, Path]:
    """Every module of our packages, by dotted name (`pkg/__init__.py` is `pkg`)."""
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            if "migrations" in parts:  # Alembic's scripts are loaded by Alembic, not imported
                continue
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that module `name` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `from module import name` the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import storage.models.x` -> the module it names
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path, modules()) for name, path in modules().items()}


def wrong_imports(graph: dict[str, set[str]], package: str) -> list[str]:
    """`module imports target` for each import of `package` that ALLOWED forbids."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items() if module.split(".")[0] == package
        for target in targets if target.split(".")[0] not in ALLOWED[package] | {package}
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_they_may(package: str) -> None:
    wrong = wrong_imports(GRAPH, package)
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package]) or 'itself'}: " + "; ".join(wrong)


def test_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*cycle, cycle[0]]) for cycle in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checks_see_a_cycle_and_a_wrong_import() -> None:
    """The two checks above can fail: a made-up graph with a cycle and a forbidden import."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert wrong_imports({"storage.x": {"storage.y", "crawler.z"}}, "storage") == ["storage.x imports crawler.z"]
    assert {"crawler.urls", "crawler.items"} <= GRAPH["crawler.spiders.news"], "the graph reads real imports"
