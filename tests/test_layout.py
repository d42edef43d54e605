"""The package's layout: imports point one way (apps -> pipeline -> separation and melody -> audio ->
config, errors, files), and no module imports itself back through others."""

from __future__ import annotations

import ast
from pathlib import Path

import vocalsep

PACKAGE = Path(vocalsep.__file__).parent

#: Layer of each top-level part of the package; a module may import its own part and lower layers.
LAYERS = {
    "config": 0, "errors": 0, "files": 0, "threads": 0, "device": 0, "heap": 0, "__init__": 0,
    "audio": 1, "onnx_export": 1,
    "separation": 2, "melody": 2, "datasets": 2,
    "pipeline": 3,
    "evaluation": 4, "cluster": 4,
    "training": 5,
    "apps": 6, "api": 6, "__main__": 7,
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every ``vocalsep`` module imported anywhere in ``path`` (lazy imports inside functions too)."""
    package = root.name
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for guard in [n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]:
        guard.body = []  # imports for type hints only: no dependency at run time
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            found.add(node.module)
            # ``from vocalsep.audio import io`` imports the module ``vocalsep.audio.io``
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (root.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()}
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = {module_name(path, root): path for path in root.rglob("*.py")}
    return {name: {m for m in imports_of(path, root) if m in modules and m != name} for name, path in modules.items()}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def wrong_way_imports(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """``importer -> imported`` for every import of a higher layer, or of another part of the same layer."""
    wrong = []
    for importer, imported in sorted(graph.items()):
        source = part_of(importer)
        for target in sorted(imported):
            destination = part_of(target)
            if destination == source or layers[destination] == 0 and layers[source] == 0:
                continue
            if layers[destination] >= layers[source]:
                wrong.append(f"{importer} -> {target}")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in graph[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_part_has_a_layer() -> None:
    parts = {part_of(name) for name in import_graph(PACKAGE)}
    assert parts <= set(LAYERS), f"parts without a layer: {sorted(parts - set(LAYERS))}"


def test_imports_point_one_way() -> None:
    assert wrong_way_imports(import_graph(PACKAGE), LAYERS) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_the_checks_catch_a_cycle_and_a_wrong_way_import(tmp_path: Path) -> None:
    root = tmp_path / "vocalsep"
    for folder in ("audio", "apps"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "audio" / "io.py").write_text("from vocalsep.apps.cli import main\n")  # upward
    (root / "apps" / "cli.py").write_text("def main():\n    from vocalsep.audio import io\n")
    graph = import_graph(root)
    assert wrong_way_imports(graph, LAYERS) == ["vocalsep.audio.io -> vocalsep.apps.cli"]
    assert cycles(graph) == [["vocalsep.apps.cli", "vocalsep.audio.io"]]
