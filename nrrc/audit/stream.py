"""Stream each log's records, verified, and merge the streams in time order.

Each log is read by :func:`nrrc.verify.scan_log` (hash chain, numbering, checkpoints, envelopes)
in constant memory, through :mod:`nrrc.audit.fastscan` which reads clean logs faster and hands
over to ``scan_log`` at the first doubt. Envelopes are opened through a cache keyed by their
exact bytes, so a message in the sender's and the recipient's log is decoded and verified once.
Signatures are checked in-process (``jobs=1``) or by a pool of worker processes (``jobs>1``):
the main process decodes and sends envelopes in batches, keeps a bounded look-ahead per log
while their verdicts come back, and yields records in file order. :func:`merge_batches` then
interleaves the logs by instant (each log is in its owner's time order), so the audit sees every
record once, in time order.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import itertools
import math
import multiprocessing
import operator
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nrrc.audit import fastscan
from nrrc.audit.sources import LogSource
from nrrc.envelope import PAYLOAD_TYPE, Opened, Verifier, pae
from nrrc.errors import BadSignature, EnvelopeError
from nrrc.exactforms import may_hold_lax_date_time
from nrrc.keys import Keyring
from nrrc.messages import MessageTypes
from nrrc.msglog import (
    GENESIS,
    LOG_FORMAT,
    Checkpoint,
    Header,
    decode_line,
)
from nrrc.timeutil import format_delta, format_instant, to_utc
from nrrc.verify import LogEntry, LogProblem, scan_log

__all__ = [
    "EnvelopeCache",
    "Record",
    "SignaturePool",
    "StreamStats",
    "log_batches",
    "merge_batches",
]

_TAIL = 96
"""Characters at the end of an envelope's text that key the fast reader's cache (they hold
its signature)."""
CACHE_SIZE = 8192
"""Envelopes remembered by their bytes (a message's copies in two logs are near in time)."""
BATCH = 1024
"""Envelopes per batch sent to a verification worker."""
LOOKAHEAD = 4096
"""Records read ahead of the audit per log while signatures are checked elsewhere."""

_OK, _BAD, _UNCHECKED = 1, 2, 0
_CHAIN = frozenset({"deleted", "inserted", "reordered", "edited"})
_NONE: list[LogProblem] = []
"""verify problems that break the chain at a line: records there are not trusted."""


class Record(msgspec.Struct, eq=False):
    """One sent, received or rejected record, with its envelope opened (or refused).

    A msgspec Struct (built in C: one per log line on the audit's hot path) compared by
    identity, like a plain object.
    """

    ts: float
    at: datetime
    file: int
    line: int
    owner: str
    direction: str
    opened: Opened | None
    error: EnvelopeError | None = None
    envelope: bytes | None = None
    """The envelope's bytes, kept only when it was refused (to name it in reports)."""


class StreamStats:
    """Counts kept while streaming (for the result's totals)."""

    def __init__(self) -> None:
        self.records = 0
        self.verified = 0


# -- signature verification in worker processes ---------------------------------------------

_worker_keys: dict[str, Ed25519PublicKey] = {}


def _init_worker(keys: list[tuple[str, bytes]]) -> None:
    _worker_keys.clear()
    for key_id, public in keys:
        _worker_keys[key_id] = Ed25519PublicKey.from_public_bytes(public)


_env_decoder = msgspec.json.Decoder()


class _Signature(msgspec.Struct, frozen=True):
    keyid: str
    sig: bytes


class _Envelope(msgspec.Struct, frozen=True):
    payloadType: str  # noqa: N815 - the DSSE field name
    payload: bytes
    signatures: list[_Signature]


_typed_env_decoder = msgspec.json.Decoder(_Envelope)


def _verdict(envelope: bytes) -> int:
    """1 the signature verifies, 2 it does not, 0 it cannot be checked (malformed, unknown key)."""
    try:
        # msgspec decodes the base64 fields in C and accepts no text the slower path refuses.
        typed = _typed_env_decoder.decode(envelope)
        key = _worker_keys.get(typed.signatures[0].keyid)
        if key is not None and typed.payloadType == PAYLOAD_TYPE and len(typed.signatures) == 1:
            sig = typed.signatures[0].sig
            if len(sig) != 64:
                return _BAD
            try:
                key.verify(sig, pae(PAYLOAD_TYPE, typed.payload))
            except InvalidSignature:
                return _BAD
            return _OK
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError, RecursionError):
        pass
    return _verdict_slow(envelope)


def _verdict_slow(envelope: bytes) -> int:
    try:
        env = _env_decoder.decode(envelope)
        payload = base64.b64decode(env["payload"], validate=True)
        sig_entry = env["signatures"][0]
        sig = base64.b64decode(sig_entry["sig"], validate=True)
        key = _worker_keys.get(sig_entry["keyid"])
    except (
        msgspec.DecodeError,
        binascii.Error,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        RecursionError,
    ):
        return _UNCHECKED
    if key is None or env.get("payloadType") != PAYLOAD_TYPE:
        return _UNCHECKED
    if len(sig) != 64:
        return _BAD
    try:
        key.verify(sig, pae(PAYLOAD_TYPE, payload))
    except InvalidSignature:
        return _BAD
    return _OK


def _verify_batch(envelopes: list[bytes]) -> bytes:
    return bytes(_verdict(e) for e in envelopes)


class _Batch:
    __slots__ = ("envelopes", "result", "verdicts")

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        self.result: AsyncResult[bytes] | None = None
        self.verdicts: bytes | None = None


class _Ticket:
    """A place in a batch; its verdict arrives when the batch comes back."""

    __slots__ = ("batch", "index", "pool")

    def __init__(self, pool: SignaturePool, batch: _Batch, index: int) -> None:
        self.pool = pool
        self.batch = batch
        self.index = index

    def ready(self) -> bool:
        b = self.batch
        return b.verdicts is not None or (b.result is not None and b.result.ready())

    def verdict(self) -> int:
        b = self.batch
        if b.verdicts is None:
            if b.result is None:
                self.pool.submit()
            assert b.result is not None
            b.verdicts = b.result.get()
            b.envelopes = []
        return b.verdicts[self.index]


class SignaturePool:
    """Worker processes that check Ed25519 signatures of envelopes, in batches."""

    def __init__(self, keyring: Keyring, jobs: int) -> None:
        keys = [(e.key_id, e.public_key) for e in keyring]
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._pool: Pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(keys,))
        self._current = _Batch()

    def request(self, envelope: bytes) -> _Ticket:
        """Queue an envelope; its verdict comes with its batch."""
        batch = self._current
        batch.envelopes.append(envelope)
        ticket = _Ticket(self, batch, len(batch.envelopes) - 1)
        if len(batch.envelopes) >= BATCH:
            self.submit()
        return ticket

    def submit(self) -> None:
        """Send the current batch to the workers now."""
        batch = self._current
        if batch.envelopes:
            batch.result = self._pool.apply_async(_verify_batch, (batch.envelopes,))
            self._current = _Batch()

    def close(self) -> None:
        """Stop the workers."""
        self._pool.terminate()
        self._pool.join()


# -- opening envelopes once -------------------------------------------------------------------


class _Opening:
    """What opening one envelope's bytes gave."""

    __slots__ = ("error", "opened", "text", "ticket")

    def __init__(
        self, opened: Opened | None, error: EnvelopeError | None, ticket: _Ticket | None
    ) -> None:
        self.opened = opened
        self.error = error
        self.ticket = ticket
        self.text: str | None = None
        """The envelope's text in the log line, when the fast reader remembers it by text."""


def _keep(cache: OrderedDict[Any, _Opening], key: Any, opening: _Opening) -> None:
    """Remember ``opening`` under ``key``, forgetting the oldest beyond ``CACHE_SIZE``."""
    cache[key] = opening
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


class EnvelopeCache:
    """Openings remembered by the envelope's exact bytes, and by the envelope's text as it
    stands in a log line (two copies of one message in two logs are usually the same text, so
    the fast reader finds the second without encoding it; keyed by the text's last characters
    and confirmed by the whole text); each evicts its oldest first."""

    __slots__ = ("by_bytes", "by_text")

    def __init__(self) -> None:
        self.by_bytes: OrderedDict[bytes, _Opening] = OrderedDict()
        self.by_text: OrderedDict[str, _Opening] = OrderedDict()


class _CachingVerifier(Verifier):
    """``Verifier.open`` remembered by envelope bytes; with a pool, signatures are left to it.

    :func:`scan_log` calls :meth:`open` once per sent/received record just before it yields the
    record, so :attr:`last` is what opening that record gave.
    """

    def __init__(
        self,
        keyring: Keyring,
        types: MessageTypes,
        cache: EnvelopeCache,
        pool: SignaturePool | None,
    ) -> None:
        super().__init__(keyring, types)
        self.cache = cache.by_bytes
        self.by_text = cache.by_text
        self.pool = pool
        self.last: _Opening | None = None

    def opening(self, envelope: bytes, check_signature: bool) -> _Opening:
        """Open ``envelope`` without looking in or filling the bytes cache (the fast reader
        keeps its own by text); a refusal is returned, not raised."""
        inline = check_signature and self.pool is None
        try:
            opened: Opened | None = super().open(envelope, check_signature=inline)
            error = None
        except EnvelopeError as exc:
            opened, error = None, exc
        ticket = self.pool.request(envelope) if check_signature and self.pool else None
        return _Opening(opened, error, ticket)

    def open(self, envelope: bytes, *, check_signature: bool = True) -> Opened:
        found = self.cache.get(envelope)
        if found is None:
            found = self.opening(envelope, check_signature)
            _keep(self.cache, envelope, found)
        self.last = found
        if found.error is not None:
            raise found.error.with_traceback(None)
        assert found.opened is not None
        return found.opened


def _bad_signature(verifier: Verifier, envelope: bytes) -> BadSignature:
    try:
        key_id = _env_decoder.decode(envelope)["signatures"][0]["keyid"]
    except (msgspec.DecodeError, KeyError, IndexError, TypeError, RecursionError):
        key_id = "?"
    entry = verifier.keyring.get(key_id)
    owner = entry.centre if entry else "?"
    return BadSignature(f"the signature does not verify with key {key_id} of {owner}")


# -- one log's records ------------------------------------------------------------------------


Item = tuple[float, int, int, Record]


class _Fast:
    """Where the fast reader stopped: the record it holds back (with its verdict ticket), the
    last record line it read, the newest instant, and how the log ends."""

    __slots__ = ("checkpoint", "done", "held", "last_line", "last_ts")

    def __init__(self) -> None:
        self.held: tuple[Record, _Ticket | None] | None = None
        self.done = 0
        self.last_ts: float | None = None
        self.last_line = 1
        self.checkpoint = False


def _raw_envelope(rec: fastscan.LiteRecord) -> bytes:
    """:meth:`nrrc.msglog.MessageRecord.envelope_bytes` of a lite record."""
    if rec.envelope is not None:
        return rec.envelope.encode("utf-8", "surrogatepass")
    if rec.envelope_b64 is not None:
        return base64.b64decode(rec.envelope_b64)
    return b""


def _first_bad(recs: list[Any], hashes: list[str], prev_hash: str, expected: int) -> int:
    """Index of the first decoded line whose number or ``prev`` is not the expected one
    (``len(recs)`` when there is none)."""
    for i, rec in enumerate(recs):
        if rec.n != expected + i or rec.prev != (hashes[i - 1] if i else prev_hash):
            return i
    return len(recs)


_get_n = operator.attrgetter("n")
_get_opened = operator.attrgetter("opened")
_get_record = operator.itemgetter(3)
_get_prev = operator.attrgetter("prev")
_hexdigest = operator.methodcaller("hexdigest")


def _decode_block(data: list[bytes]) -> list[Any]:
    """The lines of a block decoded with the lite types, up to the first that does not decode."""
    decode = fastscan.decode_lite
    try:
        return list(map(decode, data))
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        pass
    out: list[Any] = []
    for line in data:
        try:
            out.append(decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            break
    return out


_get_at = operator.attrgetter("at")
_get_tzinfo = operator.attrgetter("tzinfo")
_get_text = operator.attrgetter("text")
_get_envelope = operator.attrgetter("envelope")
_get_statement = operator.attrgetter("statement")
_get_sender = operator.attrgetter("sender")
_get_recipient = operator.attrgetter("recipient")
_get_ticket = operator.attrgetter("ticket")
_timestamp = operator.methodcaller("timestamp")
_TAIL_SLICE = slice(-_TAIL, None)
_DIRECTION = ("received", "sent")
_NOT_FOUND = _Opening(None, None, None)
"""Stands for an envelope text not in the cache (its ``text`` is None, never a line's)."""


def _plain_block(
    recs: list[Any],
    start: int,
    rank: int,
    owner: str,
    last_ts: float,
    verifier: _CachingVerifier,
    check_signatures: bool,
) -> tuple[list[Item], list[_Ticket | None]] | None:
    """The items of a block of decoded, chained lines (and their tickets), built with loops
    that run in C, when every line is plainly clean: a sent or received record with its
    envelope as text, in UTC ("Z"), in time order from ``last_ts``, whose envelope opens, sent
    by the owner or received by the owner. Otherwise None, and the caller's loop goes through
    the block record by record and names the first line in doubt; this function only decides
    faster what that loop decides, and gives the same items when it decides.

    Envelopes new to the cache are opened (and remembered) one by one, in line order, as
    that loop does.
    """
    n = len(recs)
    kinds = list(map(type, recs))
    sent = list(map(operator.is_, kinds, itertools.repeat(fastscan.LiteSent)))
    if sent.count(True) + kinds.count(fastscan.LiteReceived) != n:
        return None
    ats = list(map(_get_at, recs))
    if not all(map(operator.is_, map(_get_tzinfo, ats), itertools.repeat(UTC))):
        return None
    tss = list(map(_timestamp, ats))
    if tss[0] < last_ts or any(map(operator.gt, tss, itertools.islice(tss, 1, None))):
        return None
    texts = list(map(_get_envelope, recs))
    if None in texts:
        return None
    by_text = verifier.by_text
    by_text_get = by_text.get
    tails: list[str] = list(map(operator.getitem, texts, itertools.repeat(_TAIL_SLICE)))
    found = list(map(by_text_get, tails, itertools.repeat(_NOT_FOUND)))
    for i in itertools.compress(range(n), map(operator.ne, map(_get_text, found), texts)):
        # Looked up again: an envelope twice in this block is opened once, as line by line.
        text, tail = texts[i], tails[i]
        opening = by_text_get(tail)
        if opening is None or opening.text != text:
            opening = verifier.opening(text.encode("utf-8", "surrogatepass"), check_signatures)
            if opening.error is not None:
                return None
            opening.text = text
            _keep(by_text, tail, opening)
        found[i] = opening
    openeds = list(map(_get_opened, found))
    if None in openeds:
        return None
    statements = list(map(_get_statement, openeds))
    mine = itertools.repeat(owner)
    if list(map(operator.eq, map(_get_sender, statements), mine)) != sent:
        return None
    if list(map(operator.ne, map(_get_recipient, statements), mine)) != sent:
        return None
    lines = range(start, start + n)
    ranks = itertools.repeat(rank)
    records = list(
        map(Record, tss, ats, ranks, lines, mine, map(_DIRECTION.__getitem__, sent), openeds)
    )
    tickets = list(map(_get_ticket, found)) if verifier.pool is not None else []
    return list(zip(tss, ranks, lines, records, strict=False)), tickets  # ranks: endless


def _fast(
    source: LogSource,
    rank: int,
    verifier: _CachingVerifier,
    check_signatures: bool,
    stats: StreamStats,
    state: _Fast,
) -> Iterator[tuple[list[Item], list[_Ticket | None]]]:
    """The records of a clean log as ``(ts, rank, line, record)`` items, straight from its
    lines, a block at a time, with their signatures' tickets when a pool checks them (else an
    empty list); raises :class:`fastscan.Doubt` at the first line that is not plainly clean
    (the caller hands over to ``scan_log``).

    Lines are decoded, hashed and checked for numbering and chain a block at a time (those
    loops run in C); records are then built one by one. A record is yielded only once the next
    line's ``prev`` has confirmed it (an edited line shows as a broken link on the line after
    it): the last one stays in ``state.held``.
    """
    blocks = fastscan.blocks(source.path)
    first = next(blocks, None)
    if first is None:
        raise fastscan.Doubt(1)
    try:
        header = decode_line(first[1][0])
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise fastscan.Doubt(1) from None
    if (
        not isinstance(header, Header)
        or header.n != 0
        or header.prev != GENESIS
        or header.format != LOG_FORMAT
    ):
        raise fastscan.Doubt(1)
    owner = header.owner
    sha = hashlib.sha256
    prev_hash = sha(first[1][0]).hexdigest()
    expected = 1
    by_text = verifier.by_text
    by_text_get = by_text.get
    open_envelope = verifier.opening
    pooled = verifier.pool is not None
    lite_sent, lite_received, lite_cp, header_type = (
        fastscan.LiteSent,
        fastscan.LiteReceived,
        fastscan.LiteCheckpoint,
        Header,
    )
    utc = UTC
    last_ts = -math.inf
    last_line = 1
    done = 0
    checkpoint = False
    held: Item | None = None
    held_ticket: _Ticket | None = None
    records = 0
    rest = [(2, first[1][1:])]
    out: list[Item] = []
    tickets: list[_Ticket | None] = []
    try:
        for start, data in itertools.chain(rest, blocks):
            if may_hold_lax_date_time(b"\n".join(data), quotes_json=True):
                # An instant written as RFC 3339 does not allow ('2026-03-02 08:15:00Z') may
                # be in this block: scan_log's typed decoder names it.
                raise fastscan.Doubt(start)
            recs = _decode_block(data)
            hashes = list(map(_hexdigest, map(sha, data[: len(recs)])))
            good = len(recs)
            if (
                list(map(_get_n, recs)) != list(range(expected, expected + good))
                or list(map(_get_prev, recs[1:])) != hashes[: good - 1]
                or (good and recs[0].prev != prev_hash)
            ):
                good = _first_bad(recs, hashes, prev_hash, expected)
            out = [held] if held is not None else []
            tickets = [held_ticket] if pooled and held is not None else []
            clean = recs[:good] if good < len(recs) else recs
            plain = (
                _plain_block(clean, start, rank, owner, last_ts, verifier, check_signatures)
                if clean
                else None
            )
            if plain is not None:
                out += plain[0]
                if pooled:
                    tickets += plain[1]
                records += good
                last_ts = plain[0][-1][0]
                last_line = done = start + good - 1
                checkpoint = False
                clean = []
            lineno = start - 1
            for rec in clean:
                lineno += 1
                kind = type(rec)
                if kind is header_type:
                    raise fastscan.Doubt(lineno)
                last_line = lineno
                if kind is lite_cp:
                    try:
                        # Every check of the typed decoder (the lite type has no patterns).
                        cp = decode_line(data[lineno - start])
                    except (msgspec.ValidationError, msgspec.DecodeError):
                        raise fastscan.Doubt(lineno) from None
                    assert isinstance(cp, Checkpoint)
                    if not fastscan.checkpoint_ok(cp, owner, verifier, check_signatures):
                        raise fastscan.Doubt(lineno)
                    checkpoint = True
                    continue
                checkpoint = False
                at = rec.at
                if at.tzinfo is not utc:
                    at = to_utc(at)
                ts = at.timestamp()
                if ts < last_ts:
                    raise fastscan.Doubt(lineno)
                if kind is lite_sent or kind is lite_received:
                    text = rec.envelope
                    # Remembered by the text's tail (the signature: hashing it is cheaper
                    # than hashing the whole text), confirmed by comparing the whole text.
                    tail = text[-_TAIL:] if text is not None else None
                    found = by_text_get(tail) if tail is not None else None
                    if found is None or found.text != text:
                        found = open_envelope(_raw_envelope(rec), check_signatures)
                        if found.error is not None:
                            raise fastscan.Doubt(lineno)
                        if tail is not None:
                            found.text = text
                            _keep(by_text, tail, found)
                    opened = found.opened
                    if opened is None:
                        raise fastscan.Doubt(lineno)
                    st = opened.statement
                    if kind is lite_sent:
                        if st.sender != owner:
                            raise fastscan.Doubt(lineno)
                        direction = "sent"
                    else:
                        recipient = st.recipient
                        if recipient != owner and not recipient.islower():
                            raise fastscan.Doubt(lineno)
                        direction = "received"
                    out.append(
                        (ts, rank, lineno, Record(ts, at, rank, lineno, owner, direction, opened))
                    )
                    if pooled:
                        tickets.append(found.ticket)
                else:
                    record = Record(ts, at, rank, lineno, owner, "rejected", None)
                    record.envelope = _raw_envelope(rec)
                    out.append((ts, rank, lineno, record))
                    if pooled:
                        tickets.append(None)
                records += 1
                last_ts = ts
                done = lineno
            held = out.pop() if out else None
            held_ticket = tickets.pop() if pooled and tickets else None
            if out:
                yield out, tickets
            out, tickets = [], []
            if good:
                prev_hash = hashes[good - 1]
                expected += good
            if good < len(data):
                raise fastscan.Doubt(start + good)
    except fastscan.Doubt:
        # The records before the doubtful line, but for the newest one (held back).
        held = out.pop() if out else held
        held_ticket = tickets.pop() if pooled and tickets else held_ticket
        if out:
            yield out, tickets
        raise
    finally:
        stats.records += records
        state.held = (held[3], held_ticket) if held is not None else None
        state.done = done
        state.last_line = last_line
        state.checkpoint = checkpoint
        state.last_ts = None if last_ts == -math.inf else last_ts


def log_batches(
    source: LogSource,
    rank: int,
    keyring: Keyring,
    types: MessageTypes,
    cache: EnvelopeCache,
    *,
    check_signatures: bool,
    pool: SignaturePool | None,
    on_problem: Callable[[LogProblem, Record | None], None],
    stats: StreamStats,
    until: datetime | None = None,
) -> Iterator[list[Item]]:
    """Yield ``(ts, rank, line, record)`` for each record of one log, in file order, in
    lists (a block of the file at a time on clean logs).

    Problems are passed to ``on_problem`` as they are found, with the record they belong to
    (for refused envelopes and records in the wrong log) or None (for lines that are not
    records). Records after ``until`` are checked for integrity but not yielded.
    """
    verifier = _CachingVerifier(keyring, types, cache, pool)
    limit = until.timestamp() if until is not None else None
    held: list[LogProblem] = []
    # (record, its problems, its signature's ticket, its merge key: the log's latest instant
    # so far, so that a record whose time runs backwards keeps its place in the log's order)
    ahead: deque[tuple[Record, list[LogProblem], _Ticket | None, float]] = deque()
    last_ts: float | None = None
    name = str(source.path)

    def finish(record: Record, problems: list[LogProblem], ticket: _Ticket | None) -> None:
        if ticket is not None and ticket.verdict() == _BAD:
            raw = record.opened.envelope if record.opened is not None else record.envelope
            record.envelope = raw
            record.error = _bad_signature(verifier, raw or b"")
            record.opened = None
            message = f"{record.direction} envelope refused: {record.error}"
            problems = [LogProblem(name, record.line, "bad-envelope", message)]
        if problems and record.opened is not None:
            # A record in the wrong log is not evidence of anything.
            record.envelope = record.opened.envelope
            record.opened = None
        if record.opened is not None:
            stats.verified += 1
        for p in problems:
            on_problem(p, record)

    chain: set[int] = set()

    def distrust(record: Record) -> None:
        # The chain breaks at this record: its content (instant included) is not attested.
        if record.opened is not None:
            record.envelope = record.opened.envelope
            record.opened = None

    def drain(force: bool) -> list[Item]:
        # Keep the newest record back: an edit shows only at the line after it.
        out: list[Item] = []
        while len(ahead) > (0 if force else 1):
            ticket = ahead[0][2]
            if not force and not (len(ahead) > LOOKAHEAD or ticket is None or ticket.ready()):
                break
            r, ps, t, key = ahead.popleft()
            finish(r, ps, t)
            if limit is None or r.ts <= limit:
                out.append((key, rank, r.line, r))
        return out

    items: Iterator[LogEntry | LogProblem]
    if fastscan.ENABLED:
        state = _Fast()
        try:
            if pool is None:
                for batch, _ in _fast(source, rank, verifier, check_signatures, stats, state):
                    stats.verified += len(batch) - list(
                        map(_get_opened, map(_get_record, batch))
                    ).count(None)
                    if limit is not None and batch[-1][0] > limit:
                        batch = [it for it in batch if it[0] <= limit]
                    if batch:
                        yield batch
            else:
                # Records wait here for their signatures' verdicts (a bad one is named by
                # finish(), as on the scan_log path).
                for batch, tickets in _fast(source, rank, verifier, check_signatures, stats, state):
                    for fast_item, ticket in zip(batch, tickets, strict=True):
                        ahead.append((fast_item[3], _NONE, ticket, fast_item[0]))
                    # Once per block: what is ready (and all but LOOKAHEAD records) goes on.
                    drained = drain(False)
                    if drained:
                        yield drained
        except fastscan.Doubt:
            # Hand over to scan_log: it names every problem from the doubtful line on. The
            # record held back may yet be distrusted by a break at the line after it.
            if state.held is not None:
                ahead.append((state.held[0], _NONE, state.held[1], state.held[0].ts))
            last_ts = state.last_ts
            done = state.done
            items = (
                it
                for it in scan_log(source.path, verifier, check_signatures=check_signatures)
                if not (isinstance(it, LogEntry) and it.line <= done)
            )
        else:
            if not state.checkpoint:
                on_problem(LogProblem(name, state.last_line, "truncated", fastscan.TRUNCATED), None)
            if state.held is not None:
                ahead.append((state.held[0], _NONE, state.held[1], state.held[0].ts))
            drained = drain(True)
            if drained:
                yield drained
            return
    else:
        items = scan_log(source.path, verifier, check_signatures=check_signatures)
    for item in items:
        if isinstance(item, LogProblem):
            if item.code in ("bad-envelope", "wrong-owner"):
                held.append(item)
                continue
            if item.code in _CHAIN:
                chain.add(item.line)
                if item.code == "edited":
                    chain.add(item.line - 1)
                if ahead and ahead[-1][0].line in chain:
                    distrust(ahead[-1][0])
            on_problem(item, None)
            continue
        entry: LogEntry = item
        rec = entry.record
        at = rec.at if rec.at.tzinfo is UTC else to_utc(rec.at)
        ts = at.timestamp()
        line = entry.line
        stats.records += 1
        direction = rec.direction
        opened = entry.opened
        ticket = None
        if pool is not None and direction != "rejected":
            opening = verifier.last
            ticket = opening.ticket if opening is not None else None
        record = Record(
            ts,
            at,
            rank,
            line,
            entry.owner,
            direction,
            opened,
            entry.error,
            rec.envelope_bytes() if opened is None else None,
        )
        if chain and line in chain:
            distrust(record)
        problems = _NONE
        if held:
            problems = [p for p in held if p.line == line]
            held = [p for p in held if p.line != line]
        if last_ts is not None and ts < last_ts:
            on_problem(
                LogProblem(
                    name,
                    line,
                    "time-backwards",
                    f"at {format_instant(at)} is {format_delta(last_ts - ts)} before the "
                    "previous record's at",
                ),
                None,
            )
        if last_ts is None or ts > last_ts:
            last_ts = ts
        if pool is None:
            # Keep the newest record back: an edit shows only at the line after it.
            if ahead:
                r, ps, _, key = ahead.popleft()
                finish(r, ps, None)
                if limit is None or r.ts <= limit:
                    yield [(key, rank, r.line, r)]
            ahead.append((record, problems, None, last_ts))
            continue
        ahead.append((record, problems, ticket, last_ts))
        drained = drain(False)
        if drained:
            yield drained
    for p in held:
        on_problem(p, None)
    drained = drain(True)
    if drained:
        yield drained


def merge_batches(streams: Iterable[Iterator[list[Any]]]) -> Iterator[list[Any]]:
    """Interleave streams of lists of ``(ts, rank, line, item)`` (each stream in order) into
    lists in time order: by instant, then rank, then line.

    Each round takes, from every stream's pending list, the items up to the smallest of their
    last items (no later item of any stream can come before it: (rank, line) is unique) and
    sorts them; the sort merges the runs in C.
    """
    live: list[tuple[Iterator[list[Any]], list[Any]]] = []
    for it in streams:
        for first in it:
            if first:
                live.append((it, first))
                break
    while live:
        if len(live) == 1:
            it, pending = live[0]
            yield pending
            for batch in it:
                if batch:
                    yield batch
            return
        bound = min(pending[-1] for _, pending in live)
        out: list[Any] = []
        refill: list[tuple[Iterator[list[Any]], list[Any]]] = []
        for it, pending in live:
            cut = bisect.bisect_right(pending, bound)
            out += pending[:cut] if cut < len(pending) else pending
            if cut < len(pending):
                refill.append((it, pending[cut:]))
                continue
            for batch in it:
                if batch:
                    refill.append((it, batch))
                    break
        out.sort()
        live = refill
        yield out
