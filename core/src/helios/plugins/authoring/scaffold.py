"""``helios plugins new NAME``: write a complete, installable plug-in distribution.

The scaffold is a project tree (``pyproject.toml``, ``README.md``, ``src/helios_<id>/`` with
the plug-in class, its manifest and ``py.typed``, and ``tests/test_plugin.py``) that passes
``helios plugins validate``, installs with pip and passes ``helios plugins check <id>
--import`` and its own tests as generated. Its helios-trainer range comes from the installed
core's version. The templates are strings in this module, so the scaffold works from an
installed wheel; nothing here imports torch.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from packaging.version import InvalidVersion, Version

from helios.plugins._host.first_party import FIRST_PARTY
from helios.plugins._host.manifest import CORE_DISTRIBUTION, ID_PATTERN, MANIFEST_FILENAME
from helios.plugins.hooks import GUARDED_HOOKS, HOOK_PREFIXES, HOOKS

__all__ = ["Names", "Scaffold", "ScaffoldError", "core_range", "create_plugin_project"]

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


def create_plugin_project(
    name: str, dest: Path | None = None, *, helios_version: str | None = None
) -> Scaffold:
    """Write the plug-in project ``dest/helios-<id>/`` for the plug-in id ``name``.

    ``helios_version`` defaults to the installed core's version. The tree is built in a
    temporary folder next to the target and renamed into place, so a failure leaves nothing
    behind; an existing target that is not an empty folder is never touched.
    """
    names = Names.from_id(name)
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
    files = _render(names, helios_range)
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
    return Scaffold(names, target, tuple(files), helios_range)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _render(names: Names, helios_range: str) -> dict[str, str]:
    """Every file of the project, relative path to text."""
    values = {
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
    package = f"src/{names.package}"
    templates = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": INIT,
        f"{package}/plugin.py": PLUGIN,
        f"{package}/{MANIFEST_FILENAME}": MANIFEST,
        f"{package}/py.typed": "",
        "tests/test_plugin.py": TESTS,
    }
    return {path: Template(text).substitute(values) for path, text in templates.items()}


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


# ---------------------------------------------------------------------- templates
# string.Template placeholders: $name or ${name}; a literal dollar sign is $$.

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "$distribution"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
    "$core$helios_range",  # the same range as requires.helios in $manifest
]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."helios.plugins"]
$id = "$class_path"  # name = the manifest's id, value = its class

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

# A copy of the manifest in the wheel's .dist-info, for tools that read a wheel's metadata;
# helios itself reads the one in the package.
[tool.hatch.build.targets.wheel.extra-metadata]
"src/$package/$manifest" = "$manifest"

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = ["-ra", "--strict-markers"]

[tool.ruff]
line-length = 100
target-version = "py310"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF", "PT"]
ignore = ["E501"]  # ruff format wraps code; long names may make a docstring line longer

[tool.mypy]
python_version = "3.10"
strict = true
"""

MANIFEST = """\
# The Helios plug-in manifest (format v1), read and checked before any code here is imported.
# Specification: manifests/README.md in the Helios repository.
manifest-version = 1
id = "$id"  # = the entry-point name in pyproject.toml = ${class_name}.plugin_id
class = "$class_path"  # = the entry-point value
summary = "$summary"

[requires]
helios = "$helios_range"  # = the $core range in pyproject.toml's dependencies
packages = []  # other distributions the plug-in needs, as PEP 508 strings

[overrides]
# The unique overrides the plug-in claims (= ${class_name}.declared_overrides); none yet.
# Each guards a hook that one plug-in of a trainer alone may define, so claiming one makes
# the plug-in conflict with every other plug-in claiming it:
$claim_lines

[device]
accelerator = "any"
"""

INIT = '''\
"""$distribution: a Helios plug-in.

The plug-in class lives in :mod:`$package.plugin` and is handed on lazily:
importing this package imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from $package.plugin import (
        $class_name,
    )

__all__ = ["$class_name"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from $package import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
'''

PLUGIN = '''\
"""The Helios plug-in ``$id``: :class:`$class_name`."""

from __future__ import annotations

import logging
from typing import Any

from helios.plugins.plugin import Plugin, UniquePluginOverrides

__all__ = ["$class_name"]

log = logging.getLogger(__name__)


class $class_name(Plugin):
    """Count the validation cycles of a training run and log each one.

    The count rides in the trainer's checkpoints, so a resumed run keeps counting. Replace
    the hooks with your own; every hook runs before the model's.
    """

    # = the manifest's id, and its [overrides]
    plugin_id = "$id"
    declared_overrides = UniquePluginOverrides()

$hook_menu

    def __init__(self) -> None:
        super().__init__()
        self.validation_cycles = 0

    def setup(self) -> None:
        """Build the plug-in's state; the trainer calls it once it has set ``self.device``."""

    def on_validation_end(self, validation_cycle: int) -> None:
        """Count the cycle and log it."""
        self.validation_cycles += 1
        log.info(
            "%s: validation cycle %d done (%d counted)",
            self.plugin_id,
            validation_cycle,
            self.validation_cycles,
        )

    def state_dict(self) -> dict[str, Any]:
        """What the trainer's checkpoints keep of the plug-in."""
        return {"validation_cycles": self.validation_cycles}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` when a run resumes."""
        self.validation_cycles = int(state_dict["validation_cycles"])
'''

TESTS = '''\
"""Tests of $distribution: the manifest, the installed plug-in, and its hook in a real fit.

Install the plug-in first (pip install -e ".[test]"), then run pytest.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from helios.cli import main
from helios.data import DataModule
from helios.model import Model
from helios.plugins.authoring.static import validate_path
from helios.trainer import Trainer, TrainingState, TrainingUnit
from torch import nn
from torch.utils.data import TensorDataset

from $package.plugin import (
    $class_name,
)

PROJECT = Path(__file__).resolve().parents[1]
ID = "$id"


class TinyModel(Model):
    """A linear regression: enough for the trainer to run every hook."""

    def setup(self) -> None:
        self.network = nn.Linear(2, 1)
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=0.1)

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.network(x), y)


class TinyData(DataModule):
    """Eight samples of y = x1 + x2, for training and validation."""

    def setup(self) -> None:
        x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
        self.train_dataset = self.valid_dataset = TensorDataset(x, x.sum(dim=1, keepdim=True))
        self.train_params.batch_size = self.valid_params.batch_size = 4


def test_the_manifest_validates() -> None:
    result = validate_path(PROJECT)
    assert result.ok, [problem.render() for problem in result.problems]
    assert result.manifest is not None
    assert result.manifest.id == ID
    assert $class_name.plugin_id == ID
    assert main(["plugins", "validate", str(PROJECT)]) == 0


def test_helios_plugins_check_import_passes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "helios", "plugins", "check", ID, "--import"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_hook_counts_validation_cycles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = Trainer(
        total=2,
        unit=TrainingUnit.EPOCH,
        valid_every=1,
        run_dir=tmp_path,
        device="cpu",
        progress=False,
        plugins=[ID],  # by id, as users load it: manifest checks first, then import
    )
    with caplog.at_level(logging.INFO):
        trainer.fit(TinyModel("tiny"), TinyData())
    found = trainer.plugins[ID]
    assert isinstance(found, $class_name)
    assert found.validation_cycles == 2
    assert f"{ID}: validation cycle 1 done (2 counted)" in caplog.messages
    assert found.state_dict() == {"validation_cycles": 2}
'''

README = """\
# $distribution

A Helios plug-in. $summary.

| what | name |
|---|---|
| plug-in id (manifest `id`, entry point) | `$id` |
| distribution | `$distribution` |
| import package | `$package` |
| class | `$class_path` |
| core range (`requires.helios` = the pyproject dependency) | `$core$helios_range` |

## Install

```console
$$ pip install .                 # or: pip install -e ".[test]" while developing
$$ helios plugins list           # $id is listed as ready
```

Use it in a trainer by id (`Trainer(..., plugins=["$id"])`) or as an instance
(`Trainer(..., plugins=[$class_name()])`).

## Validate, check, test

```console
$$ helios plugins validate .              # manifest + pyproject + class body, nothing imported
$$ helios plugins check $id --import      # the checks a user's machine runs, then the import
$$ pytest tests                           # needs the plug-in installed (see above)
```

`src/$package/$manifest` is the manifest. Keep it consistent with the rest:
its `id` and `class` are the entry point in `pyproject.toml`, its `requires.helios` is the
`$core` range in `dependencies`, and its `[overrides]` are the class's
`declared_overrides` (a class defining $guarded
must claim it in both). The class's comments list every hook; a public method named `on_*`,
`process_*` or `should_*` that is not one of them fails `helios plugins validate`. Another
package the plug-in needs goes into both `dependencies` and `requires.packages`.

## Release

1. Set the new `version` in `pyproject.toml` (the manifest never holds one).
2. When a new `$core` minor series comes out, test against it and widen the range in
   `pyproject.toml` and in `requires.helios` together.
3. Run the checks above, then build and upload:

```console
$$ pip wheel --no-deps -w dist .    # or: python -m build
$$ twine upload dist/*
```
"""
