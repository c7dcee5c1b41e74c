"""The package's layout is its architecture: folders whose ``__init__`` only documents them, and no import
cycles between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import ganlab

PACKAGE = Path(ganlab.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_at_import_time(name: str) -> set[str]:
    """The ganlab modules that importing ``name`` imports itself: its module-level imports, leaving out
    those under ``if TYPE_CHECKING:`` and inside functions, which run later if at all."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


def test_no_module_imports_itself_through_others():
    graph = {name: imported_at_import_time(name) for name in MODULES}
    cycles, done = [], set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycles.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, path + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []


def test_every_folder_init_is_a_docstring_saying_what_lives_there():
    for init in PACKAGE.glob("*/__init__.py"):
        body = ast.parse(init.read_text("utf-8")).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init
        assert "import" in body[0].value.value, f"{init} should say what its folder may import"
