"""Stable codes of the audit's own checks: integrity (``INT``) and reconciliation (``REC``).

Treaty rules come from the catalogue (``BML001`` ...). The checks here come from nrrc itself: they
decide which log lines can be trusted as evidence and whether the logs of different centres tell
the same story. Each has a stable code that is never reused, a name, the outcome it reports, and
docs in the same sections as a rule (what it checks, why, example), so ``nrrc rules show INT005``
works like ``nrrc rules show BML001``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nrrc.audit.findings import Outcome

__all__ = ["CHECKS", "INTEGRITY", "RECONCILIATION", "Check", "check_for", "problem_code"]

INTEGRITY = "integrity"
"""Pseudo-agreement id of the INT checks (usable in ``--select`` / ``--ignore``)."""
RECONCILIATION = "reconciliation"
"""Pseudo-agreement id of the REC checks."""


@dataclass(frozen=True, slots=True)
class Check:
    """One of the audit's own checks."""

    code: str
    name: str
    title: str
    group: str
    """``integrity`` or ``reconciliation``."""
    outcome: Outcome
    description: str
    rationale: str
    example: str
    reference: str
    """Where the checked property is specified (a module of nrrc, a design note)."""


def _c(
    code: str,
    name: str,
    title: str,
    outcome: Outcome,
    description: str,
    rationale: str,
    example: str,
    reference: str,
) -> Check:
    group = INTEGRITY if code.startswith("INT") else RECONCILIATION
    return Check(code, name, title, group, outcome, description, rationale, example, reference)


_V, _W = Outcome.VIOLATION, Outcome.WARNING
_LOG = "nrrc-log/1 format (nrrc.msglog)"
_ENV = "Signed envelopes (nrrc.envelope): DSSE with one Ed25519 signature"

CHECKS: dict[str, Check] = {
    c.code: c
    for c in (
        _c(
            "INT001",
            "log_chain_broken",
            "Log records deleted, inserted, reordered or edited",
            _V,
            "Each log line carries its number n and the SHA-256 of the line before it. A jump in "
            "the numbering, a repeated number, records out of order, or a broken hash chain is "
            "reported at the line where it shows (verify codes deleted, inserted, reordered, "
            "edited).",
            "A log whose history was changed cannot prove when anything was sent or received.",
            "RU.log:17: record n=15 is missing before this line (found n=16): a record was "
            "deleted.",
            _LOG,
        ),
        _c(
            "INT002",
            "log_not_closed",
            "Log not closed by a signed checkpoint, or its last line is torn",
            _W,
            "A closed log ends with a checkpoint signed by its owner. A log that does not end "
            "with one may still be being written, or lines after its end were cut off; a last "
            "line without a newline is an interrupted write and is not part of the log.",
            "Truncation is only detectable up to the last checkpoint. The audit still uses "
            "every record; the warning says the end of the log is not attested.",
            "US.log:812: the log does not end with a signed checkpoint.",
            _LOG,
        ),
        _c(
            "INT003",
            "bad_checkpoint",
            "Checkpoint count, head or signature is wrong",
            _V,
            "A checkpoint must cover exactly the lines before it (count and head hash) and be "
            "signed by a key the keyring gives to the log owner, valid at the checkpoint's time.",
            "A checkpoint that does not verify means the log was changed after it was closed.",
            "US.log:813: the checkpoint signature does not verify.",
            _LOG,
        ),
        _c(
            "INT004",
            "malformed_line",
            "A line that is not a log record",
            _V,
            "Every line after the header must be a header, sent, received, rejected or "
            "checkpoint record of nrrc-log/1. A line that is not (corrupt bytes, a hand edit, "
            "a line from another format) is reported with the decoder's reason.",
            "An unreadable line cannot be evidence, and may hide a record that was replaced.",
            "RU.log:9: expected a log record: Object missing required field `at`.",
            _LOG,
        ),
        _c(
            "INT005",
            "bad_signature",
            "Envelope signature does not verify",
            _V,
            "The Ed25519 signature of a sent or received envelope is checked over the exact "
            "bytes that travelled (DSSE pre-authentication encoding), with the key the keyring "
            "lists under the envelope's key id. Skipped with --no-verify.",
            "A message whose signature fails may have been forged or altered; it is never "
            "trusted as evidence of compliance.",
            "US.log:4: received envelope refused: bad-signature: the signature does not verify "
            "with key RU-d772bce31f20a71a of RU.",
            _ENV,
        ),
        _c(
            "INT006",
            "key_not_trusted",
            "Envelope key unknown, owned by another centre, or not valid when sent",
            _V,
            "The keyring is the only source of trust: the envelope's key id must be in it, be "
            "owned by the statement's sender, and be valid at the statement's sent_at. Records "
            "refused for the same unknown key in one log are reported once, with a count.",
            "A signature by a key nobody trusts proves nothing about who sent the message.",
            "RU.log:2: key id 'XX-0011223344556677' is not in the keyring (37 records).",
            _ENV,
        ),
        _c(
            "INT007",
            "malformed_envelope",
            "Envelope or statement header malformed",
            _V,
            "The envelope must be a DSSE JSON object with the nrrc payload type, exactly one "
            "signature and canonical base64; the statement must have a valid header (id, kind, "
            "sender, recipient, sent_at with a UTC offset, epoch, seq); no object of either may "
            "write a key twice.",
            "Bytes that do not parse cannot be attributed to anyone.",
            "US.log:5: received envelope refused: malformed: $.signatures: expected exactly one "
            "signature, found 2.",
            _ENV,
        ),
        _c(
            "INT008",
            "invalid_payload",
            "Payload not valid for its kind",
            _V,
            "The payload is decoded into the kind's type from the catalogue: required fields, "
            "types, ranges, lengths and enum values are enforced.",
            "A notice that does not say what its kind requires (a missing planned launch date) "
            "cannot be checked against its rule.",
            "US.log:6: invalid-payload: bmlna.launch_notice: Expected `str`, got `int` - at "
            "`$.payload.launch_area`.",
            "Typed statements (nrrc.messages) built from the agreement catalogue",
        ),
        _c(
            "INT009",
            "unknown_kind",
            "Message kind not in the catalogue",
            _V,
            "The statement's kind is not defined by any loaded agreement. Load the agreement "
            "that defines it with --agreements.",
            "A kind the audit does not know cannot be checked against any rule.",
            "US.log:7: unknown kind 'xx.secret_notice'.",
            "Typed statements (nrrc.messages) built from the agreement catalogue",
        ),
        _c(
            "INT010",
            "wrong_log",
            "Record in the wrong centre's log",
            _V,
            "A sent record must be sent by the log's owner; a received record must be "
            "addressed to the owner (or to a regime).",
            "A record in the wrong log was copied or forged; it cannot prove the owner's acts.",
            "US.log:8: a sent record from RU in the log of US.",
            _LOG,
        ),
        _c(
            "INT011",
            "reply_digest_mismatch",
            "Answer names the message it answers with the wrong digest",
            _V,
            "A response or acknowledgement names the message it answers by id and by the "
            "SHA-256 of that message's exact statement bytes (in_reply_to). A digest that does "
            "not match the statement in the logs means the answer is to a different version of "
            "the message; it does not count as an answer.",
            "An acknowledgement must prove receipt of exactly what was sent.",
            "core.ack 0190… names 0190… with digest 3f1c…, but that statement's SHA-256 is 9a0b….",
            "Typed statements (nrrc.messages): in_reply_to id and digest",
        ),
        _c(
            "INT012",
            "time_goes_backwards",
            "Record time earlier than the record before it in the same log",
            _W,
            "Each log is written in its owner's time order: the at of a record is not earlier "
            "than the at of the record before it.",
            "The audit merges logs in time order; a log whose clock jumped back makes its "
            "instants doubtful. Such a record keeps its place in its log's order when the logs "
            "are merged (whatever --jobs) and is measured at its own instant.",
            "US.log:40: at 2026-03-01 09:00:00 UTC is 2 h before the previous record's at.",
            _LOG,
        ),
        _c(
            "INT013",
            "unknown_centre",
            "Log of a centre the keyring does not know",
            _V,
            "The log's owner (its header) has no key in the keyring: its checkpoints and the "
            "envelopes it sent cannot be verified.",
            "Trust comes only from the keyring; pass the keyring that lists this centre.",
            "XX.log:1: the keyring has no key of centre XX.",
            "Keyring (nrrc.keys): the only source of trust",
        ),
        _c(
            "REC001",
            "not_received",
            "Sent but never received by the recipient",
            _V,
            "A message in the sender's sent log, addressed to a centre (or to a regime with a "
            "central contact) whose log is among the inputs, has no received record there. "
            "When the message was sent within the clock-skew tolerance of the end of the "
            "recipient's log, the outcome is open instead.",
            "Delivery is at-least-once with application acknowledgements: a message that never "
            "arrived means the transport, the retransmission or one of the logs failed.",
            "RU sent 0190… at 2026-03-01 09:30:00 UTC; US's log has no receipt of it.",
            "DESIGN.md, Delivery: nothing lost, nothing applied twice",
        ),
        _c(
            "REC002",
            "not_in_sender_log",
            "Received but absent from the sender's log",
            _V,
            "A received message whose sender's log is among the inputs (and covers the "
            "message's sent_at) has no sent record there.",
            "Either the sender's log lost a record or the message was injected with the "
            "sender's key.",
            "US received 0190… from RU at 2026-03-01 09:30:04 UTC; RU's log has no sent record.",
            "DESIGN.md, Delivery",
        ),
        _c(
            "REC003",
            "received_before_sent",
            "Received before it was sent, beyond the clock-skew tolerance",
            _V,
            "The receipt instant is earlier than the statement's sent_at by more than the "
            "clock-skew tolerance (--skew, default 5 min).",
            "One of the two clocks is wrong, so timing evidence between these centres is "
            "unreliable.",
            "US received 0190… at 09:20:00 UTC, 10 min before RU sent it at 09:30:00 UTC.",
            "DESIGN.md, Time",
        ),
        _c(
            "REC004",
            "duplicate_receipt",
            "Same message accepted twice",
            _V,
            "The same message id appears in two received records of one log (within the last "
            "4096 sequence numbers of its sender and epoch).",
            "The inbox must be idempotent on (sender, message id): a message applied twice is "
            "a replay that was not caught.",
            "US.log:12 and US.log:19 both received 0190… from RU.",
            "DESIGN.md, Delivery",
        ),
        _c(
            "REC005",
            "sequence_reused",
            "Sequence number reused with a different message id",
            _V,
            "Two different messages carry the same (sender, epoch, seq), in the sender's sent "
            "log or in one received log (within the last 4096 sequence numbers).",
            "Sequence numbers make replays and losses visible; reusing one hides either.",
            "RU epoch 1 seq 7 is message 0190…a in RU.log:9 and message 0190…b in RU.log:14.",
            "Typed statements (nrrc.messages): epoch and seq",
        ),
        _c(
            "REC006",
            "sequence_gap",
            "Gap in the sender's sequence numbers",
            _W,
            "In a sender's own sent log the sequence numbers of each epoch run 1, 2, 3 ... "
            "without a gap (a retransmission repeats a number with the same message id).",
            "A gap means sent records are missing from the log, or the sender skipped numbers "
            "without starting a new epoch.",
            "RU.log:30: epoch 1 jumps from seq 11 to seq 14: seq 12-13 are missing.",
            "Typed statements (nrrc.messages): epoch and seq",
        ),
        _c(
            "REC007",
            "statement_mismatch",
            "One message id, two different statements",
            _V,
            "The sent and the received copy of a message (same id) carry different statement "
            "bytes, each validly signed.",
            "The sender signed two versions of one message; which one the recipient saw is in "
            "dispute.",
            "0190… in RU.log:9 and US.log:12 differ (SHA-256 3f1c… vs 9a0b…).",
            "Signed envelopes (nrrc.envelope)",
        ),
    )
}

# verify.scan_log problem codes -> INT code
_PROBLEM_CODES = {
    "deleted": "INT001",
    "inserted": "INT001",
    "reordered": "INT001",
    "edited": "INT001",
    "truncated": "INT002",
    "torn": "INT002",
    "bad-checkpoint": "INT003",
    "malformed-line": "INT004",
    "wrong-owner": "INT010",
    "time-backwards": "INT012",
}
# EnvelopeError.reason -> INT code
_REASON_CODES = {
    "bad-signature": "INT005",
    "unknown-key": "INT006",
    "key-not-owned": "INT006",
    "key-not-valid": "INT006",
    "malformed": "INT007",
    "invalid-payload": "INT008",
}


def problem_code(problem: str, reason: str | None = None) -> str:
    """The INT code of a verify problem code, or of an envelope refusal reason."""
    if reason is not None:
        return _REASON_CODES.get(reason, "INT007")
    return _PROBLEM_CODES.get(problem, "INT004")


def check_for(code: str) -> Check | None:
    """The check with this code (case-insensitive) or name, or None."""
    found = CHECKS.get(code.upper())
    if found is not None:
        return found
    for c in CHECKS.values():
        if c.name == code.lower():
            return c
    return None
