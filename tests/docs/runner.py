"""Runs the blocks of one page, in order, the way a reader following the page would.

Each page gets a fresh folder that stands for the repository root (a copy of ``core/``,
``plugins/`` and ``manifests/``, what the pages' commands name) and a private virtual
environment layered on the test's own: it sees every package installed here, and a ``pip
install`` on the page goes into it, offline (``--no-index``, no build isolation), never into the
test's environment. python blocks run in one namespace per page (``worker.py``, one process per
page); a python block with ``file PATH`` is written there and run as ``python PATH``; console and
shell blocks run in bash; toml and json blocks are parsed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import entry_points
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from docs.markdown import RUNNABLE_PROGRAMS, Block, commands, output_matches, programs

__all__ = ["BlockFailed", "PageRun", "cuda_available"]

REPO = Path(__file__).resolve().parents[2]
COPIED = ("core", "plugins", "manifests")
TIMEOUT_S = 300  # one block; a hang fails instead of stalling CI
WORKER = Path(__file__).with_name("worker.py")
OUTPUT_TAIL = 4000


class BlockFailed(AssertionError):
    """A block did not run as the page says; the message names the page and line."""


class PageRun:
    """One page's folder, environment and namespace; blocks run in page order, each once."""

    def __init__(self, page: Path, blocks: list[Block], folder: Path) -> None:
        self.page = page
        self.blocks = blocks
        self.work = folder / "work"
        self.venv = folder / "venv"
        self.logs = folder / "logs"
        self.logs.mkdir(parents=True)
        self.done = 0  # blocks[:done] have run
        self.failed: str | None = None  # where the first failing block is
        self._worker: subprocess.Popen[str] | None = None
        self._env: dict[str, str] | None = None

    # ------------------------------------------------------------------ set-up
    def _setup(self) -> None:
        for name in COPIED:
            shutil.copytree(
                REPO / name,
                self.work / name,
                ignore=shutil.ignore_patterns(
                    "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache"
                ),
            )
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(self.venv)],
            check=True,
            capture_output=True,
        )
        paths = {"base": str(self.venv), "platbase": str(self.venv)}
        site = Path(sysconfig.get_path("purelib", vars=paths))
        ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
        # `import` lines of a .pth file run at start-up: our site folders, their .pth files too.
        lines = [f"import site; site.addsitedir({folder!r})" for folder in ours]
        (site / "_docs_test_base.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
        bindir = Path(sysconfig.get_path("scripts", vars=paths))
        python = bindir / "python"
        for script in entry_points(group="console_scripts"):
            target = bindir / script.name
            if target.exists() or os.sep in script.name:
                continue
            module, _, attr = script.value.partition(":")
            target.write_text(
                f"#!{python}\nimport importlib, sys\nentry = importlib.import_module({module!r})\n"
                f"for part in {attr.split('.')!r}:\n    entry = getattr(entry, part)\n"
                "sys.exit(entry())\n",
                encoding="utf-8",
            )
            target.chmod(0o755)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HELIOS_", "PIP_", "PYTEST_")) and k != "PYTHONUNBUFFERED"
        }
        env.update(
            VIRTUAL_ENV=str(self.venv),
            PATH=os.pathsep.join([str(bindir), env.get("PATH", "")]),
            PIP_NO_INDEX="1",
            PIP_NO_BUILD_ISOLATION="0",  # pip reads this "no" option inverted: 0 = no isolation
            PIP_CONFIG_FILE=os.devnull,
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
            MPLBACKEND="Agg",
        )
        self._env = env

    @property
    def env(self) -> dict[str, str]:
        assert self._env is not None
        return self._env

    def close(self) -> None:
        """End the page's python process."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.close()  # the worker's loop ends at end of input
        try:
            worker.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        worker.stdout.close()

    # ------------------------------------------------------------------ running
    def run_through(self, index: int) -> None:
        """Run the blocks up to ``blocks[index]``; BlockFailed if that one (or one before) fails."""
        if self.done == 0 and self._env is None:
            self._setup()
        while self.done <= index:
            block = self.blocks[self.done]
            self.done += 1
            if self.failed is not None:
                continue
            try:
                self._run(block)
            except BlockFailed:
                self.failed = block.where
                raise
        if self.done == len(self.blocks):
            self.close()  # the page is done: its python process need not hold on to torch
        if self.failed is not None and self.failed != self.blocks[index].where:
            raise BlockFailed(
                f"{self.blocks[index].where}: not run, an earlier block of the page failed "
                f"({self.failed}); the page is followed in order"
            )

    def _run(self, block: Block) -> None:
        directives = block.directives
        if directives.skip is not None:
            return
        if directives.needs_gpu and not cuda_available():
            return
        cwd = self.work / directives.cwd if directives.cwd else self.work
        if block.kind == "python":
            if directives.file is None:
                self._exec(block, cwd)
                return
            self._write(block)
            if directives.setup:
                self._exec(block, cwd, only_setup=True)
            self._python_file(block, cwd)
        elif block.kind in ("console", "shell"):
            if directives.file is not None:
                self._write(block)
            self._commands(block, cwd)
        else:
            if directives.file is not None:
                self._write(block)
            self._parse(block)

    def _write(self, block: Block) -> None:
        assert block.directives.file is not None
        target = self.work / block.directives.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.source(), encoding="utf-8")

    def _parse(self, block: Block) -> None:
        try:
            if block.kind == "toml":
                tomllib.loads(block.source())
            elif block.kind == "json":
                json.loads(block.source())
        except ValueError as exc:
            raise BlockFailed(
                f"{block.where}: the {block.kind} block does not parse: {exc}"
            ) from None

    def _exec(self, block: Block, cwd: Path, *, only_setup: bool = False) -> None:
        log = self.logs / "python.log"
        if self._worker is None:
            with log.open("ab") as stderr:  # O_APPEND: its writes never move our reading place
                self._worker = subprocess.Popen(
                    [str(self.venv / "bin" / "python"), str(WORKER)],
                    cwd=self.work,
                    env=self.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
        assert self._worker.stdin is not None and self._worker.stdout is not None
        start = log.stat().st_size
        request = {
            "path": str(self.page),
            "line": block.line,
            "code": "" if only_setup else block.source(),
            "setup": block.directives.setup,
            "cwd": str(cwd),
        }
        self._worker.stdin.write(json.dumps(request) + "\n")
        self._worker.stdin.flush()
        ready, _, _ = select.select([self._worker.stdout], [], [], TIMEOUT_S)
        answer = self._worker.stdout.readline() if ready else ""
        with log.open(encoding="utf-8", errors="replace") as printed_file:
            printed_file.seek(start)
            printed = printed_file.read()[-OUTPUT_TAIL:]
        if not answer:
            self._worker.kill()
            raise BlockFailed(
                f"{block.where}: the page's python process gave no answer within {TIMEOUT_S} s "
                f"(or died); its output:\n{printed}"
            )
        error = json.loads(answer)["error"]
        if error is not None:
            raise BlockFailed(
                f"{block.where}: the python block failed:\n{error}\noutput:\n{printed}"
            )

    def _python_file(self, block: Block, cwd: Path) -> None:
        name = block.directives.file
        assert name is not None
        proc = self._subprocess(["python", str(self.work / name)], cwd, block)
        if proc.returncode != 0:
            raise BlockFailed(
                f"{block.where}: `python {name}` (this block) exited with {proc.returncode}:\n"
                f"{proc.stdout[-OUTPUT_TAIL:]}"
            )

    def _subprocess(
        self, argv: list[str], cwd: Path, block: Block
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv,
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BlockFailed(f"{block.where}: still running after {TIMEOUT_S} s") from exc

    def _commands(self, block: Block, cwd: Path) -> None:
        listed = commands(block)
        for command in listed:
            strangers = [p for p in programs(command.text) if p not in RUNNABLE_PROGRAMS]
            if strangers:
                raise BlockFailed(
                    f"{block.page}:{command.line}: `{command.text}` runs {', '.join(strangers)}, "
                    f"which the docs test does not start (it runs only "
                    f"{', '.join(sorted(RUNNABLE_PROGRAMS))}); mark the block "
                    "<!-- docs-test: skip (why) --> or make it runnable"
                )
        allowed = sorted({0, *block.directives.allow_exit})
        folder = self.logs / f"block-{block.line}"
        folder.mkdir()
        script = ["set -u"]
        if block.directives.setup:
            script += [
                "{",
                block.directives.setup,
                f"}} > {folder}/setup.out 2>&1 || {{ echo $? > {folder}/setup.rc; exit 0; }}",
            ]
        for number, command in enumerate(listed):
            script += [
                "{",
                command.text,
                f"}} > {folder}/{number}.out 2>&1 < /dev/null",
                f"status=$?; echo $status > {folder}/{number}.rc",
                f"case $status in {'|'.join(map(str, allowed))}) ;; *) exit 0 ;; esac",
            ]
        (folder / "script.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
        proc = self._subprocess(["bash", str(folder / "script.sh")], cwd, block)
        if (folder / "setup.rc").exists():
            raise BlockFailed(
                f"{block.where}: its docs-test setup failed:\n{_read(folder / 'setup.out')}"
            )
        for number, command in enumerate(listed):
            rc_file = folder / f"{number}.rc"
            if not rc_file.exists():
                raise BlockFailed(
                    f"{block.page}:{command.line}: `{command.text}` did not run:\n{proc.stdout}"
                )
            status = int(rc_file.read_text())
            output = _read(folder / f"{number}.out")
            if status not in allowed:
                raise BlockFailed(
                    f"{block.page}:{command.line}: `{command.text}` exited with {status} "
                    f"(expected {' or '.join(map(str, allowed))}):\n{output[-OUTPUT_TAIL:]}"
                )
            if "Traceback (most recent call last)" in output:
                raise BlockFailed(
                    f"{block.page}:{command.line}: `{command.text}` printed a traceback:\n"
                    f"{output[-OUTPUT_TAIL:]}"
                )
            if command.expected is not None and not output_matches(command.expected, output):
                shown = "\n".join(command.expected)
                raise BlockFailed(
                    f"{block.page}:{command.line}: `{command.text}` printed something else than "
                    f"the page shows.\n--- the page:\n{shown}\n--- printed:\n{output}"
                )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def cuda_available() -> bool:
    """Does torch see a CUDA GPU here (``needs-gpu`` blocks run only then)?"""
    import torch

    return bool(torch.cuda.is_available())
