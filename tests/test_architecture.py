"""The architecture stays as drawn: each folder documents itself, modules import one another without
cycles, and no module uses another module's underscore names (a name with a leading underscore is its
module's own business).

Both read the source with ``ast`` and take every import as an edge: at the top of a module, inside a
function, or under ``if TYPE_CHECKING`` (a cycle that only type checkers see is still a cycle a reader
has to untangle).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "ganlab"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imported_from(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` statement in ``module`` reads from."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package(module) else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(module imported from, name imported or None for the module itself, line) of every import in
    ``module``: ``from .x import y`` reads module ``x.y`` when ``y`` is a module, name ``y`` of ``x`` otherwise."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = imported_from(module, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append(
                    (submodule, None, node.lineno) if submodule in MODULES else (source, alias.name, node.lineno)
                )
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the ganlab modules it imports."""
    return {
        module: {target for target, _, _ in imports(module) if target in MODULES and target != module}
        for module in MODULES
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules of each cycle: the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def described(graph: dict[str, set[str]], cycle: list[str]) -> str:
    """A cycle's imports, one line per module: what it imports of the others in the cycle."""
    return "\n".join(f"  {module} -> {', '.join(sorted(graph[module] & set(cycle)))}" for module in cycle)


def test_the_cycle_finder_reports_a_cycle_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve_to_the_modules_they_read():
    graph = import_graph()
    assert "ganlab.contracts.engine" in graph["ganlab.evaluators.metric_base"], "from ..contracts.engine import ..."
    assert "ganlab.page.html" in graph["ganlab.report.core_sections"], "from . import html"


def test_ganlab_has_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert found == [], "import cycles:\n" + "\n\n".join(described(graph, cycle) for cycle in found)


def underscore_uses(module: str) -> list[str]:
    """Where ``module`` imports another module's underscore name, or reads one as ``other_module._name``."""
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    problems = []
    module_aliases: dict[str, str] = {}
    for target, name, line in imports(module):
        if target not in MODULES or target == module:
            continue
        if name is not None and private(name):
            problems.append(f"{module}:{line} imports {name} from {target}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:
                    module_aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = imported_from(module, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    module_aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and private(node.attr)
            and isinstance(node.value, ast.Name)
            and module_aliases.get(node.value.id, module) != module
        ):
            problems.append(f"{module}:{node.lineno} uses {module_aliases[node.value.id]}.{node.attr}")
    return problems


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_underscore_check_sees_an_imported_private_name_and_a_private_attribute(tmp_path, monkeypatch):
    monkeypatch.setitem(MODULES, "ganlab.cli.data", tmp_path / "data.py")
    (tmp_path / "data.py").write_text(
        "from ..training.assemble import _build\nfrom ..training import loop\nloop._flush\n"
    )
    assert underscore_uses("ganlab.cli.data") == [
        "ganlab.cli.data:1 imports _build from ganlab.training.assemble",
        "ganlab.cli.data:3 uses ganlab.training.loop._flush",
    ]


def test_no_module_uses_another_modules_underscore_names():
    found = [problem for module in MODULES for problem in underscore_uses(module)]
    assert found == []


def reaches_into_objects(path: Path) -> list[str]:
    """Where a script reads ``something._name`` of an object other than its own ``self`` or ``cls``."""
    return [
        f"{path.name}:{node.lineno} uses .{node.attr}"
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Attribute)
        and private(node.attr)
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def test_benchmarks_drive_ganlab_through_public_names_only():
    found = [problem for path in sorted((ROOT / "benchmarks").glob("*.py")) for problem in reaches_into_objects(path)]
    assert found == []


def test_every_folder_init_is_a_docstring_saying_what_lives_there():
    for init in PACKAGE.glob("*/__init__.py"):
        body = ast.parse(init.read_text("utf-8")).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init
        assert "import" in body[0].value.value.lower(), f"{init} should say what its folder may import"


LAYERS: list[tuple[str, ...]] = [
    ("common",),
    ("machine", "page"),
    ("rundir",),
    ("registry",),
    ("recipes",),
    ("contracts",),
    ("loading",),
    ("data", "components"),
    ("metrics",),
    ("evaluators",),
    ("report",),
    ("training",),
    ("compare", "sweeps", "models"),
    ("tuning",),
    ("api",),
    ("cli",),
    ("testing", "__main__", "ganlab"),
]
"""ganlab's layers, bottom first: each folder (or top-level module) imports only from layers below its own.
The architecture page of the docs draws the same list."""

LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """The folder a module lives in, or the top-level module's own name (``ganlab`` for the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ganlab"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a layer at or above its own (other than its own folder)."""
    return [
        f"{module} (layer {LAYER[unit_of(module)]}) imports {target} (layer {LAYER[unit_of(target)]})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if unit_of(module) != unit_of(target) and LAYER[unit_of(target)] >= LAYER[unit_of(module)]
    ]


def test_every_folder_and_top_level_module_has_a_layer():
    units = {unit_of(module) for module in MODULES}
    assert units - set(LAYER) == set(), "add the new folder to LAYERS (and to the architecture page)"
    assert set(LAYER) - units == set(), "LAYERS names a folder that no longer exists"


def test_the_layer_check_sees_an_upward_and_a_sideways_import():
    graph = {
        "ganlab.common.errors": {"ganlab.training.loop"},
        "ganlab.data.folder": {"ganlab.components.dcgan"},
        "ganlab.training.loop": {"ganlab.common.errors", "ganlab.training.step"},
    }
    assert upward_imports(graph) == [
        "ganlab.common.errors (layer 0) imports ganlab.training.loop (layer 11)",
        "ganlab.data.folder (layer 7) imports ganlab.components.dcgan (layer 7)",
    ]


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(import_graph()) == []


def test_the_architecture_page_lists_the_layers_in_order():
    page = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    start = page.index("| layer | folders |")
    rows = [line.split("|") for line in page[start:].split("\n\n")[0].splitlines()[2:]]
    assert [(int(row[1]), tuple(name.strip(" `") for name in row[2].split(","))) for row in rows] == [
        (level, units) for level, units in enumerate(LAYERS)
    ]
