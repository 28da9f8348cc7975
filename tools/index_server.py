"""The local index server of ``nox -s index``: pypiserver on 127.0.0.1 at a free port.

Its start is waited for by polling its health endpoint with a bounded deadline that fails
loudly (the exit status or the last answer, and the server's log); it is stopped on leaving.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: How long a starting server may take to answer its health endpoint.
START_DEADLINE_S = 60.0


class ServerProblem(RuntimeError):
    """The index server did not start; the message says why and shows its log."""


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        text = path.read_bytes()[-limit:].decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return text.strip() or "(empty log)"


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, deadline_s: float = START_DEADLINE_S
) -> None:
    """Poll ``url`` until it answers 200; fail loudly if the process ends or the deadline passes."""
    end = time.monotonic() + deadline_s
    last = "no answer yet"
    while True:
        status = process.poll()
        if status is not None:
            raise ServerProblem(
                f"the index server exited with status {status} before answering {url}; "
                f"its log ({log}):\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if time.monotonic() >= end:
            raise ServerProblem(
                f"the index server did not answer {url} within {deadline_s:g} s (last: {last}); "
                f"its log ({log}):\n{_tail(log)}\nFix: see the log; a busy machine may need "
                "HELIOS_INDEX_START_S=<seconds>"
            )
        time.sleep(0.1)  # polling a server's start, not waiting for a test event


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the server: terminate, then kill if it does not go within 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Server:
    """A running index: ``url`` takes uploads (twine) and serves ``url``/simple/ (pip)."""

    url: str
    packages: Path
    process: subprocess.Popen[bytes]

    @property
    def simple(self) -> str:
        return f"{self.url}simple/"


def start_deadline() -> float:
    """``HELIOS_INDEX_START_S`` (seconds, 1 to 600) or the default; a bad value is an error."""
    raw = os.environ.get("HELIOS_INDEX_START_S")
    if raw is None:
        return START_DEADLINE_S
    try:
        value = float(raw[:20])
    except ValueError:
        value = -1.0
    if not 1 <= value <= 600:
        raise ServerProblem(
            f"HELIOS_INDEX_START_S must be a number of seconds from 1 to 600, found "
            f"{raw[:40]!r}; fix or unset it"
        )
    return value


@contextlib.contextmanager
def serve(pypi_server: str, packages: Path, log: Path) -> Iterator[Server]:
    """pypiserver on 127.0.0.1 at a free port, uploads open (``-a . -P .``), no fallback to
    PyPI (a name it lacks is not found, never fetched elsewhere); stopped on exit."""
    packages.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        pypi_server, "run", "--host", "127.0.0.1", "--port", str(port),
        "--authenticate", ".", "--passwords", ".", "--disable-fallback", str(packages),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"{url}health", process, log, start_deadline())
        yield Server(url, packages, process)
    finally:
        stop(process)
