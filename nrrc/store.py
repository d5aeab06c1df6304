"""A centre's durable delivery state: outbox, idempotent inbox and a little key/value state.

One SQLite file per centre, in WAL mode with ``synchronous=FULL``: every committed transaction
has been forced to disk before :meth:`Store.transaction` returns, so a node killed at any
instant restarts with everything it had acknowledged.

* **Outbox** — every envelope the centre sent, kept until every recipient has acknowledged it
  with a signed application acknowledgement (MQTT's own PUBACK only proves the broker took it:
  a publish refused by an ACL looks the same under MQTT 3.1.1). Unacknowledged entries are
  published again after a reconnect or a timeout.
* **Inbox** — every accepted envelope keyed on ``(sender, message id)``: a second copy (a broker
  redelivery, a resend after a lost acknowledgement, or a replay) is recognised and never
  applied twice. ``processed`` says whether the centre has consumed it; after a crash the
  unprocessed entries are handed to the centre again.
* **State** — small named blobs (e.g. the centre's counters), written in the same
  transactions as the messages they depend on.

Instants are stored as ISO 8601 text in UTC; the store never reads the clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nrrc.errors import NrrcError
from nrrc.timeutil import to_utc

__all__ = ["InboxEntry", "OutboxEntry", "Store", "StoreError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT NOT NULL UNIQUE,
    recipient    TEXT NOT NULL,
    topic        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    envelope     BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_sent_at TEXT,
    awaiting     TEXT NOT NULL,
    done_at      TEXT,
    logged       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (done_at, position);
CREATE TABLE IF NOT EXISTS inbox (
    sender      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    envelope    BLOB NOT NULL,
    processed   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sender, message_id)
);
CREATE INDEX IF NOT EXISTS inbox_open ON inbox (processed, received_at);
CREATE TABLE IF NOT EXISTS state (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


class StoreError(NrrcError):
    """The store file cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An envelope sent and not yet acknowledged by everyone it was sent to.

    Attributes:
        message_id: the statement's id.
        recipient: a centre id or a regime id.
        topic: the MQTT topic it is published on.
        kind: the statement's kind.
        envelope: the exact envelope bytes.
        created_at: when the centre sent it (the centre's time).
        attempts: how many times it was handed to the broker.
        last_sent_at: when it was last handed to the broker (None: never).
        awaiting: centres whose acknowledgement is still missing.
        logged: whether its ``sent`` record is in the message log.
    """

    message_id: str
    recipient: str
    topic: str
    kind: str
    envelope: bytes
    created_at: datetime
    attempts: int
    last_sent_at: datetime | None
    awaiting: frozenset[str]
    logged: bool


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An accepted envelope.

    Attributes:
        sender: the sending centre.
        message_id: the statement's id.
        kind: the statement's kind.
        received_at: when this centre received it (its own time).
        envelope: the exact envelope bytes.
        processed: whether the centre has consumed it.
    """

    sender: str
    message_id: str
    kind: str
    received_at: datetime
    envelope: bytes
    processed: bool


def _iso(at: datetime) -> str:
    return to_utc(at).isoformat()


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Store:
    """The durable outbox, inbox and state of one centre.

    Args:
        path: the SQLite file (created with its directory when missing).
        synchronous: SQLite's ``synchronous`` level; ``FULL`` (the default) forces each commit
            to disk. ``OFF`` is only for benchmarks that measure the cost of durability.

    Raises:
        StoreError: the file cannot be opened or is not a store.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if synchronous not in {"FULL", "NORMAL", "OFF", "EXTRA"}:
            raise StoreError(
                f"synchronous: expected FULL, NORMAL, OFF or EXTRA, found {synchronous!r}"
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
        """Checkpoint the WAL and close the file."""
        with suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        message_id: str,
        recipient: str,
        topic: str,
        kind: str,
        envelope: bytes,
        created_at: datetime,
        awaiting: Iterable[str],
    ) -> bool:
        """Put a sent envelope in the outbox; False when it was already there."""
        waiting = " ".join(sorted(set(awaiting)))
        with self.transaction():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (message_id, recipient, topic, kind, envelope, "
                "created_at, awaiting, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    recipient,
                    topic,
                    kind,
                    envelope,
                    _iso(created_at),
                    waiting,
                    None if waiting else _iso(created_at),
                ),
            )
        return cur.rowcount == 1

    def pending(self, limit: int | None = None) -> list[OutboxEntry]:
        """Entries still awaiting an acknowledgement, oldest first."""
        sql = "SELECT * FROM outbox WHERE done_at IS NULL ORDER BY position"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._outbox_entry(row) for row in self._db.execute(sql)]

    def outbox_entry(self, message_id: str) -> OutboxEntry | None:
        """The outbox entry of ``message_id`` (acknowledged or not), or None."""
        row = self._db.execute(
            "SELECT * FROM outbox WHERE message_id = ?", (message_id,)
        ).fetchone()
        return None if row is None else self._outbox_entry(row)

    def mark_published(self, message_ids: Iterable[str], at: datetime) -> None:
        """Record that these entries were handed to the broker (again) at ``at``."""
        with self.transaction():
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_sent_at = ? WHERE message_id = ?",
                [(_iso(at), m) for m in message_ids],
            )

    def mark_logged(self, message_id: str) -> None:
        """Record that the ``sent`` record of ``message_id`` is in the message log."""
        with self.transaction():
            self._db.execute("UPDATE outbox SET logged = 1 WHERE message_id = ?", (message_id,))

    def acknowledged(self, message_id: str, by: str, at: datetime) -> bool | None:
        """Record ``by``'s acknowledgement of ``message_id``.

        Returns:
            None when the message is not in the outbox (or ``by`` was not awaited), False when
            other acknowledgements are still missing, True when this was the last one.
        """
        with self.transaction():
            row = self._db.execute(
                "SELECT awaiting, done_at FROM outbox WHERE message_id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return None
            waiting = set(row[0].split())
            if by not in waiting:
                return None
            waiting.discard(by)
            done = None if waiting else _iso(at)
            self._db.execute(
                "UPDATE outbox SET awaiting = ?, done_at = ? WHERE message_id = ?",
                (" ".join(sorted(waiting)), done, message_id),
            )
        return not waiting

    def unlogged_sent(self) -> list[OutboxEntry]:
        """Outbox entries whose ``sent`` record may be missing from the log (after a crash)."""
        rows = self._db.execute("SELECT * FROM outbox WHERE logged = 0 ORDER BY position")
        return [self._outbox_entry(row) for row in rows]

    def outbox_counts(self) -> tuple[int, int]:
        """``(pending, acknowledged)`` entry counts."""
        row = self._db.execute(
            "SELECT SUM(done_at IS NULL), SUM(done_at IS NOT NULL) FROM outbox"
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    @staticmethod
    def _outbox_entry(row: tuple[object, ...]) -> OutboxEntry:
        (_, mid, recipient, topic, kind, envelope, created, attempts, last, waiting, _, logged) = (
            row
        )
        return OutboxEntry(
            message_id=str(mid),
            recipient=str(recipient),
            topic=str(topic),
            kind=str(kind),
            envelope=bytes(envelope),  # type: ignore[call-overload]
            created_at=datetime.fromisoformat(str(created)),
            attempts=int(attempts),  # type: ignore[call-overload]
            last_sent_at=_instant(last),  # type: ignore[arg-type]
            awaiting=frozenset(str(waiting).split()),
            logged=bool(logged),
        )

    # -- inbox ----------------------------------------------------------------------------

    def accept(
        self, *, sender: str, message_id: str, kind: str, envelope: bytes, received_at: datetime
    ) -> bool:
        """Record an accepted envelope; False when ``(sender, message_id)`` was already there."""
        with self.transaction():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO inbox (sender, message_id, kind, received_at, envelope) "
                "VALUES (?, ?, ?, ?, ?)",
                (sender, message_id, kind, _iso(received_at), envelope),
            )
        return cur.rowcount == 1

    def inbox_entry(self, sender: str, message_id: str) -> InboxEntry | None:
        """The inbox entry of ``(sender, message_id)``, or None."""
        row = self._db.execute(
            "SELECT * FROM inbox WHERE sender = ? AND message_id = ?", (sender, message_id)
        ).fetchone()
        return None if row is None else self._inbox_entry(row)

    def unprocessed(self) -> list[InboxEntry]:
        """Accepted envelopes the centre has not consumed yet, in order of receipt."""
        rows = self._db.execute(
            "SELECT * FROM inbox WHERE processed = 0 ORDER BY received_at, rowid"
        )
        return [self._inbox_entry(row) for row in rows]

    def mark_processed(self, sender: str, message_id: str) -> None:
        """Record that the centre consumed ``(sender, message_id)``."""
        with self.transaction():
            self._db.execute(
                "UPDATE inbox SET processed = 1 WHERE sender = ? AND message_id = ?",
                (sender, message_id),
            )

    def inbox_count(self) -> int:
        """Number of accepted envelopes."""
        return int(self._db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])

    @staticmethod
    def _inbox_entry(row: tuple[object, ...]) -> InboxEntry:
        sender, mid, kind, received, envelope, processed = row
        return InboxEntry(
            sender=str(sender),
            message_id=str(mid),
            kind=str(kind),
            received_at=datetime.fromisoformat(str(received)),
            envelope=bytes(envelope),  # type: ignore[call-overload]
            processed=bool(processed),
        )

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
