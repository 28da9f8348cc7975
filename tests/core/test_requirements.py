"""The fast path for plain PEP 508 strings agrees with packaging.requirements."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement as PackagingInvalid
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from helios.plugins._host.requirements import (
    InvalidRequirement,
    PackageRequirement,
    parse_plain,
    parse_requirement,
)
from support.intlimit import needs_int_limit

PIECES = st.sampled_from(
    ["optuna", "a", "A.b-c_d", "-x", "x-", "[", "]", "extra", ",", " ", ">=", "<", "==", "~=",
     "!=", "===", "1", "1.0", "2.*", "1.0+local", "rc1", ".", "(", ")", ";", "@", "*", "!", "_"]
)  # fmt: skip


@settings(max_examples=1500, deadline=None, database=None)
@given(st.lists(PIECES, max_size=8).map("".join))
def test_fast_path_agrees_with_packaging(text: str) -> None:
    try:
        expected = Requirement(text)
    except (PackagingInvalid, InvalidSpecifier):  # packaging <= 24 raises the latter for some
        expected = None
    plain = parse_plain(text)
    if plain is not None:
        assert expected is not None, f"fast path accepted {text!r}, packaging rejects it"
        assert (plain.name, plain.specifier, set(plain.extras)) == (
            expected.name,
            expected.specifier,
            expected.extras,
        )
        assert expected.marker is None
        assert expected.url is None
    if expected is None:
        with pytest.raises(InvalidRequirement):
            parse_requirement(text)
    else:
        assert parse_requirement(text).specifier == expected.specifier


def test_an_invalid_specifier_is_an_invalid_requirement() -> None:
    # packaging 22 (the floor) to 24 raise InvalidSpecifier for this text, newer ones
    # InvalidRequirement: either way the core says InvalidRequirement, in packaging's words
    with pytest.raises((PackagingInvalid, InvalidSpecifier)) as packaging_says:
        Requirement("optuna===,optuna")
    with pytest.raises(InvalidRequirement) as info:
        parse_requirement("optuna===,optuna")
    assert str(info.value) == str(packaging_says.value)


def test_plain_and_full_forms() -> None:
    assert parse_requirement("optuna>=4.0") == PackageRequirement("optuna", SpecifierSet(">=4.0"))
    full = parse_requirement("optuna [a,b] >= 4.0 ; python_version < '4'")
    assert full.extras == ("a", "b")
    assert full.marker == 'python_version < "4"'
    assert full.applies()
    assert str(full) == 'optuna[a,b]>=4.0; python_version < "4"'
    assert not parse_requirement("x; python_version < '3'").applies()
    # packaging's own complaint, word for word (its wording changes between packaging releases:
    # the dependency floors cell runs packaging 22.0)
    with pytest.raises(PackagingInvalid) as packaging_says:
        Requirement("optuna >= 4 junk")
    with pytest.raises(InvalidRequirement) as info:
        parse_requirement("optuna >= 4 junk")
    assert str(info.value) == str(packaging_says.value)


def test_a_marker_is_judged_by_its_own_versions_not_this_machines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kernel release like Ubuntu's ``-aws`` ones is no PEP 440 version: packaging 22 cannot
    compare it, and a valid manifest must not turn invalid on such a machine."""
    import platform

    monkeypatch.setattr(platform, "release", lambda: "6.18.44-fc-v857")
    monkeypatch.setattr(platform, "python_version", lambda: "3.11.7+local")
    req = parse_requirement("x; platform_release >= '5.4' and python_full_version >= '3.10'")
    assert (req.name, req.marker) == (
        "x",
        'platform_release >= "5.4" and python_full_version >= "3.10"',
    )


@needs_int_limit
def test_a_marker_version_too_long_to_compare_is_refused() -> None:
    with pytest.raises(InvalidRequirement, match="its marker names a version that cannot be"):
        parse_requirement(f"x; platform_release >= '{'1' * 5001}'")
