"""``helios plugins new``: the generated project, its names, its errors, and a real install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

import helios
from helios.cli import main
from helios.plugins._host.manifest import load_manifest
from helios.plugins._host.toml_source import parse_toml
from helios.plugins.authoring import scaffold
from helios.plugins.authoring.scaffold import (
    TEMPLATES,
    Names,
    ScaffoldError,
    core_range,
    create_plugin_project,
)
from helios.plugins.authoring.static import validate_path
from helios.plugins.hooks import GUARDED_HOOKS, HOOKS
from support.plugin_env import PluginEnv

FILES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "src/helios_step_counter/__init__.py",
    "src/helios_step_counter/plugin.py",
    "src/helios_step_counter/helios-plugin.toml",
    "src/helios_step_counter/py.typed",
    "tests/test_plugin.py",
)
ID_RULE = (
    "expected a plug-in id (a lowercase letter, then lowercase letters, digits or '_', at "
    "most 64 characters)"
)


#: What the scaffold wrote before its templates moved out of the module into package data
#: files, per "id version": {file: text}. Regenerate it (after changing a template on purpose)
#: from tests/: python -c 'from core.test_scaffold import write_golden; write_golden()'
GOLDEN = Path(__file__).parent / "data" / "scaffold_golden.json"
#: The Python classifiers the golden cases are rendered with (the installed core's may change).
GOLDEN_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def render_cases(dest: Path) -> dict[str, dict[str, str]]:
    """The scaffold's output for each case of :data:`GOLDEN`, read back as bytes."""
    cases = json.loads(GOLDEN.read_text(encoding="utf-8"))
    rendered = {}
    for case in cases:
        name, version = case.split()
        made = create_plugin_project(
            name, dest / case, helios_version=version, year=2026, pythons=GOLDEN_PYTHONS
        )
        rendered[case] = {f: (made.root / f).read_bytes().decode("utf-8") for f in made.files}
    return rendered


def write_golden() -> None:  # pragma: no cover - run by hand, see GOLDEN
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text = json.dumps(render_cases(Path(tmp)), indent=1, ensure_ascii=False)
    GOLDEN.write_text(text + "\n", encoding="utf-8")


def tree(root: Path) -> list[str]:
    """Every file and folder under ``root``, relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def cli(*args: str) -> int:
    return main(["plugins", "new", *args])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return create_plugin_project("step_counter", tmp_path).root


@pytest.mark.parametrize(
    ("name", "distribution", "package", "class_name"),
    [
        ("clip", "helios-clip", "helios_clip", "ClipPlugin"),
        ("step_counter", "helios-step-counter", "helios_step_counter", "StepCounterPlugin"),
        ("conv2d_x", "helios-conv2d-x", "helios_conv2d_x", "Conv2dXPlugin"),
        ("my_plugin", "helios-my-plugin", "helios_my_plugin", "MyPlugin"),  # no MyPluginPlugin
        ("plugin", "helios-plugin", "helios_plugin", "PluginPlugin"),  # not the base's name
    ],
)
def test_names_come_from_the_id(
    name: str, distribution: str, package: str, class_name: str
) -> None:
    assert Names.from_id(name) == Names(name, distribution, package, class_name)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", ">=0.1,<0.2"),
        ("0.3.2", ">=0.3,<0.4"),
        ("0.1.0+cpu", ">=0.1,<0.2"),
        ("0.1.0.post1", ">=0.1,<0.2"),
        ("1.4.0", ">=1.4,<1.5"),
        ("2", ">=2.0,<2.1"),
        ("0.4.0rc1", ">=0.4.0rc1,<0.5"),  # >=0.4 would exclude 0.4.0rc1 itself
        ("0.4.0.dev2", ">=0.4.0.dev2,<0.5"),
    ],
)
def test_core_range_is_the_installed_minor_series(version: str, expected: str) -> None:
    assert core_range(version) == expected
    assert SpecifierSet(expected).contains(version, prereleases=True)


def test_an_unknown_core_version_is_an_error() -> None:
    with pytest.raises(ScaffoldError) as info:
        core_range("0+unknown")
    assert str(info.value) == (
        "cannot derive the helios-trainer range for a new plug-in: the installed core reports "
        "version '0+unknown'; install helios-trainer (pip install helios-trainer, or pip "
        "install -e core in the Helios repository) and retry"
    )


def test_the_project_holds_every_file(tmp_path: Path) -> None:
    made = create_plugin_project("step_counter", tmp_path)
    assert made.root == tmp_path / "helios-step-counter"
    assert made.files == FILES
    folders = ["src", "src/helios_step_counter", "tests"]
    assert tree(tmp_path / "helios-step-counter") == sorted([*FILES, *folders])
    assert [p.name for p in tmp_path.iterdir()] == ["helios-step-counter"]  # no staging left


def test_the_output_is_byte_identical_to_the_string_templates_it_replaced(
    tmp_path: Path,
) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert list(expected) == ["step_counter 0.3.0", "my_plugin 0.4.0rc1", "conv2d_x 1.4.2"]
    assert render_cases(tmp_path) == expected


def test_every_template_is_a_package_data_file_and_every_file_is_used() -> None:
    folder = Path(scaffold.__file__).parent / "templates"
    shipped = sorted(p.name for p in folder.iterdir())
    assert shipped == sorted(TEMPLATES.values())
    assert [
        p.format(package="helios_step_counter", manifest="helios-plugin.toml") for p in TEMPLATES
    ] == list(FILES)


def test_a_missing_template_is_an_error_naming_it_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "templates"
    partial.mkdir()
    for name in TEMPLATES.values():
        if name != "plugin.py.tmpl":
            (partial / name).write_bytes((scaffold.template_folder() / name).read_bytes())
    monkeypatch.setattr(scaffold, "template_folder", lambda: partial)
    dest = tmp_path / "dest"
    assert cli("clip", "--dest", str(dest)) == 1
    missing = partial / "plugin.py.tmpl"
    assert capsys.readouterr().err == (
        f"helios: error: cannot read the scaffold template {missing}: [Errno 2] No such file "
        f"or directory: '{missing}'; this helios-trainer installation is incomplete. Reinstall "
        "it (pip install --force-reinstall helios-trainer, or pip install -e core in the Helios "
        "repository)\n"
    )
    assert not dest.exists()  # nothing was written


def test_pyproject_and_manifest_agree(project: Path) -> None:
    expected_range = core_range(helios.__version__)
    pyproject = parse_toml((project / "pyproject.toml").read_text(encoding="utf-8"))
    meta = pyproject["project"]
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    assert (meta["name"], meta["version"]) == ("helios-step-counter", "0.1.0")
    assert meta["dependencies"] == [f"helios-trainer{expected_range}"]
    assert meta["entry-points"] == {
        "helios.plugins": {"step_counter": "helios_step_counter.plugin:StepCounterPlugin"}
    }
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["src/helios_step_counter"]
    assert wheel["extra-metadata"] == {
        "src/helios_step_counter/helios-plugin.toml": "helios-plugin.toml"
    }

    path = project / "src" / "helios_step_counter" / "helios-plugin.toml"
    manifest = load_manifest(path)
    assert (manifest.id, manifest.class_path) == (
        "step_counter",
        "helios_step_counter.plugin:StepCounterPlugin",
    )
    assert parse_toml(path.read_text(encoding="utf-8"))["requires"]["helios"] == expected_range
    assert manifest.overrides.claimed() == frozenset()
    assert manifest.device.accelerator == "any"
    assert manifest.packages == ()


def test_the_project_validates(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = validate_path(project)
    assert result.ok, [p.render() for p in result.problems]
    assert main(["plugins", "validate", str(project)]) == 0
    assert capsys.readouterr().out == (
        f"ok: {project} (plug-in 'step_counter', class "
        "helios_step_counter.plugin:StepCounterPlugin)\n"
    )


def test_the_generated_code_compiles_and_is_consistent(project: Path) -> None:
    for path in project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    plugin = (project / "src" / "helios_step_counter" / "plugin.py").read_text(encoding="utf-8")
    assert "class StepCounterPlugin(Plugin):" in plugin
    assert 'plugin_id = "step_counter"' in plugin
    assert "declared_overrides = UniquePluginOverrides()" in plugin
    tests = (project / "tests" / "test_plugin.py").read_text(encoding="utf-8")
    assert 'ID = "step_counter"' in tests
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "helios plugins check step_counter --import" in readme
    assert "$" not in plugin + tests  # every placeholder was filled


def test_the_class_lists_every_hook_of_the_table(project: Path) -> None:
    plugin = (project / "src" / "helios_step_counter" / "plugin.py").read_text(encoding="utf-8")
    listed = re.findall(r"^    #   (\w+\([^)]*\))", plugin, re.M)
    assert listed == [hook.signature for hook in HOOKS]
    comments = [line[5:] for line in plugin.splitlines() if line.startswith("    #   ")]
    text = " ".join(" ".join(comments).split())
    for hook in HOOKS:  # each with its flag and when it runs
        when = f"[{hook.flag}] {hook.when}" if hook.flag else hook.when
        assert f"{hook.signature} {when}" in text, hook.name
    assert max(len(line) for line in plugin.splitlines()) <= 99
    manifest = (project / "src" / "helios_step_counter" / "helios-plugin.toml").read_text("utf-8")
    for flag, hook in GUARDED_HOOKS.items():
        assert re.search(rf"^#   {flag} = true +# to define {hook}$", manifest, re.M), flag
    readme = " ".join((project / "README.md").read_text(encoding="utf-8").split())
    *others, last = (f"`{hook}`" for hook in GUARDED_HOOKS.values())
    assert f"a class defining {', '.join(others)} or {last} must claim it in both" in readme


def test_cli_prints_the_files_and_the_next_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("step_counter") == 0
    out = capsys.readouterr().out
    rng = core_range(helios.__version__)
    assert out.splitlines() == [
        "created ./helios-step-counter (plug-in 'step_counter', class "
        f"helios_step_counter.plugin:StepCounterPlugin, requires helios-trainer{rng}):",
        *(f"  ./helios-step-counter/{f}" for f in FILES),
        "next:",
        "  helios plugins validate ./helios-step-counter",
        "  pip install ./helios-step-counter    # or pip install -e './helios-step-counter[test]'",
        "  helios plugins check step_counter --import",
        "  pytest ./helios-step-counter/tests",
        "before publishing: complete authors and [project.urls] in "
        "./helios-step-counter/pyproject.toml (or pass --author, --email, --url to helios "
        "plugins new)",
    ]
    assert validate_path(tmp_path / "helios-step-counter").ok


def test_dest_is_created_and_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "new folder" / "plugins"
    assert cli("clip", "--dest", str(dest)) == 0
    assert validate_path(dest / "helios-clip").ok
    assert f"  helios plugins validate '{dest}/helios-clip'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("My_Plugin", "try: helios plugins new my_plugin"),
        ("my-plugin", "try: helios plugins new my_plugin"),
        ("Step Counter", "try: helios plugins new step_counter"),
        ("helios-clip", "try: helios plugins new clip"),
        ("2fast", "try: helios plugins new fast"),
        ("a" * 65, f"try: helios plugins new {'a' * 64}"),
        ("123", "for example: helios plugins new my_plugin"),
        ("", "for example: helios plugins new my_plugin"),
    ],
)
def test_a_bad_name_is_refused_with_a_fix(
    name: str, hint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(name, "--dest", str(tmp_path)) == 1
    assert capsys.readouterr().err == (
        f"helios: error: invalid plug-in name {name!r}: {ID_RULE}; {hint}\n"
    )
    assert tree(tmp_path) == []


def test_the_helios_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as info:
        create_plugin_project("helios_clip", tmp_path)
    assert str(info.value) == (
        "invalid plug-in name 'helios_clip': give the id without the 'helios_' prefix (the "
        "distribution is named helios-<id> already); try: helios plugins new clip"
    )
    assert tree(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("trainer", "helios-trainer is the core itself"),
        ("core", "helios-core is another project on the public package index"),
        ("cuda", "helios-cuda is the first-party CUDA plug-in"),
        ("optuna", "helios-optuna is the first-party Optuna plug-in"),
    ],
)
def test_a_taken_name_is_refused(name: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as info:
        create_plugin_project(name, tmp_path)
    assert str(info.value) == (
        f"invalid plug-in name {name!r}: {why}; pick another id, for example: "
        f"helios plugins new my_{name}"
    )
    assert tree(tmp_path) == []


def test_an_occupied_target_is_never_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "helios-clip"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    assert cli("clip", "--dest", str(tmp_path)) == 1
    assert capsys.readouterr().err == (
        f"helios: error: {target} exists and is not an empty folder; nothing was written. "
        "Choose another --dest, or move it away first\n"
    )
    assert tree(tmp_path) == ["helios-clip", "helios-clip/mine.txt"]
    assert (target / "mine.txt").read_text() == "keep me"


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "helios-clip").write_text("a file")
    with pytest.raises(ScaffoldError, match="exists and is not an empty folder"):
        create_plugin_project("clip", tmp_path)
    assert tree(tmp_path) == ["helios-clip"]


def test_an_empty_target_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "helios-clip").mkdir()
    made = create_plugin_project("clip", tmp_path)
    assert validate_path(made.root).ok


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    real_write = Path.write_text

    def fail_third(self: Path, *args: Any, **kwargs: Any) -> int:
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail_third)
    with pytest.raises(ScaffoldError) as info:
        create_plugin_project("clip", tmp_path)
    assert str(info.value) == (
        f"cannot create {tmp_path / 'helios-clip'}: [Errno 28] No space left on device; "
        "nothing was written"
    )
    assert len(written) == 2  # two files were written into the staging folder
    assert tree(tmp_path) == []


def test_a_failed_rename_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    (tmp_path / "helios-clip").mkdir()  # an empty target is replaced, or kept on failure
    monkeypatch.setattr(os, "rename", refuse)  # the staging folder cannot be moved into place
    with pytest.raises(ScaffoldError, match="Permission denied; nothing was written"):
        create_plugin_project("clip", tmp_path)
    assert tree(tmp_path) == ["helios-clip"]


def test_new_imports_no_torch(tmp_path: Path) -> None:
    src = str(Path(helios.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import json, sys\n"
        "from helios.cli import main\n"
        f"code = main(['plugins', 'new', 'clip', '--dest', {str(tmp_path)!r}])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'numpy', 'helios_clip'))]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [0, []]


def _pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.torch
@pytest.mark.slow
def test_the_scaffold_builds_installs_checks_and_passes_its_tests(
    tmp_path: Path, plugin_env: PluginEnv
) -> None:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    pytest.importorskip("torch", reason="the scaffold's own tests train on CPU")
    # for the core this fixture site holds (it shadows the installed one)
    made = create_plugin_project(
        "step_counter", tmp_path / "work", helios_version=plugin_env.core_version
    )
    root = made.root
    dist = tmp_path / "dist"
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(root))
    (wheel,) = dist.glob("*.whl")
    assert wheel.name == "helios_step_counter-0.1.0-py3-none-any.whl"
    _pip("install", "--no-deps", "--no-index", "--target", str(plugin_env.site), str(wheel))

    code, out, err, _ = plugin_env.cli("plugins", "check", "step_counter", "--import", "--json")
    assert (code, err) == (0, "")
    (verdict,) = json.loads(out)["plugins"]
    assert (verdict["distribution"], verdict["version"], verdict["reason"]) == (
        "helios-step-counter",
        "0.1.0",
        "loaded",
    )
    # found through the RECORD pip wrote; the wheel's metadata copy equals the package copy
    installed = plugin_env.site / "helios_step_counter" / "helios-plugin.toml"
    assert verdict["manifest"] == str(installed)
    info = plugin_env.site / "helios_step_counter-0.1.0.dist-info"
    assert (info / "extra_metadata" / "helios-plugin.toml").read_bytes() == installed.read_bytes()

    # The scaffold's own tests, with its own pytest configuration, against the installed wheel.
    paths = [str(plugin_env.site), str(Path(helios.__file__).parents[1])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert not (root / "src" / "helios_step_counter" / "__pycache__").exists()  # the wheel ran
