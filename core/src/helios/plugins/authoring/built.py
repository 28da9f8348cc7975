"""``helios plugins validate dist/x.whl`` / ``dist/x.tar.gz``: check what was built, not only
what was written, before anyone installs it.

A wheel is checked as the core would see it installed: its manifest (next to the
``__init__.py`` of the package its entry point names; a build backend that dropped it is
caught here), then the manifest against the wheel's own metadata (entry point, Requires-Dist,
Requires-Python: :mod:`~helios.plugins._host.consistency`) and against the class in the
wheel's sources. An sdist is checked as the source tree it carries. The archive is unpacked,
bounded, into a temporary folder (:mod:`~helios.plugins.authoring.archive`) that is removed
afterwards; findings name files as ``ARCHIVE!/member``.
"""

from __future__ import annotations

import configparser
import tempfile
from email.parser import HeaderParser
from pathlib import Path

from helios.plugins._host import consistency
from helios.plugins._host.bounded_read import FileRefused, read_regular_text
from helios.plugins._host.findings import Finding
from helios.plugins._host.manifest import MANIFEST_FILENAME, load_manifest
from helios.plugins.authoring.archive import ArchiveRefused, is_archive, unpack
from helios.plugins.authoring.static import (
    MAX_PROJECT_FILE_BYTES,
    Validation,
    check_class,
    validate_path,
)
from helios.plugins.errors import ManifestError

__all__ = ["validate", "validate_built"]

_GROUP = "helios.plugins"


def validate(path: Path) -> Validation:
    """Validate a manifest, a package folder, a source tree, a wheel or an sdist."""
    return validate_built(path) if is_archive(path) and _is_file(path) else validate_path(path)


def _is_file(path: Path) -> bool:
    try:
        return not path.is_dir()
    except OSError:
        return True


def validate_built(path: Path) -> Validation:
    """Validate the wheel or sdist ``path`` (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="helios-validate-") as temp:
        root = Path(temp)
        try:
            names = unpack(path, root)
        except ArchiveRefused as exc:
            result = Validation(str(path))
            result.problems.append(Finding("archive-refused", str(exc), file=str(path)))
            return result
        if path.name.endswith(".whl"):
            result = _validate_wheel(path, root, names)
        else:
            result = _validate_sdist(path, root, names)
        return _renamed(result, root, path)


def _renamed(result: Validation, root: Path, archive: Path) -> Validation:
    """``result`` with the temporary folder written as ``ARCHIVE!`` everywhere."""
    temp, shown_as = str(root), f"{archive}!"

    def fix(text: str) -> str:
        return text.replace(temp, shown_as)

    renamed = Validation(str(archive), result.manifest)
    renamed.problems = [
        Finding(
            f.code,
            fix(f.message),
            file=fix(f.file),
            key=f.key,
            line=f.line,
            required=fix(f.required),
            found=fix(f.found),
            fix=fix(f.fix),
        )
        for f in result.problems
    ]
    return renamed


def _validate_sdist(path: Path, root: Path, names: list[str]) -> Validation:
    tops = sorted({name.partition("/")[0] for name in names})
    if len(tops) != 1 or not (root / tops[0] / "pyproject.toml").is_file():
        result = Validation(str(path))
        result.problems.append(
            Finding(
                "sdist-invalid",
                f"an sdist holds one folder with a pyproject.toml; found {', '.join(tops[:4])}"
                + (f", ... ({len(tops)} entries)" if len(tops) > 4 else ""),
                file=str(path),
            )
        )
        return result
    return validate_path(root / tops[0])


def _validate_wheel(path: Path, root: Path, names: list[str]) -> Validation:
    result = Validation(str(path))
    infos = sorted(
        {n.partition("/")[0] for n in names if n.partition("/")[0].endswith(".dist-info")}
    )
    if len(infos) != 1:
        result.problems.append(
            Finding(
                "wheel-invalid",
                f"a wheel holds one *.dist-info folder; found {len(infos)}",
                file=str(path),
            )
        )
        return result
    info = root / infos[0]
    declared = _declared(info)
    if isinstance(declared, Finding):
        result.problems.append(declared)
        return result
    packages = sorted(
        {value.partition(":")[0].partition(".")[0].strip() for _, value in declared.entry_points}
    )
    if not packages:
        packages = sorted(
            {n.partition("/")[0] for n in names if n.endswith(f"/{MANIFEST_FILENAME}")}
        )
    if len(packages) != 1:
        result.problems.append(
            Finding(
                "entry-point-mismatch",
                "the wheel declares no 'helios.plugins' entry point (or several) and no single "
                f"package with a {MANIFEST_FILENAME}: it is not one plug-in",
                file=declared.file,
                key="entry_points.txt",
                fix='declare one entry point under [project.entry-points."helios.plugins"] in '
                "pyproject.toml and rebuild",
            )
        )
        return result
    package = packages[0]
    manifest_path = root / package / MANIFEST_FILENAME
    if f"{package}/{MANIFEST_FILENAME}" not in names:
        result.problems.append(
            Finding(
                "manifest-missing",
                f"the wheel has no {package}/{MANIFEST_FILENAME}: the build backend left the "
                "manifest out, so the core would refuse the installed plug-in (manifest-missing)",
                file=str(path),
                key=f"{package}/{MANIFEST_FILENAME}",
                required=f"{package}/{MANIFEST_FILENAME} in the wheel",
                found="not in the wheel",
                fix=f"ship {MANIFEST_FILENAME} next to {package}/__init__.py in the wheel (hatchling "
                "includes it unless excluded; setuptools needs it in package-data), then rebuild",
            )
        )
        return result
    try:
        result.manifest = load_manifest(manifest_path, package=package)
    except ManifestError as exc:
        result.problems += [i.at(exc.path) for i in exc.issues]
        return result
    result.problems += consistency.consistency_findings(
        consistency.Claimed.of(result.manifest),
        declared,
        classes=consistency.source_lookup([root]),
        core_version=_core_version(),
    )
    result.problems += check_class(root, result.manifest)
    return result


def _core_version() -> str | None:
    import helios

    version: str = helios.__version__
    return version


def _declared(info: Path) -> consistency.Declared | Finding:
    """What the wheel's METADATA and entry_points.txt declare."""
    metadata = info / "METADATA"
    try:
        text = read_regular_text(metadata, MAX_PROJECT_FILE_BYTES)
    except (FileRefused, OSError) as exc:
        return Finding(
            "wheel-invalid", f"cannot read the wheel's METADATA: {exc}", file=str(metadata)
        )
    headers = HeaderParser().parsestr(text)
    entries: list[tuple[str, str]] = []
    entry_file = info / "entry_points.txt"
    if entry_file.is_file():
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep entry-name case
        try:
            parser.read_string(read_regular_text(entry_file, MAX_PROJECT_FILE_BYTES))
        except (FileRefused, OSError, configparser.Error) as exc:
            return Finding(
                "wheel-invalid", f"cannot read entry_points.txt: {exc}", file=str(entry_file)
            )
        if parser.has_section(_GROUP):
            entries = [(k.strip(), v.strip()) for k, v in parser.items(_GROUP)]
    return consistency.Declared(
        str(metadata),
        "metadata",
        tuple(entries),
        tuple(headers.get_all("Requires-Dist") or ()),
        headers.get("Requires-Python"),
    )
