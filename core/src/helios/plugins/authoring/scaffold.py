"""``helios plugins new NAME``: write a complete, installable plug-in distribution.

The scaffold is a project tree (``pyproject.toml``, ``README.md``, ``LICENSE``, ``src/helios_<id>/`` with
the plug-in class, its manifest and ``py.typed``, and ``tests/test_plugin.py``) that passes
``helios plugins validate``, installs with pip and passes ``helios plugins check <id>
--import`` and its own tests as generated. Its helios-trainer range comes from the installed
core's version, its Python classifiers from the core's; authors and the home page come from
the caller (:mod:`helios.plugins.authoring.metadata`). The files are rendered from the templates in ``templates/`` next to this
module (package data, shipped in the wheel; :data:`TEMPLATES` maps each generated file to its
template), so the scaffold works from an installed wheel; nothing here imports torch.

The templates are :class:`string.Template` texts: ``$name`` or ``${name}`` is a value of
:func:`_render`, a literal dollar sign is ``$$``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from helios.plugins._host.first_party import FIRST_PARTY
from helios.plugins._host.manifest import CORE_DISTRIBUTION, ID_PATTERN, MANIFEST_FILENAME
from helios.plugins.authoring.metadata import MetadataError, ProjectMetadata, core_pythons
from helios.plugins.hooks import GUARDED_HOOKS, HOOK_PREFIXES, HOOKS

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:  # pragma: no cover - Python 3.10
        from importlib.abc import Traversable

__all__ = [
    "TEMPLATES",
    "Names",
    "Scaffold",
    "ScaffoldError",
    "core_range",
    "create_plugin_project",
]

#: Ids whose names are taken: the distribution, package or id belongs to someone else.
RESERVED = {
    "trainer": "helios-trainer is the core itself",
    "core": "helios-core is another project on the public package index",
    **{p.id: f"{p.distribution} is the first-party {p.topic} plug-in" for p in FIRST_PARTY},
}

#: The summary line written into the manifest and the pyproject description.
SUMMARY = "Count the validation cycles of a training run and log each one"


class ScaffoldError(ValueError):
    """The scaffold cannot be written: a bad name, an occupied target or an unknown core."""


@dataclass(frozen=True)
class Names:
    """Every name derived from the plug-in id (``my_plugin`` in the examples)."""

    plugin_id: str  # my_plugin: manifest id, entry-point name, Plugin.plugin_id
    distribution: str  # helios-my-plugin: the project name and its folder
    package: str  # helios_my_plugin: the top-level import package
    class_name: str  # MyPlugin (step_counter: StepCounterPlugin)

    @classmethod
    def from_id(cls, name: str) -> Names:
        """Check ``name`` against the manifest's id rules and derive the other names."""
        if not ID_PATTERN.fullmatch(name):
            raise ScaffoldError(
                f"invalid plug-in name {name!r}: expected a plug-in id (a lowercase letter, "
                "then lowercase letters, digits or '_', at most 64 characters); "
                f"{_suggest(name)}"
            )
        if name.startswith("helios_"):
            raise ScaffoldError(
                f"invalid plug-in name {name!r}: give the id without the 'helios_' prefix "
                f"(the distribution is named helios-<id> already); {_suggest(name)}"
            )
        if name in RESERVED:
            raise ScaffoldError(
                f"invalid plug-in name {name!r}: {RESERVED[name]}; pick another id, for "
                f"example: helios plugins new my_{name}"
            )
        camel = "".join(part.capitalize() for part in name.split("_"))
        # "Plugin" alone would shadow the base class it derives from
        keep = camel.endswith("Plugin") and camel != "Plugin"
        return cls(
            plugin_id=name,
            distribution="helios-" + name.replace("_", "-"),
            package="helios_" + name,
            class_name=camel if keep else camel + "Plugin",
        )

    @property
    def class_path(self) -> str:
        """``package.module:Class``, the manifest's class and the entry-point value."""
        return f"{self.package}.plugin:{self.class_name}"


def _suggest(name: str) -> str:
    """The hint at the end of a bad-name error: a valid id close to ``name``, if any."""
    guess = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower())
    guess = re.sub(r"^helios_", "", re.sub(r"_+", "_", guess))
    guess = re.sub(r"^[^a-z]+", "", guess).rstrip("_")[:64].rstrip("_")
    if guess and ID_PATTERN.fullmatch(guess):
        return f"try: helios plugins new {guess}"
    return "for example: helios plugins new my_plugin"


def core_range(version: str) -> str:
    """The helios-trainer range a new plug-in for core ``version`` requires.

    ``0.3.1`` gives ``>=0.3,<0.4`` (the same minor series; ``1.4.0`` gives ``>=1.4,<1.5``). A
    pre-release keeps its full version as the floor, since ``>=0.4`` would exclude
    ``0.4.0rc1`` itself: ``0.4.0rc1`` gives ``>=0.4.0rc1,<0.5``.
    """
    try:
        parsed = Version(version)
    except InvalidVersion:
        parsed = None
    if parsed is None or parsed.local == "unknown":
        raise ScaffoldError(
            f"cannot derive the {CORE_DISTRIBUTION} range for a new plug-in: the installed "
            f"core reports version {version!r}; install {CORE_DISTRIBUTION} (pip install "
            f"{CORE_DISTRIBUTION}, or pip install -e core in the Helios repository) and retry"
        )
    major, minor = (*parsed.release, 0)[:2]
    floor = parsed.public if parsed.is_prerelease else f"{major}.{minor}"
    return f">={floor},<{major}.{minor + 1}"


@dataclass(frozen=True)
class Scaffold:
    """What :func:`create_plugin_project` wrote: the project folder and its files."""

    names: Names
    root: Path
    files: tuple[str, ...]  # relative to root, POSIX separators, in writing order
    helios_range: str
    metadata: ProjectMetadata


def create_plugin_project(
    name: str,
    dest: Path | None = None,
    *,
    helios_version: str | None = None,
    author: str | None = None,
    email: str | None = None,
    url: str | None = None,
    year: int | None = None,
    pythons: tuple[str, ...] | None = None,
) -> Scaffold:
    """Write the plug-in project ``dest/helios-<id>/`` for the plug-in id ``name``.

    ``helios_version`` and ``pythons`` (its Python classifiers) default to the installed
    core's; ``author``, ``email`` and ``url`` (the home page) left out become commented lines
    to fill in; ``year`` (the LICENSE's) defaults to this year. The tree is built in a
    temporary folder next to the target and renamed into place, so a failure leaves nothing
    behind; an existing target that is not an empty folder is never touched.
    """
    names = Names.from_id(name)
    try:
        project = ProjectMetadata.checked(
            author=author,
            email=email,
            url=url,
            year=date.today().year if year is None else year,
            pythons=core_pythons() if pythons is None else pythons,
        )
    except MetadataError as exc:
        raise ScaffoldError(str(exc)) from exc
    if helios_version is None:
        import helios

        helios_version = str(helios.__version__)
    helios_range = core_range(helios_version)
    dest = Path(".") if dest is None else dest
    target = dest / names.distribution
    if target.is_symlink() or (target.exists() and not _is_empty_dir(target)):
        raise ScaffoldError(
            f"{target} exists and is not an empty folder; nothing was written. Choose "
            "another --dest, or move it away first"
        )
    files = _render(names, helios_range, project)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        staging = dest / f".{names.distribution}-{uuid.uuid4().hex[:12]}.tmp"
        staging.mkdir()  # not mkdtemp: its mode 0700 would stay on the renamed project
    except OSError as exc:
        raise ScaffoldError(f"cannot create the plug-in project in {dest}: {exc}") from exc
    emptied = False
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.is_dir():
            target.rmdir()  # empty (checked above): rename cannot replace a folder everywhere
            emptied = True
        os.rename(staging, target)
    except OSError as exc:
        if emptied:
            target.mkdir(exist_ok=True)  # put the user's empty folder back
        raise ScaffoldError(f"cannot create {target}: {exc}; nothing was written") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after a successful rename
    return Scaffold(names, target, tuple(files), helios_range, project)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _render(names: Names, helios_range: str, project: ProjectMetadata) -> dict[str, str]:
    """Every file of the project, relative path to text."""
    values = {
        "authors": project.authors_line(),
        "urls": project.urls_table(),
        "python_classifiers": project.python_classifiers(),
        "year": str(project.year),
        "holder": project.licence_holder(names.distribution),
        "id": names.plugin_id,
        "distribution": names.distribution,
        "package": names.package,
        "class_name": names.class_name,
        "class_path": names.class_path,
        "helios_range": helios_range,
        "core": CORE_DISTRIBUTION,
        "manifest": MANIFEST_FILENAME,
        "summary": SUMMARY,
        "hook_menu": hook_menu(),
        "claim_lines": claim_lines(),
        "guarded": _one_of(f"`{hook}`" for hook in GUARDED_HOOKS.values()),
    }
    files = {}
    for pattern, name in TEMPLATES.items():
        path = pattern.format(package=names.package, manifest=MANIFEST_FILENAME)
        files[path] = Template(read_template(name)).substitute(values)
    return files


#: Every file of a new project, in writing order (``{package}``: the import package, e.g.
#: ``helios_my_plugin``; ``{manifest}``: helios-plugin.toml) -> its template in ``templates/``.
TEMPLATES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "LICENSE": "LICENSE.tmpl",
    "src/{package}/__init__.py": "__init__.py.tmpl",
    "src/{package}/plugin.py": "plugin.py.tmpl",
    "src/{package}/{manifest}": "helios-plugin.toml.tmpl",
    "src/{package}/py.typed": "py.typed.tmpl",
    "tests/test_plugin.py": "test_plugin.py.tmpl",
}


def template_folder() -> Traversable:
    """Where the templates lie: ``templates/`` in this package (a folder, or inside a zip)."""
    return resources.files(__name__.rpartition(".")[0]) / "templates"


def read_template(name: str) -> str:
    """The text of the template ``name``; a ScaffoldError when the installation lacks it."""
    path = template_folder() / name
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScaffoldError(
            f"cannot read the scaffold template {path}: {exc}; this {CORE_DISTRIBUTION} "
            f"installation is incomplete. Reinstall it (pip install --force-reinstall "
            f"{CORE_DISTRIBUTION}, or pip install -e core in the Helios repository)"
        ) from exc


#: The width of the comments the scaffold generates (the project's line length is 100).
COMMENT_WIDTH = 99


def hook_menu(indent: str = "    ") -> str:
    """Comment lines listing every hook of the table, for the generated plug-in class."""
    prefixes = _one_of(f"{p}*" for p in HOOK_PREFIXES)
    head = (
        "The hooks the trainer calls, in the order of a fit then a test (the table in "
        "helios.plugins.hooks). Define the ones you need with these arguments after self (any "
        "names: they are passed by position). [flag] marks an exclusive hook: claim the flag "
        "in declared_overrides and in the manifest's [overrides]. A public method named "
        f"{prefixes} must be one of them (the trainer would never call another); name "
        "helpers _like_this."
    )
    lines = textwrap.wrap(
        head, COMMENT_WIDTH, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# "
    )
    lines.append(f"{indent}#")
    width = max(len(h.signature) for h in HOOKS)
    for hook in HOOKS:
        when = f"[{hook.flag}] {hook.when}" if hook.flag else hook.when
        lines += textwrap.wrap(
            when,
            COMMENT_WIDTH,
            initial_indent=f"{indent}#   {hook.signature:<{width}}  ",
            subsequent_indent=f"{indent}#   {'':<{width}}  ",
        )
    return "\n".join(lines)


def _one_of(names: Iterable[str]) -> str:
    """``a, b or c``."""
    *others, last = names
    return f"{', '.join(others)} or {last}" if others else last


def claim_lines() -> str:
    """The manifest's commented example claims: one line per unique override and its hook."""
    width = max(len(flag) for flag in GUARDED_HOOKS)
    return "\n".join(
        f"#   {flag} = true{'':<{width - len(flag)}}  # to define {hook}"
        for flag, hook in GUARDED_HOOKS.items()
    )
