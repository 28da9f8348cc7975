"""Creating, loading and rewinding studies safely: upstream's study helpers, race-safe.

:func:`create_or_load_study` opens a study on any RDB storage (SQLite, PostgreSQL, MySQL),
retrying the race of several processes creating a fresh database at once (optuna issue 1092),
and restores the newest sampler checkpoint. :func:`create_study_starting_from_trial` rewinds a
SQLite study to its trials before a given number, on a copy that replaces the file at the end.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from helios_optuna._internals import rdb_backend
from helios_optuna.sampler import restore_sampler, sampler_checkpoints

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:  # pragma: no cover - Python 3.10
        from typing_extensions import Unpack

__all__ = [
    "CREATE_ATTEMPTS",
    "StudyArgs",
    "StudyCreationError",
    "create_or_load_study",
    "create_study_starting_from_trial",
]

#: How often :func:`create_or_load_study` tries before it reports the race as an error.
CREATE_ATTEMPTS = 10
#: Backoff between attempts: the first wait, doubled each time up to the cap (with jitter).
_FIRST_WAIT_S, _MAX_WAIT_S = 0.01, 0.4
#: Error text of the known creation race on SQLite, PostgreSQL and MySQL (lower case).
_RACE_TEXT = (
    "already exists",  # CREATE TABLE / relation / index created by another process first
    "unique constraint",  # SQLite: alembic_version, version_info, studies
    "duplicate key",  # PostgreSQL: alembic_version_pkc, pg_type_typname_nsp_index
    "duplicate entry",  # MySQL
    "database is locked",  # SQLite: another creator holds the write lock past the timeout
)


class StudyArgs(TypedDict, total=False):
    """The arguments of :func:`optuna.create_study` the helpers pass on (all optional)."""

    storage: str | BaseStorage | None
    sampler: BaseSampler | None
    pruner: BasePruner | None
    study_name: str | None
    direction: Literal["minimize", "maximize"] | StudyDirection | None
    load_if_exists: bool
    directions: Sequence[Literal["minimize", "maximize"] | StudyDirection] | None


class StudyCreationError(RuntimeError):
    """The study could not be created or loaded: the creation race did not settle."""


def create_or_load_study(
    sampler_path: str | os.PathLike[str] | None = None,
    backup_study: bool = False,
    backup_samplers: bool = False,
    **study_args: Unpack[StudyArgs],
) -> optuna.Study:
    """Create the study, or load it if it exists, safely when several processes start at once.

    ``study_args`` go to :func:`optuna.create_study`; ``storage`` must be an RDB URL or an
    :class:`~optuna.storages.RDBStorage`, and ``load_if_exists=True``. With a URL, the errors of
    processes racing to create a fresh database (optuna issue 1092) are retried up to
    :data:`CREATE_ATTEMPTS` times. ``sampler_path``: the folder of :func:`checkpoint_sampler`;
    its newest checkpoint replaces ``sampler``. ``backup_study`` copies a SQLite file first
    (``<name>_bkp-<i>.db``), ``backup_samplers`` the checkpoint folder (``<folder>_bkp-<i>``).
    """
    url = _check_study_args("create_or_load_study", study_args)
    if backup_study:
        _backup_study(url, "create_or_load_study")
    if backup_samplers and sampler_path is not None:
        _backup_samplers(Path(sampler_path))
    restored = restore_sampler(sampler_path) if sampler_path is not None else None
    if restored is not None:
        _replace_sampler(study_args, restored)
    return _create_with_retries(study_args)


def create_study_starting_from_trial(
    trial_id: int,
    backup_study: bool = True,
    backup_samplers: bool = True,
    sampler_path: str | os.PathLike[str] | None = None,
    **study_args: Unpack[StudyArgs],
) -> optuna.Study:
    """The study with its trials numbered below ``trial_id`` only, sampling on from there.

    For a study in a SQLite file: the file is copied (SQLite's backup API), the copy rewritten
    (the study recreated with its directions, attributes and the kept trials, other studies in
    the file untouched) and renamed over the file at the end, so a failure leaves it as it was.
    Sampler checkpoints of trials ``trial_id`` and later are removed from ``sampler_path`` and
    the newest one before them is restored. Backups (by default) are made first, named as in
    :func:`create_or_load_study`. Call it while no other process uses the study.
    """
    if isinstance(trial_id, bool) or not isinstance(trial_id, int) or trial_id < 0:
        raise ValueError(
            f"create_study_starting_from_trial: trial_id must be a trial number (an int >= 0), "
            f"found {trial_id!r}; trials numbered below it are kept"
        )
    url = _check_study_args("create_study_starting_from_trial", study_args)
    path = _sqlite_file(url)
    if path is None:
        raise ValueError(
            f"create_study_starting_from_trial rewrites a study kept in a SQLite file, found "
            f"storage {_shown(url)}; use storage='sqlite:///path/study.db' (for a database "
            "server, copy the kept trials into a new study with optuna.copy_study and "
            "study.add_trials)"
        )
    if backup_study:
        _backup_study(url, "create_study_starting_from_trial")
    root = Path(sampler_path) if sampler_path is not None else None
    if backup_samplers and root is not None:
        _backup_samplers(root)
    if path.exists():
        # Named by the file when study_args name none: create_study would make a new study.
        study_args["study_name"] = _rewind_file(
            path, study_args.get("study_name"), trial_id, root, study_args
        )
    elif root is not None:
        _rewind_samplers(root, trial_id, study_args, lambda: None)
    return _create_with_retries(study_args)


# --- arguments -------------------------------------------------------------------------------


def _check_study_args(helper: str, study_args: StudyArgs) -> URL:
    """The storage's URL, after checking what the helpers need of ``study_args``."""
    if study_args.get("load_if_exists") is not True:
        raise ValueError(
            f"{helper} needs load_if_exists=True (found {study_args.get('load_if_exists')!r}): "
            "it creates the study or loads the one that exists; pass load_if_exists=True"
        )
    storage = study_args.get("storage")
    if isinstance(storage, str):
        try:
            return make_url(storage)
        except (ArgumentError, ValueError):
            raise ValueError(
                f"{helper}: storage {storage[:200]!r} is not a database URL; pass an RDB URL "
                "such as 'sqlite:///study.db' or 'postgresql://user@host/db'"
            ) from None
    if isinstance(storage, BaseStorage):
        backend = rdb_backend(storage)
        if backend is not None:
            return make_url(backend.url)
    found = "None (in-memory storage)" if storage is None else type(storage).__name__
    raise TypeError(
        f"{helper} needs the study in RDB storage (a URL or optuna.storages.RDBStorage), found "
        f"{found}; pass storage='sqlite:///study.db' (or a postgresql:// or mysql:// URL)"
    )


def _shown(url: URL) -> str:
    return repr(url.render_as_string(hide_password=True))


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for another database or an in-memory one."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def _replace_sampler(study_args: StudyArgs, restored: BaseSampler) -> None:
    given = study_args.get("sampler")
    if given is not None and type(given) is not type(restored):
        warnings.warn(
            f"the sampler checkpoint holds a {type(restored).__name__}, which replaces the "
            f"{type(given).__name__} passed as sampler; to start the new sampler afresh, move "
            "the sampler checkpoints away (or pass sampler_path=None)",
            UserWarning,
            stacklevel=3,
        )
    study_args["sampler"] = restored


# --- the creation race -----------------------------------------------------------------------


def _create_with_retries(study_args: StudyArgs) -> optuna.Study:
    """``optuna.create_study(**study_args)``, the storage opened anew on each attempt."""
    storage = study_args.get("storage")
    last: BaseException | None = None
    for attempt in range(CREATE_ATTEMPTS):
        try:
            args = study_args.copy()
            args["storage"] = RDBStorage(storage) if isinstance(storage, str) else storage
            return optuna.create_study(**args)
        except (
            SQLAlchemyError,
            DuplicatedStudyError,
            optuna.exceptions.StorageInternalError,
        ) as exc:
            if not _is_creation_race(exc):
                raise
            last = exc
        if attempt + 1 < CREATE_ATTEMPTS:
            wait = min(_FIRST_WAIT_S * 2**attempt, _MAX_WAIT_S)
            time.sleep(wait * random.uniform(0.5, 1.5))
    url = _check_study_args("create_or_load_study", study_args)
    raise StudyCreationError(
        f"could not create or load study {study_args.get('study_name')!r} in {_shown(url)}: "
        f"{CREATE_ATTEMPTS} attempts met the database being created by another process, the "
        f"last with {_first_line(last)}; check that the database is reachable and not being "
        "rebuilt, then start the process again"
    ) from last


def _is_creation_race(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is one of the known creation-race errors."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DuplicatedStudyError):
            return True
        text = str(current).lower()
        if any(part in text for part in _RACE_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}"


# --- backups ---------------------------------------------------------------------------------


def _backup_study(url: URL, helper: str) -> Path | None:
    """Copy the SQLite file to ``<name>_bkp-<i>.db`` (a consistent snapshot, made atomically)."""
    path = _sqlite_file(url)
    if path is None:
        raise ValueError(
            f"{helper}(backup_study=True) backs up SQLite files only, found storage "
            f"{_shown(url)}; back a database server up with its own tools (pg_dump, "
            "mysqldump) and pass backup_study=False"
        )
    if not path.is_file():
        return None
    temp = _temp_beside(path)
    try:
        _sqlite_copy(path, temp)
        shutil.copymode(path, temp)  # the backup keeps the study's permissions
        return _claim_numbered(temp, path.parent, path.stem, path.suffix or ".db")
    finally:
        temp.unlink(missing_ok=True)


def _temp_beside(path: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    return Path(name)


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of the database ``source`` into ``target``, synced to disk."""
    src = sqlite3.connect(source.absolute().as_uri() + "?mode=ro", uri=True)  # "#", "?" quoted
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _claim_numbered(temp: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Give ``temp`` the first free name ``<stem>_bkp-<i><suffix>`` (a hard link: never two
    processes on one name), and return it."""
    index = _next_backup_index(folder, stem, folders=False)
    while True:
        target = folder / f"{stem}_bkp-{index}{suffix}"
        try:
            os.link(temp, target)
        except FileExistsError:
            index += 1
            continue
        return target


def _next_backup_index(folder: Path, stem: str, *, folders: bool) -> int:
    """One more than the highest ``<stem>_bkp-<i>`` among the files (or the folders)."""
    prefix = f"{stem}_bkp-"
    used = [-1]
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False) == folders:
                digits = entry.name[len(prefix) :].split(".")[0]
                if digits.isdigit() and len(digits) < 10:
                    used.append(int(digits))
    return max(used) + 1


def _backup_samplers(root: Path) -> Path | None:
    """Copy the sampler checkpoints to the folder ``<root>_bkp-<i>`` beside ``root``."""
    found = sampler_checkpoints(root)
    if not found:
        return None
    temp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    try:
        for path in found.values():
            shutil.copy2(path, temp / path.name, follow_symlinks=False)
        index = _next_backup_index(root.parent, root.name, folders=True)
        while True:
            target = root.parent / f"{root.name}_bkp-{index}"
            try:
                temp.rename(target)  # a folder with files is never replaced
            except OSError:
                if not target.exists():
                    raise
                index += 1
                continue
            return target
    finally:
        shutil.rmtree(temp, ignore_errors=True)


# --- rewinding -------------------------------------------------------------------------------


def _rewind_file(
    path: Path, name: str | None, trial_id: int, root: Path | None, study_args: StudyArgs
) -> str:
    """Rewrite a copy of the SQLite file ``path`` with the study's trials below ``trial_id``,
    then put it in place (and rewind the sampler checkpoints with it); the study's name."""
    temp = _temp_beside(path)
    try:
        _sqlite_copy(path, temp)
        shutil.copymode(path, temp)  # the file keeps its permissions (mkstemp makes 0600)
        rewound = _keep_trials_below(temp, name, trial_id)
        if root is None:
            os.replace(temp, path)
        else:
            _rewind_samplers(root, trial_id, study_args, lambda: os.replace(temp, path))
        return rewound
    finally:
        temp.unlink(missing_ok=True)


def _keep_trials_below(database: Path, name: str | None, trial_id: int) -> str:
    """Delete the study's trials numbered ``trial_id`` and later from the SQLite file; the
    study's name.

    The study keeps its id (a sampler's cached state names it), its attributes and every other
    study; rows that refer to a deleted trial (found from the schema's foreign keys) go too.
    """
    connection = sqlite3.connect(database)
    try:
        with connection:
            study, rewound = _study_id(connection, name, database)
            doomed = [
                row[0]
                for row in connection.execute(
                    "SELECT trial_id FROM trials WHERE study_id = ? AND number >= ?",
                    (study, trial_id),
                )
            ]
            tables = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                for key in connection.execute(f"PRAGMA foreign_key_list({_quoted(table)})"):
                    if key[2] == "trials" and table != "trials":
                        connection.executemany(
                            f"DELETE FROM {_quoted(table)} WHERE {_quoted(key[3])} = ?",
                            [(t,) for t in doomed],
                        )
            connection.executemany("DELETE FROM trials WHERE trial_id = ?", [(t,) for t in doomed])
    finally:
        connection.close()
    return rewound


def _study_id(connection: sqlite3.Connection, name: str | None, database: Path) -> tuple[int, str]:
    rows = connection.execute("SELECT study_id, study_name FROM studies").fetchall()
    matches = [row for row in rows if name is None or row[1] == name]
    if len(matches) == 1:
        return int(matches[0][0]), str(matches[0][1])
    names = ", ".join(repr(row[1]) for row in rows[:10]) or "none"
    wanted = "a study_name" if name is None else f"study {name!r}"
    raise ValueError(
        f"create_study_starting_from_trial: {database.name} has no single {wanted} to rewind "
        f"(its studies: {names}); pass study_name= one of them"
    )


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _rewind_samplers(
    root: Path, trial_id: int, study_args: StudyArgs, commit: Callable[[], None]
) -> None:
    """Set aside the checkpoints of trials ``trial_id`` and later, run ``commit``, then delete
    them (or put them back if ``commit`` failed); the newest one left goes to ``study_args``."""
    found = sampler_checkpoints(root)
    before = [n for n in found if n < trial_id]
    restored = restore_sampler(root, max(before)) if before else None
    later = [path for n, path in found.items() if n >= trial_id]
    aside = Path(tempfile.mkdtemp(prefix=".discarded-", dir=root)) if later else None
    moved: list[Path] = []
    try:
        for path in later:
            assert aside is not None
            path.rename(aside / path.name)
            moved.append(path)
        commit()
    except BaseException:
        for path in moved:
            assert aside is not None
            (aside / path.name).rename(path)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    if restored is not None:
        _replace_sampler(study_args, restored)
