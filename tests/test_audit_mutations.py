"""Bad input of any shape: a mutated sample log is a finding or a clear error, never a crash.

Random edits of the sample logs (a byte changed, a line cut, doubled, dropped, swapped or
replaced by other JSON, a field's value changed) go through the audit with and without the fast
reader and with and without signature checks. The audit either returns a result, which every
reporter can render, or raises ``NrrcError`` (one clear line and exit 2 on the command line).
Anything else would reach the user as a traceback. Two bugs were found this way (a non-UTF-8
byte in a header line; a chained checkpoint whose head is not lowercase hex).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nrrc.audit import AuditOptions, audit, fastscan, report_html, report_json
from nrrc.catalogue import Catalogue
from nrrc.errors import NrrcError
from nrrc.keys import Keyring

SAMPLE = Path(__file__).resolve().parent.parent / "messages" / "samples" / "us-ru-2026"

_JSON = [b"{}", b"[]", b"null", b'{"type":"sent"}', b"\xff\xfe", b'{"type":"header","n":0}']
_SWAPS = [
    (b'"n":', b'"n":-'),
    (b'Z"', b'+05:00"'),
    (b'"at":"2026', b'"at":"9999'),
    (b'"received"', b'"rejected"'),
    (b'"sent"', b'"received"'),
    (b'"envelope":', b'"envelope_b64":'),
    (b'"head":"', b'"head":"A'),
]

_edit = st.tuples(
    st.sampled_from(["byte", "cut", "double", "drop", "swap", "json", "field", "upper"]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 255),
)


def _apply(data: bytes, edit: tuple[str, int, int, int]) -> bytes:
    op, a, b, value = edit
    lines = data.split(b"\n")
    i, j = a % len(lines), b % len(lines)
    line = lines[i]
    if op == "byte" and line:
        lines[i] = line[: b % len(line)] + bytes([value]) + line[b % len(line) + 1 :]
    elif op == "cut":
        lines[i] = line[: b % (len(line) + 1)]
    elif op == "double":
        lines.insert(i, lines[j])
    elif op == "drop" and len(lines) > 1:
        del lines[i]
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "json":
        lines.insert(i, _JSON[value % len(_JSON)])
    elif op == "field":
        old, new = _SWAPS[value % len(_SWAPS)]
        lines[i] = line.replace(old, new, 1)
    elif op == "upper":
        lines[i] = line.upper()
    return b"\n".join(lines)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edits=st.lists(st.tuples(st.sampled_from(["US", "RU"]), _edit), min_size=1, max_size=3),
    fast=st.booleans(),
    verify=st.booleans(),
)
def test_a_mutated_log_is_a_finding_or_a_clear_error(
    edits: list[tuple[str, tuple[str, int, int, int]]],
    fast: bool,
    verify: bool,
    tmp_path_factory: pytest.TempPathFactory,
    cat: Catalogue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = tmp_path_factory.mktemp("mutated")
    shutil.copytree(SAMPLE, d, dirs_exist_ok=True)
    for owner, edit in edits:
        path = d / f"{owner}.log.jsonl"
        path.write_bytes(_apply(path.read_bytes(), edit))
    monkeypatch.setattr(fastscan, "ENABLED", fast)
    try:
        result = audit(
            [d],
            cat,
            Keyring.load(d / "keyring.json"),
            AuditOptions(jobs=1, verify_signatures=verify),
        )
    except NrrcError as exc:
        assert "\n" not in str(exc).strip()
        return
    report_json.render(result)
    report_html.render(result, catalogue=cat)
