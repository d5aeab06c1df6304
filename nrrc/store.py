"""A live node's durable delivery state: outbox, idempotent inbox, and the centre's state.

One SQLite file per centre, in WAL mode with ``synchronous=FULL``: a transaction has been forced
to disk when :meth:`Store.transaction` returns, so a node killed at any instant (SIGKILL, power
loss) restarts with everything it had committed.

* **Inbox** — every envelope the broker delivered, keyed on ``(sender, message id)`` (the sender
  is the topic's, which the broker's ACL binds to credentials). The MQTT-level acknowledgement
  is sent only once the envelope is here (DESIGN.md, pitfall 1). A second copy (a broker
  redelivery, a resend after a lost acknowledgement, a replay) is never stored twice; whether it
  is applied is the centre's decision (it re-acknowledges identical copies and refuses the
  rest). ``processed`` turns true in the same transaction as the centre state that consumed it,
  so after a crash the unprocessed entries are handed to the centre again.
* **Outbox** — every transmission the centre decided on, written in the same transaction as the
  state that decided it, and published to the broker from here. An entry is done when the
  broker has acknowledged it (MQTT PUBACK). Proof of *delivery* is the recipient's signed
  acknowledgement, which the centre tracks and retransmits for (a publish refused by an ACL
  looks successful under MQTT 3.1.1).
* **State** — named blobs: the centre's snapshot and the journal of log records the last step
  produced (so that a crash between the commit and the message-log append loses nothing).

Instants are stored as ISO 8601 text in UTC; the store never reads the clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from nrrc.errors import NrrcError
from nrrc.timeutil import to_utc

__all__ = ["Accepted", "InboxEntry", "OutboxEntry", "Store", "StoreError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    sender      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    channel     TEXT NOT NULL,
    envelope    BLOB NOT NULL,
    received_at TEXT NOT NULL,
    processed   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sender, message_id)
);
CREATE INDEX IF NOT EXISTS inbox_open ON inbox (processed);
CREATE TABLE IF NOT EXISTS outbox (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    topic        TEXT NOT NULL,
    envelope     BLOB NOT NULL,
    attempt      INTEGER NOT NULL,
    queued_at    TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (published_at, position);
CREATE TABLE IF NOT EXISTS state (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""

_SYNC_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


class StoreError(NrrcError):
    """The store file cannot be opened or written."""


class Accepted(Enum):
    """What :meth:`Store.accept` did with an envelope."""

    NEW = "new"
    """First copy: stored, to be handed to the centre (durably, until processed)."""
    QUEUED = "queued"
    """An identical copy of an entry not processed yet: already waiting, drop this one."""
    SEEN = "seen"
    """Same key as a processed entry, or different bytes: hand it to the centre, which
    re-acknowledges an identical copy or refuses it as a replay; not stored."""


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An envelope received from the broker.

    Attributes:
        sender: the topic's sender (vouched for by the broker's ACL).
        message_id: the statement id it claims (or ``sha256:<hex>`` when unreadable).
        channel: the centre or regime it was published to.
        envelope: the exact bytes.
        received_at: when it arrived (the node's simulated time).
        processed: whether the centre has consumed it.
    """

    sender: str
    message_id: str
    channel: str
    envelope: bytes
    received_at: datetime
    processed: bool


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A transmission waiting for (or given) the broker's acknowledgement.

    Attributes:
        position: order of queueing (publishing follows it).
        message_id: the statement's id.
        kind: the statement's kind.
        recipient: a centre id or a regime id.
        topic: the MQTT topic.
        envelope: the exact bytes.
        attempt: the centre's transmission number (1 first, 2 and up retransmissions).
        queued_at: when the centre decided to send it.
        published_at: when the broker acknowledged it (None: not yet).
    """

    position: int
    message_id: str
    kind: str
    recipient: str
    topic: str
    envelope: bytes
    attempt: int
    queued_at: datetime
    published_at: datetime | None


def _iso(at: datetime) -> str:
    return to_utc(at).isoformat()


class Store:
    """The durable inbox, outbox and state of one centre.

    Args:
        path: the SQLite file (created with its directory when missing).
        synchronous: SQLite's ``synchronous`` level. ``FULL`` (the default) forces each commit
            to disk; ``OFF`` exists only for benchmarks that price durability.

    Raises:
        StoreError: the file cannot be opened or is not a store.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if synchronous not in _SYNC_LEVELS:
            raise StoreError(
                f"synchronous: expected one of {', '.join(_SYNC_LEVELS)}, found {synchronous!r}"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        self._depth = 0

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one durable commit (nestable: the outermost one commits)."""
        outer = self._depth == 0
        if outer:
            self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if outer:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if outer:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot commit: {exc}") from exc

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close it."""
        with suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    # -- inbox ----------------------------------------------------------------------------

    def accept(
        self,
        *,
        sender: str,
        message_id: str,
        channel: str,
        envelope: bytes,
        received_at: datetime,
    ) -> Accepted:
        """Record an envelope from the broker (see :class:`Accepted` for the outcomes)."""
        with self.transaction():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO inbox (sender, message_id, channel, envelope, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (sender, message_id, channel, envelope, _iso(received_at)),
            )
            if cur.rowcount == 1:
                return Accepted.NEW
            row = self._db.execute(
                "SELECT envelope, processed FROM inbox WHERE sender = ? AND message_id = ?",
                (sender, message_id),
            ).fetchone()
        if not row[1] and bytes(row[0]) == envelope:
            return Accepted.QUEUED
        return Accepted.SEEN

    def inbox_entry(self, sender: str, message_id: str) -> InboxEntry | None:
        """The inbox entry of ``(sender, message_id)``, or None."""
        row = self._db.execute(
            "SELECT sender, message_id, channel, envelope, received_at, processed FROM inbox "
            "WHERE sender = ? AND message_id = ?",
            (sender, message_id),
        ).fetchone()
        return None if row is None else _inbox_entry(row)

    def unprocessed(self) -> list[InboxEntry]:
        """Envelopes the centre has not consumed yet, in order of arrival."""
        rows = self._db.execute(
            "SELECT sender, message_id, channel, envelope, received_at, processed FROM inbox "
            "WHERE processed = 0 ORDER BY rowid"
        )
        return [_inbox_entry(row) for row in rows]

    def mark_processed(self, keys: Iterable[tuple[str, str]]) -> None:
        """Record that the centre consumed these ``(sender, message_id)`` entries."""
        with self.transaction():
            self._db.executemany(
                "UPDATE inbox SET processed = 1 WHERE sender = ? AND message_id = ?", list(keys)
            )

    def inbox_count(self) -> int:
        """Number of envelopes in the inbox."""
        return int(self._db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        message_id: str,
        kind: str,
        recipient: str,
        topic: str,
        envelope: bytes,
        attempt: int,
        queued_at: datetime,
    ) -> int:
        """Queue a transmission; returns its position."""
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO outbox (message_id, kind, recipient, topic, envelope, attempt, "
                "queued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, kind, recipient, topic, envelope, attempt, _iso(queued_at)),
            )
        return int(cur.lastrowid or 0)

    def unpublished(self, limit: int = 1000, after: int = 0) -> list[OutboxEntry]:
        """Transmissions the broker has not acknowledged, in order, from ``after`` on."""
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE published_at IS NULL AND position > ? "
            "ORDER BY position LIMIT ?",
            (after, int(limit)),
        )
        return [_outbox_entry(row) for row in rows]

    def mark_published(self, positions: Iterable[int], at: datetime) -> None:
        """Record the broker's acknowledgement of these transmissions."""
        with self.transaction():
            self._db.executemany(
                "UPDATE outbox SET published_at = ? WHERE position = ?",
                [(_iso(at), p) for p in positions],
            )

    def outbox_counts(self) -> tuple[int, int]:
        """``(waiting for the broker, published)`` transmission counts."""
        row = self._db.execute(
            "SELECT SUM(published_at IS NULL), SUM(published_at IS NOT NULL) FROM outbox"
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    # -- state ----------------------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        """The blob stored under ``key``, or None."""
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_state(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` (replacing any earlier value)."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _inbox_entry(row: tuple[object, ...]) -> InboxEntry:
    sender, mid, channel, envelope, received, processed = row
    return InboxEntry(
        sender=str(sender),
        message_id=str(mid),
        channel=str(channel),
        envelope=bytes(envelope),  # type: ignore[call-overload]
        received_at=datetime.fromisoformat(str(received)),
        processed=bool(processed),
    )


def _outbox_entry(row: tuple[object, ...]) -> OutboxEntry:
    position, mid, kind, recipient, topic, envelope, attempt, queued, published = row
    return OutboxEntry(
        position=int(position),  # type: ignore[call-overload]
        message_id=str(mid),
        kind=str(kind),
        recipient=str(recipient),
        topic=str(topic),
        envelope=bytes(envelope),  # type: ignore[call-overload]
        attempt=int(attempt),  # type: ignore[call-overload]
        queued_at=datetime.fromisoformat(str(queued)),
        published_at=None if published is None else datetime.fromisoformat(str(published)),
    )
