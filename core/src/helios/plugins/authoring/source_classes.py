"""A plug-in class read from its source tree with ``ast``: its methods, inherited ones too.

``helios plugins validate`` reads the class without importing anything. Its bases are followed
where the source says where they are: a class of the same module, or one imported from a
module of the same source tree (``from .base import Base``, ``from helios_x import base`` then
``base.Base``, ``import helios_x.base``). A base named ``Plugin``, ``ABC`` or ``object`` that is
not found there ends the walk. Any other base (another distribution's class, an expression),
or one beyond :data:`MAX_MODULES` modules or :data:`MAX_CLASSES` classes, leaves the class
*incomplete*: its methods are then those that could be read, and the import-time verification
sees the rest.

Every module is read with :func:`~helios.plugins._host.bounded_read.read_regular_file` (at most
``max_bytes``); one that cannot be read or parsed is a base that cannot be followed.
"""

from __future__ import annotations

import ast
import stat
from dataclasses import dataclass, field
from pathlib import Path

from helios.plugins._host.bounded_read import FileRefused, read_regular_file
from helios.plugins._host.hook_checks import Params

__all__ = [
    "MAX_CLASSES",
    "MAX_MODULES",
    "ClassMethods",
    "SourceClass",
    "SourceMethod",
    "SourceTree",
    "find_class",
    "last_name",
]

#: The most modules of a source tree read to follow one class's bases (its own included).
MAX_MODULES = 16
#: The most classes followed for one plug-in class (itself included).
MAX_CLASSES = 64
#: The longest dotted base (``a.b.c.Base``) that is looked up as module and class.
MAX_DOTTED = 8
#: Bases that end the walk when the tree does not define them: the plug-in API's roots.
ROOTS = frozenset({"Plugin", "ABC", "object"})
#: Decorators that make a ``def`` something other than a method the trainer could call.
NOT_METHODS = frozenset(
    {"property", "cached_property", "setter", "getter", "deleter", "abstractproperty"}
)


@dataclass(frozen=True)
class SourceClass:
    """A class statement and where it is: its module's name, file and parsed tree."""

    node: ast.ClassDef
    module: str
    path: Path
    tree: ast.Module


@dataclass(frozen=True)
class SourceMethod:
    """A ``def`` in a class body: the class defining it, where, and its parameters."""

    name: str
    owner: str  # the defining class's name
    path: str
    line: int
    params: Params | None  # None: a property or another descriptor, not a method
    inherited: bool  # defined in a base, not in the plug-in class's own body


@dataclass
class ClassMethods:
    """The methods of a class by name (the definition that wins), and whether every base was
    followed to a root."""

    methods: dict[str, SourceMethod] = field(default_factory=dict)
    complete: bool = True


def last_name(node: ast.expr) -> str:
    """``c`` for ``c`` or ``a.b.c``; "" for any other expression (never recursion-deep)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def find_class(tree: ast.Module, qualname: str) -> ast.ClassDef | None:
    """The class ``qualname`` (``Outer.Inner`` for a nested one) defined in ``tree``."""
    body: list[ast.stmt] = tree.body
    found: ast.ClassDef | None = None
    for part in qualname.split("."):
        found = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
        if found is None:
            return None
        body = found.body
    return found


def _dotted(node: ast.expr) -> list[str] | None:
    """``["a", "b", "C"]`` for ``a.b.C`` of at most :data:`MAX_DOTTED` names, else None."""
    names: list[str] = []
    while isinstance(node, ast.Attribute) and len(names) < MAX_DOTTED:
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or len(names) >= MAX_DOTTED:
        return None
    return [node.id, *reversed(names)]


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Params | None:
    decorators = {last_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
    if decorators & NOT_METHODS:
        return None
    args = node.args
    return Params(
        positional=tuple(a.arg for a in (*args.posonlyargs, *args.args)),
        defaults=len(args.defaults),
        varargs=args.vararg.arg if args.vararg else None,
        keyword_only=tuple(
            a.arg
            for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
            if default is None
        ),
        binds_self="staticmethod" not in decorators,
        is_async=isinstance(node, ast.AsyncFunctionDef),
    )


class SourceTree:
    """The modules of one source folder (``src``), read on demand and kept."""

    def __init__(self, src: Path, max_bytes: int) -> None:
        self.src = src
        self.max_bytes = max_bytes
        self._modules: dict[str, tuple[Path, ast.Module] | None] = {}
        self._read = 0

    def add(self, module: str, path: Path, tree: ast.Module) -> None:
        """A module read already (the plug-in's own)."""
        self._modules[module] = (path, tree)
        self._read += 1

    def module_file(self, module: str) -> Path | None:
        """``src/a/b.py`` or ``src/a/b/__init__.py`` for ``a.b``; None if neither is there."""
        base = self.src.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            try:
                if not stat.S_ISDIR(candidate.stat().st_mode):
                    return candidate  # a FIFO or a device is refused when it is read
            except (OSError, ValueError):
                continue
        return None

    def _module(self, module: str) -> tuple[Path, ast.Module] | None:
        if module in self._modules:
            return self._modules[module]
        found = None
        if self._read < MAX_MODULES and all(p.isidentifier() for p in module.split(".")):
            path = self.module_file(module)
            if path is not None:
                self._read += 1
                try:
                    found = (path, ast.parse(read_regular_file(path, self.max_bytes)))
                except (FileRefused, SyntaxError, ValueError, RecursionError, MemoryError):
                    found = None
        self._modules[module] = found
        return found

    def methods(self, start: SourceClass, name: str) -> ClassMethods:
        """The methods of ``start`` (called ``name``), then of its bases, depth first."""
        result = ClassMethods()
        visited: set[tuple[str, int, str]] = set()

        def walk(current: SourceClass, owner: str, inherited: bool) -> None:
            key = (str(current.path), current.node.lineno, current.node.name)
            if key in visited:
                return
            visited.add(key)
            if len(visited) > MAX_CLASSES:
                result.complete = False
                return
            body = {  # a later def of a name replaces an earlier one
                node.name: SourceMethod(
                    node.name, owner, str(current.path), node.lineno, _params(node), inherited
                )
                for node in current.node.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
            for method_name, method in body.items():
                result.methods.setdefault(method_name, method)  # a class before it wins
            for base in current.node.bases:
                found = self._resolve(base, current)
                if found is None:
                    result.complete = False
                elif isinstance(found, SourceClass):
                    walk(found, found.node.name, True)

        walk(start, name, False)
        return result

    def _resolve(self, base: ast.expr, where: SourceClass) -> SourceClass | str | None:
        """The class ``base`` names, ``"root"`` for the plug-in API's roots, None if unknown."""
        dotted = _dotted(base)
        found = None
        if dotted is not None and len(dotted) == 1:  # bound above the class statement
            found = self._lookup(
                where.module, where.path, where.tree, dotted[0], 0, where.node.lineno
            )
        elif dotted is not None:
            module = self._bound_module(where, dotted[0])
            if module is not None:
                target = ".".join([module, *dotted[1:-1]])
                loaded = self._module(target)
                if loaded is not None:
                    found = self._lookup(target, *loaded, dotted[-1], 0)
        if found is None and last_name(base) in ROOTS:
            return "root"
        return found

    def _lookup(
        self,
        module: str,
        path: Path,
        tree: ast.Module,
        name: str,
        depth: int,
        before: int | None = None,
    ) -> SourceClass | None:
        """The class bound to ``name`` at the top of ``module`` (by the statements above line
        ``before``, if given): defined there, or imported from a module of the tree (re-exports
        followed :data:`MAX_DOTTED` deep)."""
        binding: ast.stmt | None = None
        for node in tree.body:
            if before is not None and node.lineno >= before:
                break
            defines = isinstance(node, ast.ClassDef) and node.name == name
            if defines or (
                isinstance(node, ast.ImportFrom)
                and any((a.asname or a.name) == name for a in node.names)
            ):
                binding = node
        if isinstance(binding, ast.ClassDef):
            return SourceClass(binding, module, path, tree)
        if not isinstance(binding, ast.ImportFrom) or depth >= MAX_DOTTED:
            return None
        source = _absolute(binding, module, path.name == "__init__.py")
        original = next(a.name for a in binding.names if (a.asname or a.name) == name)
        loaded = self._module(source) if source else None
        if source is None or loaded is None:
            return None
        return self._lookup(source, *loaded, original, depth + 1)

    def _bound_module(self, where: SourceClass, name: str) -> str | None:
        """The module that the top-level name ``name`` of ``where``'s module stands for."""
        bound = None
        for node in where.tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == name:
                        bound = alias.name
                    elif alias.asname is None and alias.name.split(".")[0] == name:
                        bound = name
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        package = _absolute(node, where.module, where.path.name == "__init__.py")
                        bound = f"{package}.{alias.name}" if package else None
        return bound


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute module an ``from ... import`` in ``module`` reads from."""
    if node.level == 0:
        return node.module
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    keep = len(parts) - (node.level - 1)
    if keep <= 0:
        return None
    return ".".join([*parts[:keep], *([node.module] if node.module else [])])
