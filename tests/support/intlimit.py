"""Tests of versions too long to compare need Python's limit on int() digits (3.10.7+)."""

from __future__ import annotations

import sys

import pytest

#: How many digits ``int()`` converts here; 0 when there is no limit (before 3.10.7, or
#: ``PYTHONINTMAXSTRDIGITS=0``).
INT_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)()

#: Skips a test whose 5,001-digit version is comparable on this interpreter.
needs_int_limit = pytest.mark.skipif(
    not 0 < INT_DIGITS <= 5000,
    reason=f"int() converts {INT_DIGITS or 'any number of'} digits here: a 5,001-digit version "
    "can be compared (Python 3.10.7+ limits it to 4,300 by default)",
)
