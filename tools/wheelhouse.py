"""Check the wheels and sdists in a wheelhouse against the sources they were built from.

``python -m tools.wheelhouse DIR`` checks, for every distribution of the repository: one wheel
and one sdist of the tree's version; the wheel's name, version, Requires-Dist (per extra too) and entry
points equal what pyproject.toml declares; a plug-in's manifest is inside the wheel, byte for
byte, next to its ``__init__.py`` (and so is the copy in ``.dist-info/extra_metadata/``, where
the wheel has one), and agrees with the wheel's metadata by the core's rule
(:mod:`helios.plugins._host.consistency`: entry point, Requires-Dist, Requires-Python); every
other package data file under ``src/<package>/`` (the scaffold's templates, ``py.typed``) is
inside the wheel byte for byte; the sdist carries pyproject.toml and the manifest. Both carry
what an index shows (:func:`publishing_problems`): the repository's LICENSE named by
License-File, License-Expression, authors, project URLs, keywords, a readme content type and
classifiers with a development status and exactly the Pythons the CI tests. Exit status 1 with
one line per problem otherwise.
"""

from __future__ import annotations

import configparser
import sys
import tarfile
import zipfile
from collections.abc import Callable
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.core_rules import Finding, consistency, manifest_claims
from tools.interpreters import check_classifiers
from tools.projects import (
    CORE_FOLDER,
    MANIFEST,
    REPO_ROOT,
    Project,
    all_projects,
    read_pyproject,
    read_toml,
)

_GROUP = "helios.plugins"
#: The licence file at the repository root; every distribution ships a copy of it.
LICENSE = "LICENSE"
_PYTHON = "Programming Language :: Python :: "
_STATUS = "Development Status :: "


def _normalized(requirements: list[str]) -> set[str]:
    return {str(Requirement(r)) for r in requirements}


def _for_extra(requirements: list[str], extra: str) -> set[str]:
    """``name+specifier`` of the requirements an install of ``[extra]`` adds on this Python."""
    chosen = set()
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
            chosen.add(f"{canonicalize_name(requirement.name)}{requirement.specifier}")
    return chosen


def _extra_problems(requires: list[str], optional: dict[str, list[str]]) -> list[str]:
    problems = []
    for extra, lines in sorted(optional.items()):
        expected = {
            f"{canonicalize_name(r.name)}{r.specifier}"
            for r in map(Requirement, lines)
            if r.marker is None or r.marker.evaluate({"extra": extra})
        }
        found = _for_extra([r for r in requires if "extra ==" in r], extra)
        if found != expected:
            problems.append(
                f"extra {extra!r} requires {sorted(found)}, expected {sorted(expected)}"
            )
    return problems


def _one(folder: Path, pattern: str, problems: list[str]) -> Path | None:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        problems.append(f"expected one {pattern} in {folder}, found {[p.name for p in found]}")
        return None
    return found[0]


def package_data(project: Project) -> list[Path]:
    """The files under ``src/<package>/`` a wheel must carry besides code and the manifest."""
    source = project.path / "src" / project.package
    return sorted(
        path
        for path in source.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and path.name != MANIFEST
        and "__pycache__" not in path.relative_to(source).parts
    )


def _package_data_problems(project: Project, archive: zipfile.ZipFile) -> list[str]:
    problems = []
    names = set(archive.namelist())
    source = project.path / "src"
    for path in package_data(project):
        member = path.relative_to(source).as_posix()
        if member not in names:
            problems.append(
                f"{member} is missing: {path} is package data the wheel must carry; check "
                f"[tool.hatch.build] in {project.pyproject} (an exclude or a .gitignore "
                "pattern drops it)"
            )
        elif archive.read(member) != path.read_bytes():
            problems.append(f"{member} differs from {path}")
    return problems


#: The most bytes read of one licence file from an archive (the MIT text is about 1 kB).
MAX_LICENCE_BYTES = 1 << 20


def _member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    """The bytes of ``name`` in a wheel, or None when absent or larger than a licence can be."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    return archive.read(info) if info.file_size <= MAX_LICENCE_BYTES else None


def _tar_member(archive: tarfile.TarFile, name: str) -> bytes | None:
    """The bytes of the regular file ``name`` in an sdist, or None (absent, a link, too big)."""
    try:
        info = archive.getmember(name)
    except KeyError:
        return None
    if not info.isfile() or info.size > MAX_LICENCE_BYTES:
        return None
    handle = archive.extractfile(info)
    return handle.read() if handle is not None else None


def ci_pythons(root: Path) -> list[str]:
    """The Pythons the CI tests: the ``3.N`` classifiers of ``core/pyproject.toml``.

    noxfile.py reads them the same way (``nox.project.python_versions``) and runs the torch-free
    floor on each. A ValueError names the file and the fix when there are none or when
    requires-python leaves one out.
    """
    path = root / CORE_FOLDER / "pyproject.toml"
    core = read_toml(path.read_text(encoding="utf-8"))
    classifiers = core.get("project", {}).get("classifiers", [])
    found = sorted({c.split()[-1] for c in classifiers if c.startswith(_PYTHON + "3.")}, key=_key)
    if not found:
        raise ValueError(
            f"{path}: [project].classifiers name no Python version; list the Pythons the CI "
            f"tests, e.g. '{_PYTHON}3.11'"
        )
    check_classifiers(core, found)
    return found


def _key(python: str) -> list[int]:
    return [int(part) if part.isdigit() else -1 for part in python.split(".")]


def publishing_problems(
    project: Project,
    meta: Message,
    licence_file: Callable[[str], bytes | None],
    where: Callable[[str], str],
) -> list[str]:
    """What a package index would show missing or wrong in ``meta`` (a METADATA or PKG-INFO).

    ``licence_file(name)`` is the archive's file of a ``License-File: name`` line (None when
    absent), found at ``where(name)``. The repository's LICENSE must be one of them, byte for
    byte; the Python classifiers must be exactly :func:`ci_pythons`.
    """
    source = project.pyproject
    root_licence = project.root / LICENSE
    problems = []
    expression = meta["License-Expression"]
    if not expression:
        problems.append(
            f'no License-Expression: set license = "MIT" (an SPDX expression) in [project] of '
            f"{source}"
        )
    files = meta.get_all("License-File") or []
    if LICENSE not in files:
        problems.append(
            f"License-File names {files}, expected {LICENSE}: add license-files = "
            f'["{LICENSE}"] to [project] of {source} and copy {root_licence} to '
            f"{project.path / LICENSE}"
        )
    for name in files:
        data = licence_file(name)
        if data is None:
            problems.append(
                f"{where(name)} is missing or not a regular file of at most 1 MiB (License-File: "
                f"{name}); rebuild with hatchling>=1.27"
            )
        elif name == LICENSE and (not root_licence.is_file() or data != root_licence.read_bytes()):
            problems.append(
                f"{where(name)} differs from the repository's {root_licence}: copy it to "
                f"{project.path / LICENSE} and rebuild"
            )
    if not (meta["Author"] or meta["Author-email"]):
        problems.append(
            f'no Author or Author-email: add authors = [{{name = "..."}}] to [project] of {source}'
        )
    labels = [url.split(",", 1)[0].strip() for url in meta.get_all("Project-URL") or []]
    if "Homepage" not in labels:
        problems.append(
            f"Project-URL has no Homepage (it has {labels}): add Homepage, Documentation and "
            f"Issues to [project.urls] of {source}"
        )
    if not meta["Keywords"]:
        problems.append(f"no Keywords: add keywords = [...] to [project] of {source}")
    if not meta["Description-Content-Type"]:
        problems.append(
            f'no Description-Content-Type: set readme = "README.md" in [project] of {source}'
        )
    problems += _classifier_problems(project, meta, expression)
    return problems


def _classifier_problems(project: Project, meta: Message, expression: str | None) -> list[str]:
    source = project.pyproject
    classifiers = meta.get_all("Classifier") or []
    statuses = [c for c in classifiers if c.startswith(_STATUS)]
    problems = []
    if len(statuses) != 1:
        problems.append(
            f"classifiers hold {len(statuses)} '{_STATUS}...' entries {statuses}, expected one: "
            f'add one (e.g. "{_STATUS}3 - Alpha") to [project].classifiers of {source}'
        )
    try:
        pythons = ci_pythons(project.root)
    except ValueError as exc:
        return [*problems, str(exc)]
    listed = sorted({c.split()[-1] for c in classifiers if c.startswith(_PYTHON + "3.")}, key=_key)
    if listed != pythons:
        problems.append(
            f"classifiers list Python {', '.join(listed) or 'none'}, expected "
            f"{', '.join(pythons)} (the Pythons the CI tests: the classifiers of "
            f"{project.root / CORE_FOLDER / 'pyproject.toml'}); make [project].classifiers of "
            f"{source} list exactly those"
        )
    licences = [c for c in classifiers if c.startswith("License :: ")]
    if expression and licences:
        problems.append(
            f"classifiers {licences} next to License-Expression {expression!r}: package indexes "
            f"refuse both (PEP 639); drop the License :: classifiers from {source}"
        )
    return problems


def check_wheel(project: Project, wheel: Path) -> list[str]:
    """Problems of ``wheel`` against ``project``'s sources; empty when it is right."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{project.dist_stem}.dist-info"
        if f"{info}/METADATA" not in names:
            return [f"{wheel.name}: {info}/METADATA is missing"]
        meta = HeaderParser().parsestr(archive.read(f"{info}/METADATA").decode())
        eps = configparser.ConfigParser(delimiters=("=",))
        eps.optionxform = str  # type: ignore[assignment,method-assign]  # keep entry-name case
        if f"{info}/entry_points.txt" in names:
            eps.read_string(archive.read(f"{info}/entry_points.txt").decode())
        manifest_name = f"{project.package}/{MANIFEST}"
        inside = archive.read(manifest_name) if manifest_name in names else None
        copy_name = f"{info}/extra_metadata/{MANIFEST}"
        copy = archive.read(copy_name) if copy_name in names else None
        data_problems = _package_data_problems(project, archive)
        licences = {
            name: _member(archive, f"{info}/licenses/{name}")
            for name in meta.get_all("License-File") or []
        }
    pyproject = read_pyproject(project.pyproject.read_text(encoding="utf-8"))

    if canonicalize_name(meta["Name"] or "") != project.name:
        problems.append(f"Name is {meta['Name']!r}, expected {project.name!r}")
    if meta["Version"] != project.version:
        problems.append(f"Version is {meta['Version']!r}, expected {project.version!r}")
    requires = meta.get_all("Requires-Dist") or []
    base = [r for r in requires if "extra ==" not in r]
    if _normalized(base) != _normalized(list(project.dependencies)):
        problems.append(f"Requires-Dist is {sorted(base)}, expected {list(project.dependencies)}")
    extras = set(meta.get_all("Provides-Extra") or [])
    expected_extras = set(pyproject.get("optional-dependencies", {}))
    if extras != expected_extras:
        problems.append(f"Provides-Extra is {sorted(extras)}, expected {sorted(expected_extras)}")
    problems += _extra_problems(requires, pyproject.get("optional-dependencies", {}))
    for group, expected in (
        ("helios.plugins", project.entry_points),
        ("console_scripts", pyproject.get("scripts", {})),
    ):
        found = dict(eps[group]) if eps.has_section(group) else {}
        if found != expected:
            problems.append(f"entry points [{group}] are {found}, expected {expected}")
    if project.manifest_path is not None:
        if inside is None:
            problems.append(f"{manifest_name} is missing: the core could not check this plug-in")
        elif inside != project.manifest_path.read_bytes():
            problems.append(f"{manifest_name} differs from {project.manifest_path}")
        elif copy is not None and copy != inside:
            problems.append(f"{copy_name} (the metadata copy) differs from {manifest_name}")
        else:  # the wheel's manifest against the wheel's metadata: the core's rule
            claimed = manifest_claims(read_toml(inside.decode("utf-8")), Path(manifest_name))
            declared = consistency.Declared(
                f"{info}/METADATA",
                "metadata",
                tuple(eps[_GROUP].items()) if eps.has_section(_GROUP) else (),
                tuple(requires),
                meta["Requires-Python"],
            )
            findings = (
                [claimed]
                if isinstance(claimed, Finding)
                else consistency.consistency_findings(claimed, declared)
            )
            problems += [f"{f.message}; {f.fix}" for f in findings]
    if project.entry_points and project.manifest_path is None:
        problems.append(f"declares helios.plugins entry points but has no src/*/{MANIFEST}")
    problems += data_problems
    problems += publishing_problems(
        project, meta, licences.get, lambda name: f"{info}/licenses/{name}"
    )
    return [f"{wheel.name}: {p}" for p in problems]


def check_sdist(project: Project, sdist: Path) -> list[str]:
    problems: list[str] = []
    stem = project.dist_stem
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        pkg_info = archive.extractfile(f"{stem}/PKG-INFO") if f"{stem}/PKG-INFO" in names else None
        meta = HeaderParser().parsestr(pkg_info.read().decode()) if pkg_info else None
        licences = {
            name: _tar_member(archive, f"{stem}/{name}")
            for name in (meta.get_all("License-File") or [] if meta is not None else [])
        }
    if meta is None or meta["Version"] != project.version:
        problems.append(f"PKG-INFO does not say version {project.version}")
    wanted = [f"{stem}/pyproject.toml", f"{stem}/src/{project.package}/__init__.py"]
    if project.manifest_path is not None:
        wanted.append(f"{stem}/src/{project.package}/{MANIFEST}")
    problems += [f"{name} is missing" for name in wanted if name not in names]
    if meta is not None:
        problems += publishing_problems(project, meta, licences.get, lambda name: f"{stem}/{name}")
    return [f"{sdist.name}: {p}" for p in problems]


def check(root: Path, wheelhouse: Path) -> list[str]:
    """Every problem of the wheelhouse, for every distribution in the repository."""
    problems: list[str] = []
    for project in all_projects(root):
        wheel = _one(wheelhouse, f"{project.dist_stem}-*.whl", problems)
        sdist = _one(wheelhouse, f"{project.dist_stem}.tar.gz", problems)
        if wheel is not None:
            problems += check_wheel(project, wheel)
        if sdist is not None:
            problems += check_sdist(project, sdist)
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.wheelhouse WHEELHOUSE", file=sys.stderr)
        return 2
    wheelhouse = Path(argv[0])
    problems = check(REPO_ROOT, wheelhouse)
    for problem in problems:
        print(f"wheelhouse: {problem}", file=sys.stderr)
    if not problems:
        count = len(all_projects(REPO_ROOT))
        print(f"wheelhouse: {count} wheels and {count} sdists match their sources ({wheelhouse})")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
