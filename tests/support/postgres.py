"""A private PostgreSQL server for the tests, started from the ``pgserver`` package.

``pgserver`` ships PostgreSQL's own binaries in its wheel: ``postgres_server`` (a session
fixture) runs ``initdb`` and ``pg_ctl start`` in a fresh temporary folder, serves on a Unix
socket there (no TCP port, nothing reachable from outside), and stops the server and deletes
the folder when the session ends. :meth:`PrivatePostgres.new_database` gives each test a
database of its own and a SQLAlchemy URL for it (``postgresql+psycopg2://...``).

When ``pgserver`` or ``psycopg2`` is missing the fixture skips, saying what to install, unless
``HELIOS_TESTS_POSTGRES=require`` (``nox -s tests`` sets it): then it fails, so CI never passes
without the PostgreSQL tests having run. A server that is installed but does not start always
fails, with the end of its log.

Run as root (CI), ``pgserver`` runs PostgreSQL as a system user ``pgserver`` that it creates
(``useradd``) and opens the folders above the data folder and its binaries for that user to
traverse: PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

#: ``require``: a missing driver or server package fails the tests; ``skip`` (the default): skips.
REQUIRE_ENV = "HELIOS_TESTS_POSTGRES"
REQUIRE_VALUES = ("require", "skip")
#: What to install (the root pyproject's ``postgres`` dependency group).
INSTALL = "pip install --group postgres (pgserver and psycopg2-binary)"
#: The most of the server's log (bytes) quoted when it does not start.
LOG_TAIL_CHARS = 2000
#: Test database names: a letter, then letters, digits and underscores (PostgreSQL's limit: 63).
DATABASE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
#: The data is thrown away with the server: no fsync, no waiting for the disk at commit (the
#: shutdown checkpoint then takes about 2 s instead of 8 s on a busy 2-core machine).
NOT_DURABLE = ("fsync", "synchronous_commit", "full_page_writes")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be started (the message says why and what to do)."""


def postgres_missing() -> str | None:
    """What is missing to run the PostgreSQL tests, or None (nothing is imported)."""
    missing = [m for m in ("pgserver", "psycopg2") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return f"the PostgreSQL tests need {' and '.join(missing)}, not installed here: {INSTALL}"


def required() -> bool:
    """Whether ``HELIOS_TESTS_POSTGRES`` asks for the PostgreSQL tests to run (not skip)."""
    value = os.environ.get(REQUIRE_ENV, "skip")
    if value not in REQUIRE_VALUES:
        shown = ascii(value[:40]) + ("..." if len(value) > 40 else "")
        pytest.fail(
            f"{REQUIRE_ENV}={shown} is not one of {', '.join(REQUIRE_VALUES)}; set "
            f"{REQUIRE_ENV}=require to fail when PostgreSQL cannot run, or unset it to skip",
            pytrace=False,
        )
    return value == "require"


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it when ``HELIOS_TESTS_POSTGRES=require``."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=require: nox -s tests installs them)", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_ENV}=require to make this a failure)")


class PrivatePostgres:
    """A running server of this test session: hands out fresh databases."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._names: set[str] = set()
        for setting in NOT_DURABLE:
            self._execute("postgres", f"ALTER SYSTEM SET {setting} = off")
        self._execute("postgres", "SELECT pg_reload_conf()")

    @property
    def version(self) -> str:
        """The server's ``SELECT version()``."""
        return self._query("postgres", "SELECT version()")

    def setting(self, name: str) -> str:
        """The server's ``SHOW name``."""
        return self._query("postgres", f"SHOW {name}")

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` (psycopg2 driver, over the Unix socket)."""
        uri: str = self._server.get_uri(database)
        return uri.replace("postgresql://", "postgresql+psycopg2://", 1)

    def new_database(self, name: str) -> str:
        """Create the empty database ``name`` and return its SQLAlchemy URL."""
        if not DATABASE_NAME.fullmatch(name):
            raise ValueError(
                f"test database name {name[:80]!r}: expected {DATABASE_NAME.pattern} (lowercase "
                "letters, digits and underscores, a letter first, at most 63)"
            )
        if name in self._names:
            raise ValueError(f"test database {name!r} exists already on this server: pick another")
        self._names.add(name)
        self._execute("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _connect(self, database: str) -> Any:
        import psycopg2

        info = self._server.get_postmaster_info()
        connection = psycopg2.connect(
            dbname=database, user="postgres", host=str(info.socket_dir), port=info.port
        )
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        return connection

    def _execute(self, database: str, statement: str) -> None:
        connection = self._connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _query(self, database: str, statement: str) -> str:
        connection = self._connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return str(cursor.fetchone()[0])
        finally:
            connection.close()


def _log_tail(data: Path) -> str:
    log = data / "log"
    if not log.is_file():
        return f"{log} was not written"
    with open(log, "rb") as file:  # only its end: a log can be long
        file.seek(max(log.stat().st_size - LOG_TAIL_CHARS, 0))
        text = file.read(LOG_TAIL_CHARS).decode("utf-8", errors="replace")
    return f"{log} ends:\n{text}"


def need_packages() -> None:
    """Skip or fail (:func:`unavailable`) unless pgserver and psycopg2 are installed."""
    reason = postgres_missing()
    if reason is not None:
        unavailable(reason)


@contextmanager
def private_postgres(root: Path | None = None) -> Iterator[PrivatePostgres]:
    """Start PostgreSQL in ``root/data``; stop it at the end and delete its data.

    ``root`` defaults to a fresh folder made with :func:`tempfile.mkdtemp` (and deleted at the
    end) rather than one under pytest's own temporary folder, which pytest keeps private to its
    user: run as root, the server runs as another user, which must reach its data folder.
    Raises :class:`PostgresUnavailable` when the server does not start.
    """
    with warnings.catch_warnings():
        # platformdirs warns, on import, that it falls back to /tmp/runtime-<uid> for the
        # inter-process lock pgserver takes while starting a server: that is what we want.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

    made = root is None
    root = Path(tempfile.mkdtemp(prefix="helios-postgres-")) if root is None else root
    data = root / "data"
    try:
        try:
            server = pgserver.get_server(data, cleanup_mode="delete")
        except Exception as exc:
            version = importlib.metadata.version("pgserver")
            raise PostgresUnavailable(
                f"pgserver {version} could not start PostgreSQL in {data}: "
                f"{type(exc).__name__}: {exc}; {_log_tail(data)}"
            ) from exc
        try:
            yield PrivatePostgres(server)
        finally:
            server.cleanup()  # pg_ctl stop (fast: open connections are closed), then delete
    finally:
        if made:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PrivatePostgres]:
    """This session's private PostgreSQL server (skips or fails as the module docstring says)."""
    need_packages()
    try:
        with private_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
