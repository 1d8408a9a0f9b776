"""What a module of this package imports, read from its source (nothing is imported).

Used by the code fingerprint of stored runs (:mod:`lstmattn.store.fingerprint`) and by
the layering test (``tests/test_architecture.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["imported_names"]


def imported_names(path: str | Path, module: str) -> set[str]:
    """Every absolute name the module ``module`` (source file ``path``) imports, at module
    level or inside functions: ``import a.b`` gives ``a.b``; ``from a import b`` gives
    ``a`` and ``a.b`` (``b`` may be a module or a name in ``a``); relative imports are
    resolved against the module's package."""
    path = Path(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found
