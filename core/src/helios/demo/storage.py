"""Where the demo's study lives: ``<run-dir>/study.db`` by default, or ``--storage URL``.

The URL comes from the command line, so it is checked before anything connects: SQLite,
PostgreSQL or MySQL only (the back ends Optuna's RDB storage is tested with), at most
:data:`MAX_URL` characters, printable, and not an in-memory SQLite database when worker
processes share it. A URL is shown with its password hidden (:func:`shown_url`).

Importing this module is cheap: Optuna and SQLAlchemy are imported by :func:`open_storage` only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from helios.demo import DemoError
from helios.plugins._host.echo import quote, shown
from helios.runlock import shown_path

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

__all__ = ["MAX_URL", "check_storage", "in_memory", "open_storage", "shown_url"]

#: The longest ``--storage`` URL accepted (a real one is far shorter).
MAX_URL = 2048
#: The most characters of a URL a message shows (a longer one is cut, with its length).
SHOWN_URL = 512
#: How long a SQLite writer waits for another process's lock before failing, in seconds (the
#: workers write reports and trial states to one file; SQLite's default is 5).
SQLITE_TIMEOUT = 60
_URL = re.compile(r"(?P<name>sqlite|postgresql|mysql)(?:\+[A-Za-z0-9_]{1,32})?://(?P<rest>.*)")
_PASSWORD = re.compile(r"^(?P<user>[^:/@]*):[^@]*@")  # a password may hold "/"
#: Driver modules SQLAlchemy imports for a URL, and the distribution that provides each.
_DRIVERS = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "'psycopg[binary]'",
    "pg8000": "pg8000",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
}
_EXPECTED = (
    "expected sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DATABASE or "
    "mysql://USER:PASSWORD@HOST/DATABASE (a driver may follow the name: postgresql+psycopg2://)"
)


def shown_url(url: str) -> str:
    """``url`` for messages: the password replaced by ``***``, escaped, quoted, and cut past
    :data:`SHOWN_URL` characters (a SQLite URL holds a path, often long: shown whole up to then)."""
    name, sep, rest = url.partition("://")
    if sep:
        rest = _PASSWORD.sub(lambda found: f"{found['user']}:***@", rest, count=1)
    return quote(name + sep + rest, limit=SHOWN_URL, quote_char="'")


def in_memory(url: str) -> bool:
    """True when ``url`` is a SQLite database that lives in one process's memory."""
    found = _URL.fullmatch(url)
    if found is None or found["name"] != "sqlite":
        return False
    path, _, query = found["rest"].partition("?")
    database = path[1:] if path.startswith("/") else path
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or "mode=memory" in query
    )


def check_storage(url: str, workers: int) -> str:
    """``url`` if the demo can use it with ``workers`` processes; else a :class:`DemoError`."""
    if len(url) > MAX_URL:
        raise DemoError(
            f"--storage is {len(url):,} characters long, expected a database URL of at most "
            f"{MAX_URL:,}; pass a shorter URL, or leave --storage out for the SQLite file in "
            "--run-dir"
        )
    found = _URL.fullmatch(url)
    if found is None or not url.isprintable():
        raise DemoError(
            f"--storage {shown_url(url)} is not a database URL helios demo can use: {_EXPECTED}; "
            "or leave --storage out for the SQLite file in --run-dir"
        )
    if found["name"] == "sqlite" and found["rest"] and not found["rest"].startswith("/"):
        raise DemoError(
            f"--storage {shown_url(url)} names a host, but SQLite reads a file: write "
            "sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    if workers > 1 and in_memory(url):
        raise DemoError(
            f"--storage {shown_url(url)} is an in-memory SQLite database, which each of the "
            f"{workers} worker processes would see empty and alone; pass a SQLite file "
            "(sqlite:///PATH) or a database server's URL, or leave --storage out for the "
            "SQLite file in --run-dir"
        )
    return url


def open_storage(url: str, own: Path | None = None) -> RDBStorage:
    """Optuna's RDB storage for ``url`` (checked), creating its tables if they are missing.

    SQLite writers wait up to :data:`SQLITE_TIMEOUT` s for each other. A missing driver or a
    database that cannot be reached is a :class:`DemoError` naming the URL (password hidden),
    or, for the demo's own file ``own`` (no ``--storage``), that file.
    """
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    engine: dict[str, object] = {}
    if url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    try:
        return RDBStorage(url, engine_kwargs=engine)
    except ImportError as exc:  # SQLAlchemy imports the URL's driver; Optuna wraps the error
        module = _missing_module(exc)
        install = _DRIVERS.get(module, module or "the driver")
        raise DemoError(
            f"--storage {shown_url(url)} needs the database driver {module or '(unknown)'}, "
            f"which is not installed; pip install {install}"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        password = _PASSWORD.match(url.partition("://")[2])
        secret = password[0].split(":", 1)[1][:-1] if password else ""
        if secret:
            reason = reason.replace(secret, "***")
        if own is not None and not _sqlite_file(own):  # not a database the demo wrote
            raise DemoError(
                f"the study's database {shown_path(own)} cannot be opened "
                f"({shown(reason, limit=200)}): it is not one that helios demo wrote; add "
                "--fresh to start over (it removes that file), or pass another --run-dir"
            ) from None
        if own is not None:  # a SQLite file: the disk, the folder or the file itself
            raise DemoError(
                f"the study's database {shown_path(own)} cannot be opened "
                f"({shown(reason, limit=200)}); if its disk is full or its folder read-only, "
                "fix that and run the same command again; if the file is damaged, add --fresh "
                "to start over (it removes that file and its trials)"
            ) from None
        fix = (
            "check that the file's folder exists and is writable"
            if url.startswith("sqlite")
            else "check that the server runs and the URL's user, password, host and database "
            "are right"
        )
        raise DemoError(
            f"--storage {shown_url(url)}: cannot open the study's database "
            f"({shown(reason, limit=200)}); {fix}"
        ) from None


def _sqlite_file(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts as every SQLite database does."""
    from helios.plugins._host.bounded_read import FileRefused, open_regular

    try:
        fd = open_regular(path)
    except (FileRefused, OSError):
        return False
    try:
        return os.read(fd, len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False
    finally:
        os.close(fd)


#: The first bytes of every SQLite 3 database file.
_SQLITE_HEADER = b"SQLite format 3\x00"


def _missing_module(exc: BaseException) -> str:
    """The top-level module an import error (or one it was raised from) could not find."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain; never loop on a cycle
        if seen is None:
            break
        if isinstance(seen, ImportError) and seen.name:
            return seen.name.split(".")[0]
        seen = seen.__cause__ or seen.__context__
    return ""
