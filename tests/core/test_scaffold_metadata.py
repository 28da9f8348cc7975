"""``helios plugins new``: what the new project tells a package index (licence, authors, URLs)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helios.cli import main
from helios.plugins._host.toml_source import parse_toml
from helios.plugins.authoring.metadata import core_pythons
from helios.plugins.authoring.scaffold import create_plugin_project

ROOT = Path(__file__).resolve().parents[2]
ADA = ("--author", "Ada Lovelace", "--email", "ada@example.org")
URL = ("--url", "https://github.com/ada/helios-clip")


def project_table(root: Path) -> dict[str, object]:
    table = parse_toml((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(table, dict)
    return table


def test_the_arguments_fill_authors_urls_and_the_licence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "new", "clip", "--dest", str(tmp_path), *ADA, *URL]) == 0
    assert "before publishing" not in capsys.readouterr().out
    root = tmp_path / "helios-clip"
    meta = project_table(root)
    assert meta["license"] == "MIT"
    assert meta["license-files"] == ["LICENSE"]
    assert meta["authors"] == [{"name": "Ada Lovelace", "email": "ada@example.org"}]
    assert meta["urls"] == {"Homepage": "https://github.com/ada/helios-clip"}
    assert meta["keywords"] == ["helios", "helios-plugin", "pytorch"]
    classifiers = meta["classifiers"]
    assert isinstance(classifiers, list)
    assert "Development Status :: 3 - Alpha" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression
    licence = (root / "LICENSE").read_text(encoding="utf-8")
    assert licence.splitlines()[:3] == ["MIT License", "", f"Copyright (c) {_year()} Ada Lovelace"]
    # the rest is the repository's own MIT text
    assert licence.splitlines()[3:] == (ROOT / "LICENSE").read_text().splitlines()[3:]


def _year() -> int:
    from datetime import date

    return date.today().year


def test_the_python_classifiers_are_the_installed_cores() -> None:
    core = parse_toml((ROOT / "core" / "pyproject.toml").read_text(encoding="utf-8"))
    prefix = "Programming Language :: Python :: 3."
    expected = tuple(c.split()[-1] for c in core["project"]["classifiers"] if c.startswith(prefix))
    assert core_pythons() == expected


def test_python_classifiers_are_written_as_given(tmp_path: Path) -> None:
    made = create_plugin_project("clip", tmp_path, pythons=("3.12", "3.13"))
    classifiers = project_table(made.root)["classifiers"]
    assert isinstance(classifiers, list)
    listed = [c for c in classifiers if "Python :: 3" in c]
    assert listed == [
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ]


@pytest.mark.parametrize(
    ("given", "unfilled", "missing"),
    [
        ((), "authors and [project.urls]", "--author, --email, --url"),
        (ADA, "[project.urls]", "--url"),
        (("--author", "Ada Lovelace", *URL), "authors", "--email"),
    ],
)
def test_what_is_left_out_is_commented_and_named(
    given: tuple[str, ...],
    unfilled: str,
    missing: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plugins", "new", "clip", "--dest", str(tmp_path), *given]) == 0
    root = tmp_path / "helios-clip"
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"before publishing: complete {unfilled} in {root / 'pyproject.toml'} (or pass "
        f"{missing} to helios plugins new)"
    )
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    if "--author" not in given:
        assert '# authors = [{name = "...", email = "..."}]  # fill in before publishing' in text
        assert "Copyright (c) " + str(_year()) + " The helios-clip authors" in (
            root / "LICENSE"
        ).read_text(encoding="utf-8")
    if "--email" not in given and "--author" in given:
        assert 'authors = [{name = "Ada Lovelace"}]  # add an email before publishing' in text
    if "--url" not in given:
        assert '# [project.urls]  # fill in before publishing\n# Homepage = "https://..."' in text
        assert "urls" not in project_table(root)


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        (
            "--author",
            'Ada "the first"',
            "invalid --author 'Ada \"the first\"': expected a name of 1 to 100 printable "
            'characters without " \\ < > or ","; for example: --author "Ada Lovelace"',
        ),
        (
            "--author",
            "Ada\nLovelace",
            "invalid --author 'Ada\\nLovelace': expected a name of 1 to 100 printable "
            'characters without " \\ < > or ","; for example: --author "Ada Lovelace"',
        ),
        (
            "--author",
            "x" * 101,
            f"invalid --author '{'x' * 60}…': expected a name of 1 to 100 printable "
            'characters without " \\ < > or ","; for example: --author "Ada Lovelace"',
        ),
        (
            "--email",
            "Ada <ada@example.org>",
            "invalid --email 'Ada <ada@example.org>': expected one address like "
            "name@example.org (at most 254 characters); for example: --email ada@example.org",
        ),
        (
            "--url",
            "github.com/ada/helios-clip",
            "invalid --url 'github.com/ada/helios-clip': expected the project's home page, an "
            "http(s) URL with a host, no spaces or quotes, at most 300 characters; for example: "
            "--url https://github.com/you/helios-my-plugin",
        ),
        (
            "--url",
            'https://example.org/a"b',
            "invalid --url 'https://example.org/a\"b': expected the project's home page, an "
            "http(s) URL with a host, no spaces or quotes, at most 300 characters; for example: "
            "--url https://github.com/you/helios-my-plugin",
        ),
    ],
)
def test_a_bad_value_is_refused_and_nothing_is_written(
    option: str, value: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "new", "clip", "--dest", str(tmp_path), option, value]) == 1
    assert capsys.readouterr().err == f"helios: error: {error}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_built_wheel_carries_the_licence_and_rates_ten_with_pyroma(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    assert main(["plugins", "new", "clip", "--dest", str(tmp_path), *ADA, *URL]) == 0
    root = tmp_path / "helios-clip"
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--no-index", "-w", str(tmp_path / "dist"), str(root)], check=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    info = "helios_clip-0.1.0.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"{info}/licenses/LICENSE") == (root / "LICENSE").read_bytes()
        meta = archive.read(f"{info}/METADATA").decode().splitlines()
    for line in (
        "License-Expression: MIT",
        "License-File: LICENSE",
        "Author-email: Ada Lovelace <ada@example.org>",
        "Project-URL: Homepage, https://github.com/ada/helios-clip",
        "Description-Content-Type: text/markdown",
    ):
        assert line in meta, line

    pyroma = pytest.importorskip("pyroma.projectdata", reason="the build group installs pyroma")
    from pyroma.ratings import rate

    rating, failures = rate(pyroma.get_data(str(root)))
    assert (rating, failures) == (10, [])
