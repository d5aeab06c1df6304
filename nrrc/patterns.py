"""JSON Schema patterns (ECMA-262 regular expressions) checked with Python's ``re``.

The published schemas say ``pattern``, which JSON Schema defines as an ECMA-262 regular
expression searched for in the string. Python's ``re`` reads the same text slightly differently;
:func:`python_pattern` gives the Python text that accepts exactly what the published one does,
and :func:`published_pattern` writes it back for schemas and error messages.
"""

from __future__ import annotations

import re

__all__ = ["ECMA_OF", "published_pattern", "python_pattern"]

ECMA_OF: dict[str, str] = {}
"""Python form of a pattern -> the pattern as published (for schemas and error messages)."""
_SHORTHAND = re.compile(r"\\[dDwWsSbB]")


def python_pattern(pattern: str) -> str:
    """The Python regular expression that accepts exactly what JSON Schema's ``pattern`` (an
    ECMA-262 regular expression, searched for) accepts, for the patterns nrrc uses.

    Two differences matter. In ECMA-262 ``$`` matches only at the end of the text; in Python it
    also matches before a final newline, so ``"US\\n"`` would pass ``^[A-Z]{2}$``: every ``$``
    outside a character class becomes ``\\Z``. And ``\\d``, ``\\w``, ``\\b`` are ASCII in
    ECMA-262 but Unicode in Python (``"٣"`` is a ``\\d``): a pattern using them is matched in
    ASCII mode.
    """
    out: list[str] = []
    i, klass = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if klass:
            klass = c != "]"
        elif c == "[":
            klass = True
        elif c == "$":
            c = "\\Z"
        out.append(c)
        i += 1
    found = "".join(out)
    if _SHORTHAND.search(pattern):
        found = "(?a)" + found
    ECMA_OF[found] = pattern
    return found


def published_pattern(text: str) -> str:
    """``text`` (a pattern, or a message naming patterns) with every pattern made by
    :func:`python_pattern` written back as published."""
    for python, ecma in ECMA_OF.items():
        # msgspec names a pattern by its repr() in messages
        for found, published in ((repr(python), repr(ecma)), (python, ecma)):
            if found in text:
                text = text.replace(found, published)
    return text
