"""Reason codes are a public contract: stable values, a kind each, documented."""

from __future__ import annotations

import re
from pathlib import Path

from helios.plugins._host.verdicts import Kind, Reason

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_every_reason_is_documented_under_its_kind() -> None:
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] in {"not applicable", "incompatible", "broken", "ok"}:
            rows[cells[0]] = set(re.findall(r"`([a-z-]+)`", cells[1]))
    documented = {code: kind for kind, codes in rows.items() for code in codes}
    expected = {r.value: r.kind.value.replace("-", " ") for r in Reason}
    assert documented == expected


def test_kinds_group_the_reasons() -> None:
    assert Reason.DEVICE_NO_GPU.kind is Kind.NOT_APPLICABLE
    assert Reason.CONFLICT.kind is Kind.INCOMPATIBLE
    assert Reason.IMPORT_FAILED.kind is Kind.BROKEN
    assert Reason.READY.kind is Kind.OK
    assert len({r.value for r in Reason}) == len(Reason)
