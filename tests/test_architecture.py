"""The layout ARCHITECTURE.md draws: imports flow one way and never in a cycle.

Every module of ``lstmattn`` is parsed (AST, nothing imported) and each of its
``lstmattn`` imports, at module level or inside functions, is checked against the layer
order data → model → engine → results → tables | viz → book → commands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmattn.source_imports import imported_names

PACKAGE = Path(__file__).resolve().parents[1] / "lstmattn"

#: Top-level part of the package → layer. Modules of one layer may import each other;
#: ``tables`` and ``viz`` share a layer but are siblings that must not import each other.
LAYERS: dict[str, int] = {
    "__init__": 0, "source_imports": 0, "errors": 0, "io": 0, "progress": 0, "labels": 0, "config": 0, "variants": 0,
    "data": 1,
    "model": 2, "losses": 2, "metrics": 2,
    "engine": 3, "store": 3,
    "results": 4,
    "tables": 5, "viz": 5,
    "book": 6,
    "commands": 7, "cli": 7,
}
SIBLINGS = {("tables", "viz"), ("viz", "tables")}
#: Imports that are allowed by layer but still forbidden (ARCHITECTURE.md).
FORBIDDEN = {
    "tables": ("lstmattn.engine", "lstmattn.model", "torch"),
    "results": ("lstmattn.engine", "lstmattn.model", "torch"),
    "viz": ("lstmattn.engine.trainer",),
    "data": ("matplotlib",),
    "engine": ("lstmattn.store",),  # the store builds on the engine, never the other way
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (relative imports resolved)."""
    return imported_names(path, _module_name(path))


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _all_imports() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert parts <= set(LAYERS), f"add these to ARCHITECTURE.md and LAYERS: {sorted(parts - set(LAYERS))}"


def test_imports_flow_down_the_layers():
    wrong = []
    for module, imported in _graph().items():
        source = _part(module)
        for target in imported:
            destination = _part(target)
            if LAYERS[destination] > LAYERS[source] or (source, destination) in SIBLINGS:
                wrong.append(f"{module} imports {target} ({source} → {destination})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_forbidden_imports(part: str):
    wrong = [f"{module} imports {name}" for module, names in _all_imports().items() if _part(module) == part
             for name in names for banned in FORBIDDEN[part] if name == banned or name.startswith(banned + ".")]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    edges = graph
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_scanner_sees_a_wrong_import(tmp_path: Path):
    """The AST scan resolves ``from ..x import y`` and finds function-level imports."""
    module = tmp_path / "lstmattn" / "data" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from ..book import build\n    import lstmattn.viz.style\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "lstmattn"
    try:
        assert {"lstmattn.book", "lstmattn.book.build", "lstmattn.viz.style"} <= _imports(module)
    finally:
        PACKAGE = saved

