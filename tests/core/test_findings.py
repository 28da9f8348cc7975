"""One finding type: manifest issues, validate problems and verdicts carry the same fields."""

from __future__ import annotations

from helios.plugins._host.findings import Finding
from helios.plugins._host.verdicts import Reason, Verdict
from helios.plugins.errors import ManifestError, ManifestIssue


def test_a_manifest_issue_is_a_finding() -> None:
    issue = ManifestIssue("bad-id", "id", "expected a lowercase identifier", 2)
    assert issue == Finding("bad-id", "expected a lowercase identifier", key="id", line=2)
    assert str(ManifestError("m.toml", [issue])) == (
        "invalid plug-in manifest m.toml (1 problem(s)):\n"
        "  m.toml:2: [id] expected a lowercase identifier"
    )


def test_render_shows_the_fix_and_escapes() -> None:
    finding = Finding("c", "bad\x1b", file="f.py", key="k", line=3, fix="do this")
    assert finding.text == "bad\x1b; do this"
    assert finding.render() == "f.py:3: [k] bad\\x1b; do this"
    assert Finding("c", "m").render("elsewhere.toml") == "elsewhere.toml: m"
    assert Finding("c", "m").at("x.toml").file == "x.toml"
    assert Finding("c", "m", file="y.toml").at("x.toml").file == "y.toml"


def test_to_json_keeps_path_and_adds_the_rest() -> None:
    assert Finding(Reason.CONFLICT, "m", file="f", fix="x").to_json() == {
        "path": "f",
        "code": "conflict",
        "message": "m",
        "key": "",
        "line": None,
        "required": "",
        "found": "",
        "fix": "x",
    }


def test_a_verdict_is_identity_plus_finding() -> None:
    who = Verdict(id="x", distribution="helios-x", version="1.0", reason=Reason.READY)
    finding = Finding("conflict", "both claim it", required="one", found="two", fix="drop one")
    judged = who.judged(finding)
    assert (judged.reason, judged.message, judged.required, judged.found, judged.fix) == (
        Reason.CONFLICT,
        "both claim it",
        "one",
        "two",
        "drop one",
    )
    assert judged.finding == finding
    assert judged.judged(None) == who
