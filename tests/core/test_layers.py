"""The core's import graph has no cycles, read from the source with :mod:`ast`.

Every ``import`` and ``from ... import`` of a module counts, at module level or inside a
function (a lazy import still ties the two modules together), except those under
``if TYPE_CHECKING:``, which never run. ``from package import name`` is an edge to the
submodule when ``name`` is one, else to the package. Python also runs a module's parent
packages first; those implicit edges are not counted (every package would be in a cycle with
its own submodules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import helios

CORE_SRC = Path(helios.__file__).resolve().parent.parent


def modules(src: Path, package: str = "") -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``src`` (of ``package`` only,
    when given: an installed core sits in site-packages beside everything else)."""
    found = {}
    for path in sorted((src / package if package else src).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _runs(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` that can run, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _runs(other)
            continue
        yield child
        yield from _runs(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runs(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {target for target in found if target in known and target != name}


def import_graph(src: Path, package: str = "") -> dict[str, set[str]]:
    known = modules(src, package)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None; depth-first, in name order."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle is not None:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle is not None:
                return cycle
    return None


def test_the_core_has_no_import_cycles() -> None:
    graph = import_graph(CORE_SRC, "helios")
    assert "helios.plugins._host.host" in graph  # the graph is the core's, not an empty one
    assert "helios.plugins._host.loader" in graph["helios.plugins._host.host"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in the core: " + " -> ".join(cycle or [])


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    """The finder sees lazy imports and relative ones, and ignores TYPE_CHECKING blocks."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "a.py").write_text("from pkg import b\n", encoding="utf-8")
    (package / "b.py").write_text("def f():\n    from .c import g\n", encoding="utf-8")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.b\n"
        "def g():\n    import pkg.a\n",
        encoding="utf-8",
    )
    graph = import_graph(tmp_path)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    (package / "c.py").write_text("import pkg\n", encoding="utf-8")  # the package: no cycle
    assert find_cycle(import_graph(tmp_path)) is None


def test_the_authors_api_sits_below_the_host() -> None:
    """The modules a plug-in author imports to write a plug-in reach none of the host's
    machinery: the host imports them, never the other way round."""
    graph = import_graph(CORE_SRC, "helios")
    below = ["helios.plugins.base", "helios.plugins.hooks", "helios.plugins.registry"]
    reached: set[str] = set()
    todo = list(below)
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    machinery = sorted(m for m in reached if m.startswith("helios.plugins._host."))
    # leaves only: escaping in error messages, the Finding record ManifestError carries
    assert machinery == ["helios.plugins._host.echo", "helios.plugins._host.findings"]
