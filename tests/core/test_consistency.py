"""One consistency rule (helios.plugins._host.consistency): both sides shown, and which to change."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from helios.plugins._host.consistency import (
    JUDGED_CLAUSES,
    Claimed,
    Declared,
    admits_nothing,
    consistency_findings,
    core_range,
    entry_point,
    packages,
    python_range,
    source_lookup,
)
from helios.plugins._host.echo import literal, shown

M = "src/helios_x/helios-plugin.toml"
P = "pyproject.toml"


def claimed(**kw: object) -> Claimed:
    values: dict[str, object] = {
        "file": M,
        "id": "x",
        "class_path": "helios_x.plugin:XPlugin",
        "requires_helios": SpecifierSet(">=0.3,<0.4"),
    }
    values.update(kw)
    return Claimed(**values)  # type: ignore[arg-type]


def declared(**kw: object) -> Declared:
    values: dict[str, object] = {
        "file": P,
        "form": "pyproject",
        "entry_points": (("x", "helios_x.plugin:XPlugin"),),
        "dependencies": ("helios-trainer>=0.3,<0.4",),
    }
    values.update(kw)
    return Declared(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "empty"),
    [
        (">=0.3,<0.2", True),
        (">0.2,<=0.2", True),
        ("==1.0,!=1.0", True),
        (">0.2,<0.3", False),
        (">=0.3,<0.4", False),
        ("~=0.3", False),
        ("==0.3.*", False),
        ("", False),
    ],
)
def test_admits_nothing(spec: str, empty: bool) -> None:
    assert admits_nothing(SpecifierSet(spec)) is empty


def test_a_range_of_more_clauses_than_judged_is_not_judged() -> None:
    """Judging costs the square of the clauses: 4,000 took 12 s, a Requires-Dist line of 1 MB
    hours. Past the bound a range is taken as satisfiable, which only words the fix."""
    empty = ",".join(f"!={n}" for n in range(1, JUDGED_CLAUSES)) + ",<0"
    assert len(SpecifierSet(empty)) == JUDGED_CLAUSES
    assert admits_nothing(SpecifierSet(empty)) is True
    assert admits_nothing(SpecifierSet(f"{empty},!={JUDGED_CLAUSES}")) is False
    huge = SpecifierSet(",".join(f"!={n}" for n in range(1, 100_000)) + ",<0")
    assert admits_nothing(huge) is False
    finding = core_range(claimed(), declared(dependencies=(f"helios-trainer{huge}",)))
    assert finding is not None
    assert finding.fix == (
        "write the helios-trainer versions the plug-in works with in both places: if that is "
        "<0.4,>=0.3, make [project].dependencies say 'helios-trainer<0.4,>=0.3'; if it is "
        f"{shown(str(huge))}, set requires.helios = {literal(str(huge))} in "
        "src/helios_x/helios-plugin.toml"
    )


def test_consistent_is_no_finding() -> None:
    assert consistency_findings(claimed(), declared()) == []


def source(tmp_path: Path, text: str) -> Path:
    package = tmp_path / "helios_x"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(text)
    return tmp_path


def test_a_typo_in_the_manifest_class_says_change_the_manifest(tmp_path: Path) -> None:
    root = source(tmp_path, "class XPlugin:\n    plugin_id = 'x'\n")
    finding = entry_point(
        claimed(class_path="helios_x.plugin:XPlugn"), declared(), source_lookup([root])
    )
    assert finding is not None
    assert (finding.code, finding.message, finding.fix) == (
        "entry-point-mismatch",
        f"the entry point 'x = helios_x.plugin:XPlugin' ({P}) does not match the manifest's "
        f"id = 'x', class = 'helios_x.plugin:XPlugn' ({M})",
        "the entry point's class exists and the manifest's does not: set class = "
        f"'helios_x.plugin:XPlugin' in {M}",
    )


def test_a_stale_entry_point_says_change_the_entry_point(tmp_path: Path) -> None:
    root = source(tmp_path, "class XPlugin:\n    plugin_id = 'x'\n")
    finding = entry_point(
        claimed(),
        declared(form="metadata", entry_points=(("old", "helios_x.plugin:OldPlugin"),)),
        source_lookup([root]),
    )
    assert finding is not None
    assert finding.fix == (
        "the manifest's class exists and the entry point's does not: make the entry point's "
        "value 'helios_x.plugin:XPlugin' in [project.entry-points.\"helios.plugins\"] in "
        "pyproject.toml, then rebuild and reinstall the plug-in; the class's plugin_id is 'x', "
        "as the manifest says: name the entry point 'x' in [project.entry-points."
        '"helios.plugins"] in pyproject.toml, then rebuild and reinstall the plug-in'
    )


def test_without_the_source_both_edits_are_named() -> None:
    finding = entry_point(claimed(class_path="helios_x.plugin:XPlugn"), declared())
    assert finding is not None and finding.fix == (
        "if 'helios_x.plugin:XPlugn' is the plug-in class, make the entry point's value "
        "'helios_x.plugin:XPlugn' in [project.entry-points.\"helios.plugins\"]; if "
        f"'helios_x.plugin:XPlugin' is, set class = 'helios_x.plugin:XPlugin' in {M}"
    )


def test_an_uninstallable_manifest_range_is_the_one_to_change() -> None:
    finding = core_range(claimed(requires_helios=SpecifierSet(">=0.4,<0.3")), declared())
    assert finding is not None
    assert (finding.code, finding.fix) == (
        "requires-dist-mismatch",
        f"requires.helios <0.3,>=0.4 admits no version at all: set requires.helios = "
        f"'<0.4,>=0.3' in {M}",
    )


def test_an_uninstallable_dependency_is_the_one_to_change() -> None:
    finding = core_range(claimed(), declared(dependencies=("helios-trainer>=0.4,<0.3",)))
    assert finding is not None
    assert finding.message == (
        f"[project].dependencies says helios-trainer>=0.4,<0.3 ({P}) but the manifest's "
        f"requires.helios is <0.4,>=0.3 ({M}): pip installs what [project].dependencies says, "
        "the core checks requires.helios"
    )
    assert finding.fix == (
        "[project].dependencies's range <0.3,>=0.4 admits no version at all: make "
        "[project].dependencies say 'helios-trainer<0.4,>=0.3'"
    )


def test_two_satisfiable_ranges_name_both_edits_and_the_core_at_hand() -> None:
    finding = core_range(claimed(), declared(dependencies=("helios-trainer>=0.2,<0.3",)), "0.3.1")
    assert finding is not None and finding.fix == (
        "write the helios-trainer versions the plug-in works with in both places (helios-trainer "
        "0.3.1, the one at hand, is admitted by requires.helios only): if that is <0.4,>=0.3, "
        "make [project].dependencies say 'helios-trainer<0.4,>=0.3'; if it is <0.3,>=0.2, set "
        f"requires.helios = '<0.3,>=0.2' in {M}"
    )


def test_requires_packages_must_be_dependencies_with_the_same_range() -> None:
    missing, different = packages(
        claimed(packages=("optuna>=4.0", "numpy>=2")),
        declared(dependencies=("helios-trainer>=0.3,<0.4", "NumPy>=1.26")),
    )
    assert (missing.code, missing.message, missing.fix) == (
        "packages-mismatch",
        "requires.packages asks for 'optuna>=4.0' but [project].dependencies does not list "
        "optuna: pip would not install it, and the core would report the plug-in missing-package",
        "add 'optuna>=4.0' to [project].dependencies, or drop it from requires.packages in "
        f"{M} if the plug-in does not need it",
    )
    assert different.message == (
        "requires.packages asks for 'numpy>=2' but [project].dependencies says 'NumPy>=1.26': "
        "pip installs the one, the core checks the other"
    )
    assert (
        packages(claimed(packages=("optuna>=4.0",)), declared(dependencies=("optuna >=4.0",))) == []
    )


def test_requires_python_must_be_requires_python() -> None:
    assert python_range(claimed(), declared()) is None  # the manifest leaves it to pip
    same = declared(requires_python=">=3.10")
    assert python_range(claimed(requires_python=SpecifierSet(">=3.10")), same) is None
    absent = python_range(claimed(requires_python=SpecifierSet(">=3.11")), declared())
    assert absent is not None and (absent.code, absent.fix) == (
        "python-mismatch",
        "add requires-python = '>=3.11' to [project]",
    )
    other = python_range(claimed(requires_python=SpecifierSet(">=3.11")), same)
    assert other is not None and other.message == (
        "requires.python is '>=3.11' but [project].requires-python says '>=3.10': pip installs "
        "on the Pythons the one admits, the core loads on the Pythons the other admits"
    )
