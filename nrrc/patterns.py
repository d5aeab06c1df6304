"""JSON Schema patterns (ECMA-262 regular expressions) checked with Python's ``re``.

The published schemas say ``pattern``, which JSON Schema defines as an ECMA-262 regular
expression searched for in the string. Python's ``re`` reads the same text slightly differently;
:func:`python_pattern` gives the Python text that accepts exactly what the published one does,
and :func:`published_pattern` writes it back for schemas and error messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "ECMA_OF",
    "nested_dicts",
    "portable_pattern",
    "publish_patterns",
    "published_pattern",
    "python_pattern",
]

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
    found = _rewrite(pattern, lambda escape, klass: escape, lambda before: "\\Z")
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


_ASCII_CLASSES = {"d": "0-9", "w": "A-Za-z0-9_"}
_NOT_NEWLINE = "(?!\\n)"


def portable_pattern(pattern: str) -> str:
    """``pattern`` (ECMA-262) written so that validators which read patterns with Python's or
    PCRE's rules, such as the Python ``jsonschema`` library, accept exactly what ECMA-262
    accepts: every ``$`` outside a character class becomes ``(?!\\n)$`` (in ECMA-262 the
    same thing; elsewhere it stops ``$`` matching before a final newline), and ``\\d``,
    ``\\w`` become the ASCII classes they are in ECMA-262. Applying it twice changes nothing.
    """

    def escape(text: str, klass: bool) -> str:
        ascii_class = _ASCII_CLASSES.get(text[1:])
        if ascii_class is None:
            return text
        return ascii_class if klass else f"[{ascii_class}]"

    return _rewrite(
        pattern, escape, lambda before: "$" if before.endswith(_NOT_NEWLINE) else _NOT_NEWLINE + "$"
    )


def _rewrite(pattern: str, escape: Callable[[str, bool], str], dollar: Callable[[str], str]) -> str:
    """``pattern`` with each escape (``\\x``, and whether it stands in a character class)
    replaced by ``escape(text, in_class)`` and each ``$`` outside a class by
    ``dollar(text so far)``."""
    out: list[str] = []
    i, klass = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(escape(pattern[i : i + 2], klass))
            i += 2
            continue
        if klass:
            klass = c != "]"
        elif c == "[":
            klass = True
        elif c == "$":
            c = dollar("".join(out))
        out.append(c)
        i += 1
    return "".join(out)


def nested_dicts(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in ``node`` (a JSON document of dicts and lists), outermost first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nested_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from nested_dicts(value)


def publish_patterns(node: Any) -> None:
    """Write every ``pattern`` in a schema (nested dicts and lists) as published: the
    decoder's Python form is for the decoder; the published text is the pattern's ECMA-262
    form made portable (:func:`portable_pattern`)."""
    for d in nested_dicts(node):
        pattern = d.get("pattern")
        if isinstance(pattern, str):
            d["pattern"] = portable_pattern(ECMA_OF.get(pattern, pattern))
