"""The code a step runs, computed from its script: the `t5qa` modules the script imports, at any depth.

The rules list them as inputs, so editing a module reruns exactly the steps that run it (and what follows them),
and a new import needs no second edit anywhere. Imports are read from the source (`ast`), without importing
anything, the ones inside functions included: a step's lazy import is still code it runs.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "t5qa"


def imported_names(path: Path) -> set[str]:
    """Every dotted name the file imports from the package: `import t5qa.x`, `from t5qa.x import y` (y may be a
    module or a name in x; the caller keeps what is a module), `from t5qa import x`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if _in_package(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _in_package(node.module):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _in_package(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def module_files(name: str, library: Path) -> list[Path]:
    """The files Python runs to import the dotted `name` from the package folder `library`: the package's
    __init__.py, every parent package's, and the module's own (none for a name that is not a module)."""
    parts = name.split(".")[1:]
    files = [library / "__init__.py"]
    for depth in range(1, len(parts) + 1):
        folder = library.joinpath(*parts[:depth])
        if (folder / "__init__.py").is_file():
            files.append(folder / "__init__.py")
        elif folder.with_suffix(".py").is_file() and depth == len(parts):
            files.append(folder.with_suffix(".py"))
        else:
            break
    return files


@cache
def code_inputs(script: Path, library: Path) -> tuple[str, ...]:
    """The package files `script` runs, sorted: what it imports from the package, and what those import, and so
    on. `library` is the package's folder (src/t5qa of the workflow being run)."""
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        path = todo.pop()
        for name in imported_names(path):
            for file in module_files(name, Path(library)):
                if file not in seen:
                    seen.add(file)
                    todo.append(file)
    return tuple(sorted(str(path) for path in seen))
