"""Regenerate the example envelopes and keyring in this directory, byte for byte.

Run from the repository root::

    .venv/bin/python messages/examples/generate.py

Everything is deterministic: keys come from fixed seeds (published here, so NEVER use them for
anything but examples), instants are fixed, message ids take their random bits from a hash of
the kind, and Ed25519 signatures are deterministic. A test regenerates the files in memory and
fails when they differ from the ones committed.

One envelope per message kind of the built-in catalogue (``<kind>.envelope.json``, the exact
envelope bytes followed by one newline that is not part of them), and ``keyring.json`` trusting
every example key. Replies (``core.ack``, ``core.cancellation`` and the response kinds of the
catalogue's response rules) carry ``in_reply_to`` naming the message they answer.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from nrrc.catalogue import Catalogue, FieldSpec, FieldType, Kind, Regime, RuleType, load_catalogue
from nrrc.envelope import Opened, compose
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes

HERE = Path(__file__).resolve().parent
SUFFIX = ".envelope.json"
KEYS_FROM = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MULTILATERAL_SENDER = {"hcoc": "FR"}
"""Who sends the examples of multilateral agreements (to the regime id); GB when not listed."""

# Hand-written payloads for the kinds a newcomer meets first; every other kind gets a payload
# derived from its field specifications by ``sample_payload``.
CIRCLE = {"shape": "circle", "center": {"lat": 65.0, "lon": 172.5}, "radius": 50, "unit": "km"}
PAYLOADS: dict[str, dict[str, Any]] = {
    "bmlna.launch_notice": {
        "missile_class": "ICBM",
        "planned_launch_date": date(2026, 3, 5),
        "launch_area": "Plesetsk test range",
        "impact_areas": [CIRCLE],
    },
    "core.free_text": {
        "subject": "Season's greetings",
        "text": "The watch officers of the centre send their best wishes for the new year.",
        "language": "en",
    },
    "core.cancellation": {"reason": "The launch has been postponed indefinitely."},
    "hcoc.prelaunch_notice": {
        "generic_class": "SLBM",
        "window_start": datetime(2026, 3, 10, 6, 0, tzinfo=UTC),
        "window_end": datetime(2026, 3, 12, 18, 0, tzinfo=UTC),
        "launch_area": "Biscarrosse (DGA Essais de missiles)",
        "planned_direction": 270.0,
    },
}


def seed(centre: str) -> bytes:
    """The fixed 32-byte seed of an example key (public on purpose: examples only)."""
    return hashlib.sha256(f"nrrc example key {centre}".encode()).digest()


def signer(centre: str) -> Signer:
    """The example key of ``centre``."""
    return Signer.from_seed(centre, seed(centre))


def _rand(kind: str) -> Callable[[int], bytes]:
    digest = hashlib.sha256(f"nrrc example id {kind}".encode()).digest()
    return lambda n: digest[:n]


_PATTERN_SAMPLES = ("US", "RU", "GB", "FR", "DE", "AT", "IN", "PK", "CN", "X1", "A")


def _sample_string(spec: FieldSpec) -> str:
    import re

    if spec.pattern:
        for text in _PATTERN_SAMPLES:
            if re.search(spec.pattern, text) and _length_ok(spec, text):
                return text
        raise SystemExit(
            f"{spec.name}: no sample string matches {spec.pattern!r}; "
            "add one to _PATTERN_SAMPLES or a hand-written payload to PAYLOADS"
        )
    text = f"Example {spec.name.replace('_', ' ')}"
    if spec.max_length is not None:
        text = text[: spec.max_length]
    if spec.min_length is not None and len(text) < spec.min_length:
        text = text.ljust(spec.min_length, ".")
    return text


def _length_ok(spec: FieldSpec, text: str) -> bool:
    return (spec.min_length is None or len(text) >= spec.min_length) and (
        spec.max_length is None or len(text) <= spec.max_length
    )


def _sample_number(spec: FieldSpec) -> float:
    lo, hi = spec.minimum, spec.maximum
    if lo is not None and hi is not None:
        return (lo + hi) / 2
    if lo is not None:
        return lo + 10
    if hi is not None:
        return hi - 10
    return 12.5


def sample_value(spec: FieldSpec) -> Any:
    """A plausible value of ``spec`` that satisfies its constraints."""
    t = spec.type
    if t is FieldType.STRING:
        return _sample_string(spec)
    if t is FieldType.INTEGER:
        lo = 0 if spec.minimum is None else int(spec.minimum)
        hi = lo + 1000 if spec.maximum is None else int(spec.maximum)
        return max(lo, min(hi, 2026 if "year" in spec.name else 12))
    if t is FieldType.NUMBER:
        return _sample_number(spec)
    if t is FieldType.BOOLEAN:
        return False
    if t is FieldType.DATE:
        return (START + timedelta(days=14)).date()
    if t is FieldType.DATETIME:
        return START + timedelta(days=14, hours=6)
    if t is FieldType.DURATION:
        return timedelta(hours=2)
    if t is FieldType.ENUM:
        return spec.values[0]
    if t is FieldType.AREA:
        return CIRCLE
    assert spec.items is not None
    return [sample_value(spec.items)] * max(1, spec.min_items or 1)


def sample_payload(kind: Kind) -> dict[str, Any]:
    """Every field of ``kind`` (optional ones too) with a value satisfying its constraints."""
    return {spec.name: sample_value(spec) for spec in kind.fields}


def _route(catalogue: Catalogue, kind: Kind) -> tuple[str, str]:
    """(sender, recipient) of the example of ``kind``."""
    agreement = catalogue.agreements[kind.agreement]
    if agreement.regime is Regime.MULTILATERAL:
        return MULTILATERAL_SENDER.get(agreement.id, "GB"), agreement.id
    if len(agreement.parties) >= 2:
        return agreement.parties[1], agreement.parties[0]
    return "US", "RU"


def _triggers(catalogue: Catalogue) -> dict[str, str]:
    """Response kind -> the trigger its example answers (first response rule by code)."""
    found: dict[str, str] = {"core.ack": "bmlna.launch_notice"}
    for rule in catalogue.active_rules():
        if rule.type is RuleType.RESPONSE and rule.response and rule.trigger:
            found.setdefault(rule.response, rule.trigger)
    return found


def build(catalogue: Catalogue) -> dict[str, bytes]:
    """File name -> exact content of every example file."""
    types = MessageTypes(catalogue)
    triggers = _triggers(catalogue)
    answers = {"core.cancellation": "bmlna.launch_notice"}
    # Originals first, then replies, each group in kind order, so references resolve.
    replies = set(triggers) | set(answers)
    order = sorted(k for k in catalogue.kinds if k not in replies) + sorted(replies)
    opened: dict[str, Opened] = {}
    seq: dict[str, int] = {}
    centres: set[str] = set()
    for i, kind_id in enumerate(order):
        kind = catalogue.kinds[kind_id]
        sent_at = START + timedelta(minutes=5 * i)
        sender, recipient = _route(catalogue, kind)
        reply_to = None
        payload = PAYLOADS.get(kind_id) or sample_payload(kind)
        if kind_id in triggers or kind_id in answers:
            original = opened[triggers.get(kind_id) or answers[kind_id]]
            reply_to = original.reply_ref()
            st = original.statement
            if kind_id in answers:  # the originator withdraws its own notice
                sender, recipient = st.sender, st.recipient
            else:  # the addressee answers the originator
                sender = st.recipient if st.recipient.isupper() else "DE"
                recipient = st.sender
            if kind_id == "core.ack":
                payload = {"received_at": st.sent_at + timedelta(seconds=3)}
            sent_at = st.sent_at + timedelta(minutes=12)  # answered promptly
        seq[sender] = seq.get(sender, 0) + 1
        centres.update({sender, recipient} - {r for r in {recipient} if r.islower()})
        opened[kind_id] = compose(
            types,
            signer(sender),
            kind_id,
            recipient=recipient,
            sent_at=sent_at,
            epoch=1,
            seq=seq[sender],
            payload=payload,
            in_reply_to=reply_to,
            rand=_rand(kind_id),
        )
    ring = Keyring(signer(c).entry(KEYS_FROM) for c in sorted(centres))
    files = {f"{k}{SUFFIX}": o.envelope + b"\n" for k, o in sorted(opened.items())}
    files["keyring.json"] = ring.to_json()
    return files


def main(argv: list[str]) -> int:
    """Write the files into ``argv[0]`` (default: this directory), removing stale examples."""
    out = Path(argv[0]) if argv else HERE
    files = build(load_catalogue())
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"*{SUFFIX}"):
        if stale.name not in files:
            stale.unlink()
    for name, data in files.items():
        (out / name).write_bytes(data)
    print(f"wrote {len(files)} files to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
