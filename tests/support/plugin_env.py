"""A throw-away site folder of fixture distributions, usable in-process or in a subprocess."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.distfactory import FixtureDist, make_core_dist, make_plugin_dist

if TYPE_CHECKING:
    from helios.plugins._host.host import PluginHost

# Runs the CLI with the fixture site first on sys.path (its .pth files processed, as for a
# real site-packages), then prints which modules the command imported.
_BOOTSTRAP = """
import json, site, sys
folder = sys.argv[1]
sys.path.insert(0, folder)
site.addsitedir(folder)
from helios.cli import main
code = main(sys.argv[3:])
with open(sys.argv[2], "w") as out:
    json.dump(sorted(sys.modules), out)
sys.exit(code)
"""


class PluginEnv:
    """Fixture distributions in ``site``; ``core_version`` is the helios-trainer they see;
    ``host`` is the plug-in host that scans them once the site is active (None: the default
    host at that moment)."""

    def __init__(
        self, root: Path, core_version: str = "0.1.0", host: PluginHost | None = None
    ) -> None:
        self.root = root
        self.host = host
        self.core_version = core_version
        self.site = root / "site-packages"
        self.site.mkdir(parents=True)
        make_core_dist(self.site, core_version)
        self.dists: list[FixtureDist] = []

    def add(self, name: str, plugin_id: str, **kwargs: Any) -> FixtureDist:
        dist = make_plugin_dist(self.site, name, plugin_id, **kwargs)
        self.dists.append(dist)
        return dist

    def activate(self) -> None:
        """Put the site first on this process's sys.path and have the host rescan."""
        sys.path.insert(0, str(self.site))
        site.addsitedir(str(self.site))
        if self.host is None:
            from helios.plugins._host.host import default_host

            self.host = default_host()
        self.host.scan(refresh=True)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, list[str]]:
        """Run ``helios ARGS`` in a fresh interpreter: (exit code, stdout, stderr, modules)."""
        modules_file = self.root / "modules.json"
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (os.environ.get("PYTHONPATH", ""), _core_src()) if p
        )
        proc = subprocess.run(
            [sys.executable, "-c", _BOOTSTRAP, str(self.site), str(modules_file), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
            check=False,
        )
        modules = json.loads(modules_file.read_text()) if modules_file.exists() else []
        modules_file.unlink(missing_ok=True)
        return proc.returncode, proc.stdout, proc.stderr, modules


def _core_src() -> str:
    """core/src when helios runs from the source tree; '' when it is installed."""
    import helios

    src = Path(helios.__file__).resolve().parent.parent
    return str(src) if (src.parent / "pyproject.toml").is_file() else ""
