"""Write real installed distributions (``*.dist-info`` plus package) into a folder.

What pip leaves behind when it installs a wheel: the import package, and a dist-info with
METADATA, entry_points.txt, RECORD and INSTALLER. ``importlib.metadata`` cannot tell these
from a pip install. ``editable=True`` puts the package in a separate source folder, a
``.pth`` file into the site folder and a ``direct_url.json`` (PEP 610) into the dist-info,
the way editable installs do. ``namespace=True`` leaves out ``__init__.py``.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

DEFAULT_CORE_RANGE = ">=0.1,<0.2"


def plugin_source(
    class_name: str, plugin_id: str, overrides: tuple[str, ...] = (), body: str = ""
) -> str:
    """Source of a plug-in module defining ``class_name`` with ``overrides`` claimed."""
    flags = ", ".join(f"{flag}=True" for flag in overrides)
    hooks = {
        "training_batch": "def process_training_batch(self, batch, state):\n    return batch",
        "validation_batch": "def process_validation_batch(self, batch, step):\n    return batch",
        "testing_batch": "def process_testing_batch(self, batch, step):\n    return batch",
        "should_training_stop": "def should_training_stop(self):\n    return False",
    }
    methods = "\n".join(textwrap.indent(hooks[o], "    ") for o in overrides)
    return (
        "from helios.plugins.plugin import Plugin, UniquePluginOverrides\n\n\n"
        f"class {class_name}(Plugin):\n"
        f"    plugin_id = {plugin_id!r}\n"
        f"    declared_overrides = UniquePluginOverrides({flags})\n\n"
        "    def setup(self):\n        pass\n"
        f"{methods}\n{textwrap.indent(body, '    ')}\n"
    )


def manifest_text(
    plugin_id: str,
    class_path: str,
    core_range: str = DEFAULT_CORE_RANGE,
    overrides: tuple[str, ...] = (),
    packages: tuple[str, ...] = (),
    device: str = "",
) -> str:
    lines = [
        "manifest-version = 1",
        f'id = "{plugin_id}"',
        f'class = "{class_path}"',
        f'summary = "fixture plug-in {plugin_id}"',
        "",
        "[requires]",
        f'helios = "{core_range}"',
        "packages = [" + ", ".join(f'"{p}"' for p in packages) + "]",
        "",
        "[overrides]",
        *(f"{o} = true" for o in overrides),
    ]
    if device:
        lines += ["", "[device]", device]
    return "\n".join(lines) + "\n"


@dataclass
class FixtureDist:
    """What was written, for assertions."""

    name: str
    version: str
    package: str
    plugin_id: str
    package_dir: Path
    dist_info: Path
    files: list[Path] = field(default_factory=list)


def write_dist_info(
    site: Path,
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    entry_points: dict[str, str] | None = None,
    files: tuple[Path, ...] = (),
    folder: str | None = None,
    editable_project: Path | None = None,
) -> Path:
    """A ``<name>-<version>.dist-info`` folder describing an installed distribution.

    ``folder`` replaces the folder's stem (``evil_x-1.0``): its METADATA still says ``name``.
    ``editable_project`` writes the ``direct_url.json`` of an editable install of that folder.
    """
    stem = folder or f"{canonicalize_name(name).replace('-', '_')}-{version}"
    dist_info = site / f"{stem}.dist-info"
    dist_info.mkdir(parents=True)
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n\n", encoding="utf-8")
    if entry_points:
        body = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (dist_info / "entry_points.txt").write_text(f"[helios.plugins]\n{body}\n", encoding="utf-8")
    (dist_info / "INSTALLER").write_text("pip\n", encoding="utf-8")
    if editable_project is not None:
        url = json.dumps({"dir_info": {"editable": True}, "url": editable_project.as_uri()})
        (dist_info / "direct_url.json").write_text(url, encoding="utf-8")
    record = [*files, *sorted(dist_info.iterdir())]
    (dist_info / "RECORD").write_text(
        "".join(f"{p.relative_to(site) if p.is_relative_to(site) else p},,\n" for p in record)
        + f"{dist_info.name}/RECORD,,\n",
        encoding="utf-8",
    )
    return dist_info


def make_plugin_dist(
    site: Path,
    name: str,
    plugin_id: str,
    *,
    version: str = "0.1.0",
    package: str | None = None,
    class_name: str = "FixturePlugin",
    overrides: tuple[str, ...] = (),
    packages: tuple[str, ...] = (),
    device: str = "",
    core_range: str = DEFAULT_CORE_RANGE,
    manifest: str | None = None,
    module_source: str | None = None,
    init_source: str = "",
    requires: tuple[str, ...] | None = None,
    entry_points: dict[str, str] | None = None,
    editable: bool = False,
    dist_info_folder: str | None = None,
    module: str = "plugin",
    namespace: bool = False,
    source_dir: str | None = None,
) -> FixtureDist:
    """Install a plug-in distribution into ``site``; every part can be replaced to break it.

    ``module`` names the plug-in's module in ``package``; ``namespace`` makes ``package`` a
    namespace package (no ``__init__.py``); ``source_dir`` names an editable install's source
    folder (default ``<package>-src``); ``dist_info_folder`` see :func:`write_dist_info`.
    """
    package = package or canonicalize_name(name).replace("-", "_")
    class_path = f"{package}.{module}:{class_name}"
    root = site.parent / (source_dir or f"{package}-src") if editable else site
    package_dir = root / package
    package_dir.mkdir(parents=True, exist_ok=namespace)
    written = [package_dir / f"{module}.py"]
    if not namespace:
        (package_dir / "__init__.py").write_text(init_source, encoding="utf-8")
        written.insert(0, package_dir / "__init__.py")
    (package_dir / f"{module}.py").write_text(
        module_source
        if module_source is not None
        else plugin_source(class_name, plugin_id, overrides),
        encoding="utf-8",
    )
    if manifest != "":
        text = (
            manifest
            if manifest is not None
            else manifest_text(plugin_id, class_path, core_range, overrides, packages, device)
        )
        (package_dir / "helios-plugin.toml").write_text(text, encoding="utf-8")
        written.append(package_dir / "helios-plugin.toml")
    if editable:
        pth = site / f"__editable__{source_dir or package}.pth"
        pth.write_text(f"{root}\n", encoding="utf-8")
        written = [pth]
    dist_info = write_dist_info(
        site,
        name,
        version,
        requires=requires if requires is not None else (f"helios-trainer{core_range}",),
        entry_points=entry_points if entry_points is not None else {plugin_id: class_path},
        files=tuple(written),
        folder=dist_info_folder,
        editable_project=root if editable else None,
    )
    return FixtureDist(name, version, package, plugin_id, package_dir, dist_info, written)


def make_core_dist(site: Path, version: str = "0.1.0") -> Path:
    """Metadata of an installed helios-trainer at ``version`` (the code comes from sys.path)."""
    return write_dist_info(site, "helios-trainer", version, requires=("packaging>=22",))
