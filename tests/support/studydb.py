"""Read an Optuna study's SQLite file directly (sqlite3, read-only): what the demo stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def trials(database: Path) -> list[dict[str, Any]]:
    """The trials in a SQLite study (a file, or a run folder holding ``study.db``): number,
    state, start time, value and reported steps of each, by number."""
    if database.is_dir():
        database = database / "study.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute(
            "SELECT t.trial_id, t.number, t.state, t.datetime_start, v.value FROM trials t "
            "LEFT JOIN trial_values v ON v.trial_id = t.trial_id ORDER BY t.number"
        ).fetchall()
        steps = db.execute(
            "SELECT trial_id, step, intermediate_value FROM trial_intermediate_values"
        ).fetchall()
    return [
        {
            "number": number,
            "state": state,
            "start": start,
            "value": value,
            "steps": {int(s): v for t, s, v in sorted(steps) if t == trial_id},
        }
        for trial_id, number, state, start, value in rows
    ]
