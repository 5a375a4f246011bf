"""The house: the package's folders show the path a frame walks, and imports point down only.

Checked from the source alone (every ``import`` and ``from … import``, at any depth in a module): no import
circle, and the lower floors know nothing of the upper ones (``io``, ``segment`` and ``render`` never import
``people``, ``pipeline``, ``concurrent`` or ``app``; ``people`` never imports ``pipeline``, ``concurrent`` or
``app``; ``errors`` and ``person`` import nothing of the package), and no module grows past 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "privacy_filter"
UPPER = {
    "io": {"people", "pipeline", "concurrent", "app"},
    "segment": {"people", "pipeline", "concurrent", "app", "io"},
    "render": {"people", "pipeline", "concurrent", "app", "io", "segment"},
    "people": {"pipeline", "concurrent", "app", "io"},
    "pipeline": {"concurrent", "app", "io"},
    "concurrent": {"app"},
    "errors": {"*"},
    "imagefiles": {"*"},
    "person": {"*"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports (relative imports resolved), anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        targets |= {c for c in candidates if c in known and c != name}
    return targets


def floor(module: str) -> str:
    """``privacy_filter.io.sinks`` -> ``io``; ``privacy_filter.pipeline`` -> ``pipeline``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_an_upper_floor() -> None:
    known = modules()
    wrong = []
    for name, path in known.items():
        below = floor(name)
        for target in imports_of(name, path, known):
            forbidden = UPPER.get(below, set())
            if floor(target) != below and ("*" in forbidden or floor(target) in forbidden):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "imports that point up:\n" + "\n".join(sorted(wrong))


def test_there_is_no_import_circle() -> None:
    known = modules()
    edges = {name: imports_of(name, path, known) for name, path in known.items()}
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done
    cycles = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(known):
        if name not in state:
            walk(name, [name])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_no_module_is_over_500_lines() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > 500}
    assert not long, f"split these by concern: {long}"
