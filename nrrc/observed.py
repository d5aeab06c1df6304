"""Observed-activity logs: what actually happened (the simulator's ground truth).

JSON Lines, ``nrrc-observed/1``. The first line is a header; every other line is an activity
(a launch, an exercise start, a military activity with troop numbers) or a fault the simulator
injected (a late notice, a lost message, a forged envelope), with the finding codes the audit is
expected to report for it::

    {"type":"header","format":"nrrc-observed/1","created":"2026-01-01T00:00:00Z","source":"p5"}
    {"type":"activity","id":"a-1","activity":"launch","party":"RU","at":"2026-03-02T06:10:00Z",
     "location":{"lat":62.9,"lon":40.6},"attributes":{"missile_class":"ICBM"}}
    {"type":"fault","id":"f-1","fault":"late-notice","party":"RU","at":"2026-03-01T02:00:00Z",
     "message_id":"…","detail":"sent 22 h before the planned launch date","expect":["BML001"]}

Observed logs are not signed: they are the analyst's (or the simulator's) statement of fact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec

from nrrc.errors import LogError
from nrrc.exactforms import ExactForms, may_hold_lax_date_time
from nrrc.messages import CENTRE_PATTERN, Point, invalid_utf8, published_pattern, python_pattern
from nrrc.msglog import read_lines
from nrrc.timeutil import to_utc

__all__ = [
    "OBSERVED_FORMAT",
    "Activity",
    "Fault",
    "ObservedHeader",
    "ObservedWriter",
    "decode_observed",
    "read_observed",
]

OBSERVED_FORMAT = "nrrc-observed/1"
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Centre = Annotated[str, msgspec.Meta(pattern=python_pattern(CENTRE_PATTERN))]


class ObservedHeader(
    msgspec.Struct, frozen=True, tag_field="type", tag="header", forbid_unknown_fields=True
):
    """First line of an observed-activity log."""

    format: str
    created: AwareDatetime
    source: str = ""


class Activity(
    msgspec.Struct,
    frozen=True,
    tag_field="type",
    tag="activity",
    forbid_unknown_fields=True,
    omit_defaults=True,
    kw_only=True,
):
    """Something a party did: ``activity`` names it (``launch``, ``exercise``, ...)."""

    id: str
    activity: str
    party: Centre
    at: AwareDatetime
    end_at: AwareDatetime | None = None
    location: Point | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """Attributes plus ``party``, ``at`` and ``activity``, for rule conditions."""
        return {
            **self.attributes,
            "party": self.party,
            "at": to_utc(self.at),
            "activity": self.activity,
        }


class Fault(
    msgspec.Struct,
    frozen=True,
    tag_field="type",
    tag="fault",
    forbid_unknown_fields=True,
    omit_defaults=True,
    kw_only=True,
):
    """A fault the simulator injected or caused, with the finding codes it should produce."""

    id: str
    fault: str
    party: Centre
    at: AwareDatetime
    message_id: str | None = None
    detail: str = ""
    expect: list[str] = msgspec.field(default_factory=list)


ObservedLine = ObservedHeader | Activity | Fault
_decoder: msgspec.json.Decoder[ObservedLine] = msgspec.json.Decoder(ObservedLine)
_exact_line = ExactForms(ObservedLine)
_encoder = msgspec.json.Encoder()


def decode_observed(data: bytes) -> ObservedLine:
    """Decode one line of an observed log; raises ``msgspec.ValidationError`` /
    ``DecodeError`` (invalid UTF-8 included) naming patterns as published."""
    try:
        line = _decoder.decode(data)
    except UnicodeDecodeError as exc:
        raise invalid_utf8(exc, data) from exc
    except msgspec.ValidationError as exc:
        raise msgspec.ValidationError(published_pattern(str(exc))) from None
    if may_hold_lax_date_time(data):  # RFC 3339 date-times only (nrrc.exactforms)
        _exact_line.check(data)
    return line


def read_observed(path: str | Path) -> Iterator[Activity | Fault]:
    """Stream the activities and faults of an observed log.

    Raises:
        LogError: naming the file, the line and what is wrong (first problem only).
    """
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise LogError(
            f"{path}: cannot open the observed-activity log: {exc.strerror or exc}"
        ) from exc
    with fh:
        first = True
        for raw in read_lines(fh):
            if not raw.data.strip():
                continue
            try:
                item = decode_observed(raw.data)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise LogError(
                    f"{path}:{raw.lineno}: expected an observed-activity record "
                    f"({OBSERVED_FORMAT}): {exc}"
                ) from exc
            if first:
                if not isinstance(item, ObservedHeader) or item.format != OBSERVED_FORMAT:
                    raise LogError(
                        f"{path}:{raw.lineno}: expected a {OBSERVED_FORMAT} header line first"
                    )
                first = False
                continue
            if isinstance(item, ObservedHeader):
                raise LogError(f"{path}:{raw.lineno}: a second header line")
            yield item
        if first:
            raise LogError(f"{path}: empty file: expected a {OBSERVED_FORMAT} header line")


class ObservedWriter:
    """Writes an observed-activity log (used by the simulator)."""

    def __init__(self, path: str | Path, *, created: datetime, source: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("wb")
        self._fh.write(
            _encoder.encode(ObservedHeader(OBSERVED_FORMAT, to_utc(created), source)) + b"\n"
        )

    def write(self, item: Activity | Fault) -> None:
        """Append one activity or fault."""
        self._fh.write(_encoder.encode(item) + b"\n")

    def close(self) -> None:
        """Flush and close."""
        self._fh.close()
