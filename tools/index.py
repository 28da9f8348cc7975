"""A real package index for ``nox -s index``: what goes on it, the server, and the installs.

    python -m tools.index prove URL --packages DIR --work DIR [--preinstall REQ ...]

The index offers every release of every distribution found in history (tools/releases.py),
built from the commit that released it, except the working tree's version of each
distribution: the tree stands for its own version, as in the compatibility matrix
(tools/matrix.py), so the session tests the code under review. ``prove`` reads what was
uploaded (the wheels in the server's package folder), derives what pip should choose from
their metadata and manifests, and checks it in fresh virtual environments whose pip sees only
the index (helios-*) and a folder of third-party wheels: no configuration, no network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tools.projects import CORE, MANIFEST, Project, all_projects, read_toml
from tools.releases import Release, releases

#: Bounds on what is read back from the index and from the tools it runs.
MAX_METADATA_BYTES = 1 << 20
MAX_REPORT_BYTES = 16 << 20


class IndexProblem(RuntimeError):
    """The index or an install did not do what the session expects; the message says what."""


# --- what goes on the index -------------------------------------------------------------------


@dataclass(frozen=True)
class Offering:
    """One version of one distribution for the index: a release, or the working tree."""

    project: Project
    version: Version
    release: Release | None  # None: the working tree

    @property
    def source(self) -> str:
        return "working tree" if self.release is None else f"commit {self.release.commit[:12]}"


def offerings(root: Path) -> list[Offering]:
    """Every release of every distribution, the tree replacing the release of its version."""
    found = []
    for project in all_projects(root):
        tree = Version(project.version)
        found += [Offering(project, r.version, r) for r in releases(root, project)]
        found = [o for o in found if not (o.project.name == project.name and o.version == tree)]
        found.append(Offering(project, tree, None))
    return sorted(found, key=lambda o: (o.project.name, o.version))


# --- what is on the index -------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """One uploaded wheel, as pip will see it."""

    name: str
    version: Version
    requires: tuple[str, ...]
    manifest: dict[str, Any] | None  # a plug-in's helios-plugin.toml, from inside the wheel

    @property
    def core_range(self) -> SpecifierSet | None:
        for line in self.requires:
            req = Requirement(line)
            if canonicalize_name(req.name) == CORE and req.marker is None:
                return req.specifier
        return None

    @property
    def plugin_id(self) -> str | None:
        value = (self.manifest or {}).get("id")
        return value if isinstance(value, str) else None


def read_wheel(path: Path) -> Published:
    """Name, version, Requires-Dist and manifest of the wheel at ``path`` (bounded reads)."""
    if not path.is_file() or path.is_symlink():
        raise IndexProblem(f"{path}: expected a regular wheel file")
    name, version, _, _ = parse_wheel_filename(path.name)
    info = f"{str(name).replace('-', '_')}-{version}.dist-info/METADATA"
    with zipfile.ZipFile(path) as archive:
        members = {i.filename: i for i in archive.infolist()}
        if info not in members or members[info].file_size > MAX_METADATA_BYTES:
            raise IndexProblem(f"{path.name}: no {info} (or larger than {MAX_METADATA_BYTES} B)")
        meta = HeaderParser().parsestr(archive.read(info).decode("utf-8"))
        manifests = [
            m for m in members if m.count("/") == 1 and m.endswith(f"/{MANIFEST}")
        ]  # <package>/helios-plugin.toml, next to its __init__.py
        manifest = None
        if manifests and members[manifests[0]].file_size <= MAX_METADATA_BYTES:
            manifest = read_toml(archive.read(manifests[0]).decode("utf-8"))
    return Published(str(name), version, tuple(meta.get_all("Requires-Dist") or []), manifest)


def read_index(packages: Path) -> dict[str, dict[Version, Published]]:
    """Every distribution on the index by name, its versions by version (from the wheels)."""
    found: dict[str, dict[Version, Published]] = {}
    for path in sorted(packages.glob("*.whl")):
        wheel = read_wheel(path)
        found.setdefault(wheel.name, {})[wheel.version] = wheel
    return found


# --- what pip should choose -----------------------------------------------------------------


def newest(versions: Sequence[Version]) -> Version | None:
    """What pip picks from ``versions`` without a pin: the newest final release (pre-releases
    only when nothing else is there)."""
    finals = [v for v in versions if not v.is_prerelease]
    pool = finals or list(versions)
    return max(pool) if pool else None


def newest_admitted(spec: SpecifierSet | None, versions: Sequence[Version]) -> Version | None:
    """The newest of ``versions`` that ``spec`` admits (``None``: no requirement, all do)."""
    return newest([v for v in versions if spec is None or spec.contains(v, prereleases=True)])


def left_behind(index: dict[str, dict[Version, Published]]) -> Published | None:
    """The newest plug-in release whose core range leaves out the newest core but admits an
    older one on the index: what a user upgrading the core alone runs into."""
    cores = list(index.get(CORE, {}))
    top = newest(cores)
    candidates = [
        wheel
        for name, versions in sorted(index.items())
        if name != CORE
        for wheel in versions.values()
        if wheel.plugin_id is not None
        and (spec := wheel.core_range) is not None
        and top is not None
        and not spec.contains(top, prereleases=True)
        and newest_admitted(spec, cores) is not None
    ]
    return max(candidates, key=lambda w: (w.version, w.name)) if candidates else None


def incompatible_core(plugin: Published, core: Version) -> tuple[str, str]:
    """The message and fix ``helios plugins check`` must print for ``plugin`` beside ``core``."""
    spec = SpecifierSet(str((plugin.manifest or {}).get("requires", {}).get("helios", "")))
    return (
        f"requires {CORE}{spec}, found {CORE} {core}",
        f"pip install '{CORE}{spec}', or install a release of {plugin.name} made for this "
        f"core: pip install -U {plugin.name}",
    )


# --- fresh virtual environments -------------------------------------------------------------


def isolated_env() -> dict[str, str]:
    """This process's environment without pip's settings: pip reads no configuration file
    and no ``PIP_*`` variable, so it sees only the sources each command names."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@dataclass
class Venv:
    """A fresh virtual environment at ``path`` whose pip installs helios-* from ``index`` only."""

    path: Path
    index: str  # the simple index URL
    links: Path  # third-party wheels
    log: list[str] = field(default_factory=list)

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @classmethod
    def create(cls, path: Path, index: str, links: Path, preinstall: Sequence[str]) -> Venv:
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        venv = cls(path, index, links)
        if preinstall:  # torch from the machine's local wheel: pip's own configuration
            command = [venv.python, "-m", "pip", "install", "-q", "--no-compile", *preinstall]
            subprocess.run(command, check=True)  # --no-compile: torch's .pyc take a minute
        return venv

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, *args], capture_output=True, text=True, env=isolated_env()
        )

    def pip_install(self, *args: str) -> tuple[dict[str, Version], str]:
        """``pip install ARGS`` from the index alone; (what pip chose, its stderr)."""
        report = self.path / "pip-report.json"
        done = self.run(
            "-m", "pip", "install", "--no-cache-dir", "--index-url", self.index,
            "--find-links", str(self.links), "--report", str(report), *args,
        )  # fmt: skip
        if done.returncode != 0:
            raise IndexProblem(
                f"pip install {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}"
            )
        chosen = chosen_from_report(report, self.index)
        say(
            f"index: pip install {' '.join(args)} -> "
            + (", ".join(f"{n} {v}" for n, v in sorted(chosen.items())) or "nothing new")
        )
        return chosen, done.stderr

    def installed(self) -> dict[str, Version]:
        done = self.run("-m", "pip", "list", "--format", "json")
        rows = json.loads(done.stdout)
        return {canonicalize_name(r["name"]): Version(r["version"]) for r in rows}

    def helios(self, *args: str) -> tuple[int, dict[str, Any]]:
        """``helios ARGS --json`` in this environment; (exit status, the report)."""
        done = self.run("-m", "helios", *args, "--json")
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise IndexProblem(
                f"helios {' '.join(args)} printed no JSON (exit {done.returncode}):\n"
                f"{done.stderr[-4000:]}"
            ) from None
        if not isinstance(report, dict):
            raise IndexProblem(f"helios {' '.join(args)} printed {type(report).__name__}")
        return done.returncode, report


def chosen_from_report(report: Path, index: str) -> dict[str, Version]:
    """Name -> version of what a ``pip install --report`` installed; every helios-* must have
    come from ``index`` (the report records each file's URL)."""
    if not report.is_file() or report.stat().st_size > MAX_REPORT_BYTES:
        raise IndexProblem(f"{report}: no pip report (or larger than {MAX_REPORT_BYTES} B)")
    data = json.loads(report.read_text(encoding="utf-8"))
    chosen: dict[str, Version] = {}
    base = index.removesuffix("simple/")
    for item in data.get("install", []):
        name = canonicalize_name(item["metadata"]["name"])
        chosen[name] = Version(item["metadata"]["version"])
        url = item.get("download_info", {}).get("url", "")
        if name.startswith("helios-") and not url.startswith(base):
            raise IndexProblem(f"{name} {chosen[name]} came from {url}, not from the index {base}")
    return chosen


# --- the proofs -----------------------------------------------------------------------------


def say(line: str) -> None:
    """One line of the session's log, flushed (the log interleaves with pip's output)."""
    print(line, flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise IndexProblem(message)


def needed(version: Version | None, message: str) -> Version:
    """``version``, or an IndexProblem with ``message`` when there is none."""
    if version is None:
        raise IndexProblem(message)
    return version


def plugin_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (p["id"], p["distribution"], p["version"], p["kind"]) for p in report.get("plugins", [])
    ]


def expected_kind(venv: Venv, wheel: Published) -> str:
    """``ok``, or ``not-applicable`` for a CUDA plug-in where torch sees no GPU."""
    device = (wheel.manifest or {}).get("device", {})
    if device.get("accelerator", "any") != "cuda":
        return "ok"
    done = venv.run("-c", "import torch; print(torch.cuda.is_available())")
    return "ok" if done.stdout.strip() == "True" else "not-applicable"


@dataclass
class Prover:
    """The installs of ``nox -s index``, each in a fresh venv under ``work``."""

    index: dict[str, dict[Version, Published]]
    simple: str
    links: Path
    work: Path
    preinstall: Sequence[str]

    def venv(self, name: str) -> Venv:
        say(f"index: --- {name}: a fresh virtual environment")
        return Venv.create(self.work / name, self.simple, self.links, self.preinstall)

    @property
    def cores(self) -> list[Version]:
        return list(self.index.get(CORE, {}))

    def plugins(self) -> list[str]:
        return [n for n, vs in sorted(self.index.items()) if any(w.plugin_id for w in vs.values())]

    def expect_versions(self, venv: Venv, wanted: dict[str, Version]) -> None:
        found = {n: v for n, v in venv.installed().items() if n.startswith("helios-")}
        expect(found == wanted, f"installed {found}, expected {wanted}")

    def expect_listed(self, venv: Venv, wheels: Sequence[Published]) -> None:
        status, report = venv.helios("plugins", "list")
        rows = plugin_rows(report)
        say(f"index: helios plugins list: core {report['core']['version']}, {rows}")
        wanted = sorted(
            (w.plugin_id or "", w.name, str(w.version), expected_kind(venv, w)) for w in wheels
        )
        expect(status == 0, f"helios plugins list exited {status}")
        expect(sorted(rows) == wanted, f"helios plugins list shows {rows}, expected {wanted}")

    def by_name(self, name: str) -> Venv:
        """``pip install NAME`` brings its newest release and the newest core it admits."""
        venv = self.venv(f"by-name-{name}")
        plugin = self.index[name][needed(newest(list(self.index[name])), f"no {name}")]
        core = needed(
            newest_admitted(plugin.core_range, self.cores),
            f"{name} {plugin.version} admits no core on the index",
        )
        chosen, _ = venv.pip_install(name)
        wanted = {name: plugin.version, CORE: core}
        expect(
            {n: chosen.get(n) for n in wanted} == wanted, f"pip chose {chosen}, expected {wanted}"
        )
        self.expect_versions(venv, wanted)
        self.expect_listed(venv, [plugin])
        return venv

    def oldest(self, name: str) -> None:
        """``pip install NAME==<oldest>`` brings a core that release's range admits."""
        venv = self.venv(f"oldest-{name}")
        version = min(self.index[name])
        plugin = self.index[name][version]
        core = needed(
            newest_admitted(plugin.core_range, self.cores),
            f"{name} {version} admits no core on the index",
        )
        chosen, _ = venv.pip_install(f"{name}=={version}")
        say(
            f"index: {name} {version} requires {CORE}{plugin.core_range}: pip chose {CORE} "
            f"{chosen.get(CORE)}, the newest it admits ({core})"
        )
        self.expect_versions(venv, {name: version, CORE: core})
        shutil.rmtree(venv.path, ignore_errors=True)

    def uninstall(self, venv: Venv, keep: str) -> None:
        """Both plug-ins, then all but ``keep`` uninstalled: ``keep`` works, ``list`` is right."""
        wheels = [
            self.index[n][newest(list(self.index[n])) or Version("0")] for n in self.plugins()
        ]
        for wheel in wheels:
            if wheel.name != keep:
                venv.pip_install(wheel.name)
        self.expect_listed(venv, wheels)
        for wheel in wheels:
            if wheel.name != keep:
                done = venv.run("-m", "pip", "uninstall", "-y", wheel.name)
                expect(done.returncode == 0, f"pip uninstall {wheel.name}: {done.stderr}")
                say(f"index: pip uninstall -y {wheel.name}")
        kept = [w for w in wheels if w.name == keep]
        self.expect_listed(venv, kept)
        status, report = venv.helios("plugins", "check", kept[0].plugin_id or "", "--import")
        say(f"index: helios plugins check {kept[0].plugin_id} --import: exit {status}")
        expect(status == 0, f"check --import exited {status}: {report}")

    def upgrade_core(self) -> None:
        """A plug-in made for an older core, then ``pip install -U helios-trainer``: what pip
        does, and what ``helios plugins check`` says; then its fix."""
        plugin = left_behind(self.index)
        if plugin is None:
            raise IndexProblem("no plug-in release on the index leaves out the newest core")
        venv = self.venv(f"upgrade-core-{plugin.name}")
        old = needed(newest_admitted(plugin.core_range, self.cores), "no core for it")
        venv.pip_install(f"{plugin.name}=={plugin.version}")
        self.expect_versions(venv, {plugin.name: plugin.version, CORE: old})
        _, stderr = venv.pip_install("-U", CORE)
        core = venv.installed()[CORE]
        warnings = [line for line in stderr.splitlines() if plugin.name in line]
        say(
            f"index: pip install -U {CORE} with {plugin.name} {plugin.version} "
            f"(requires {CORE}{plugin.core_range}): {CORE} {old} -> {core}; pip said: "
            + (" | ".join(warnings) or "nothing about it")
        )
        status, report = venv.helios("plugins", "check")
        entries = [p for p in report["plugins"] if p["distribution"] == plugin.name]
        expect(len(entries) == 1, f"check reports {entries}, expected one {plugin.name} entry")
        entry = entries[0]
        say(f"index: helios plugins check: exit {status}, {entry['kind']}: {entry['message']}")
        say(f"index:   fix: {entry['fix']}")
        if plugin.core_range is not None and plugin.core_range.contains(core, prereleases=True):
            expect(status == 0, f"pip kept a core {plugin.name} admits, yet check exited {status}")
            return
        message, fix = incompatible_core(plugin, core)
        expect(status == 1, f"check exited {status}, expected 1")
        expect(
            (entry["kind"], entry["reason"]) == ("incompatible", "incompatible-core"),
            f"check says {entry['kind']}/{entry['reason']}, expected incompatible/incompatible-core",
        )
        expect(entry["message"] == message, f"message {entry['message']!r}, expected {message!r}")
        expect(entry["fix"] == fix, f"fix {entry['fix']!r}, expected {fix!r}")
        venv.pip_install("-U", plugin.name)  # the fix's second half: a release for this core
        fixed = needed(newest(list(self.index[plugin.name])), plugin.name)
        self.expect_versions(venv, {plugin.name: fixed, CORE: core})
        status, _ = venv.helios("plugins", "check")
        say(f"index: after pip install -U {plugin.name}: helios plugins check exit {status}")
        expect(status == 0, f"check still exits {status} after the fix")
        shutil.rmtree(venv.path, ignore_errors=True)


def third_party(index: dict[str, dict[Version, Published]], skip: Sequence[str]) -> list[str]:
    """What the uploaded wheels need from elsewhere (not helios-*, not ``skip``), deduplicated."""
    skipped = {canonicalize_name(Requirement(s).name) for s in skip}
    found = set()
    for versions in index.values():
        for wheel in versions.values():
            for line in wheel.requires:
                req = Requirement(line)
                name = canonicalize_name(req.name)
                if name in skipped or name.startswith("helios-") or "extra" in str(req.marker):
                    continue
                found.add(line)
    return sorted(found)


def check_served(simple: str, index: dict[str, dict[Version, Published]]) -> None:
    """The server lists every uploaded version on its simple page."""
    for name, versions in sorted(index.items()):
        with urllib.request.urlopen(f"{simple}{name}/", timeout=10) as answer:
            page = answer.read(MAX_METADATA_BYTES).decode("utf-8", "replace")
        stem = name.replace("-", "_")
        missing = [str(v) for v in versions if f"{stem}-{v}-" not in page]
        expect(not missing, f"{simple}{name}/ does not list {missing}")
        say(f"index: {simple}{name}/ serves {', '.join(str(v) for v in sorted(versions))}")


def prove(url: str, packages: Path, work: Path, preinstall: Sequence[str]) -> None:
    index = read_index(packages)
    expect(CORE in index, f"no {CORE} wheel in {packages}: upload the releases first")
    simple = f"{url.rstrip('/')}/simple/"
    check_served(simple, index)
    links = work / "third-party"
    shutil.rmtree(links, ignore_errors=True)
    needed = third_party(index, preinstall)
    say(f"index: third-party wheels for {needed} (pip's usual sources) into {links}")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "--dest",
         str(links), *needed],
        check=True,
    )  # fmt: skip
    ours = [p.name for p in links.iterdir() if canonicalize_name(p.name).startswith("helios")]
    expect(not ours, f"{links} holds {ours}: helios-* must come from the index alone")
    prover = Prover(index, simple, links, work, preinstall)
    plugins = prover.plugins()
    expect(bool(plugins), f"no plug-in wheel in {packages}")
    for name in plugins:
        venv = prover.by_name(name)
        if name == plugins[-1]:  # the others join it, then leave it
            prover.uninstall(venv, keep=name)
        shutil.rmtree(venv.path, ignore_errors=True)
        prover.oldest(name)
    prover.upgrade_core()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.index", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("prove", help="the installs, against a running index")
    cmd.add_argument("url", help="the index, e.g. http://127.0.0.1:8080/")
    cmd.add_argument("--packages", type=Path, required=True, help="the server's package folder")
    cmd.add_argument("--work", type=Path, required=True, help="where the venvs go")
    cmd.add_argument("--preinstall", action="append", default=[], help="e.g. torch==2.13.0+cpu")
    args = parser.parse_args(argv)
    try:
        prove(args.url, args.packages, args.work, args.preinstall)
    except IndexProblem as exc:
        print(f"index: FAILED: {exc}", file=sys.stderr)
        return 1
    print("index: every install chose what the index's metadata says it should")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
