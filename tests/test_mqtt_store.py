"""The durable store: outbox until acknowledged, idempotent inbox, survives reopening."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nrrc.store import Store, StoreError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ID1 = "0195a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
ID2 = "0195a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c"


def _enqueue(store: Store, message_id: str = ID1, awaiting: tuple[str, ...] = ("US",)) -> bool:
    return store.enqueue(
        message_id=message_id,
        recipient="US",
        topic="nrrc/v1/link/RU/US",
        kind="bmlna.launch_notice",
        envelope=b'{"payload":"x"}',
        created_at=T0,
        awaiting=awaiting,
    )


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    """Commits are forced to disk: WAL journal with synchronous=FULL."""
    store = Store(tmp_path / "s.sqlite")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_inbox_accepts_a_message_once(tmp_path: Path) -> None:
    """A second copy of (sender, message id) is recognised and not accepted again."""
    store = Store(tmp_path / "s.sqlite")
    args = {"sender": "RU", "message_id": ID1, "kind": "k", "envelope": b"e", "received_at": T0}
    assert store.accept(**args) is True
    assert store.accept(**{**args, "received_at": T0 + timedelta(hours=1)}) is False
    assert store.inbox_count() == 1
    assert store.inbox_entry("RU", ID1).received_at == T0  # type: ignore[union-attr]


def test_inbox_key_includes_the_sender(tmp_path: Path) -> None:
    """The same message id from two senders is two messages."""
    store = Store(tmp_path / "s.sqlite")
    for sender in ("RU", "CN"):
        assert store.accept(sender=sender, message_id=ID1, kind="k", envelope=b"e", received_at=T0)


def test_unprocessed_entries_survive_reopening(tmp_path: Path) -> None:
    """An accepted but unconsumed message is handed back after a restart, then not again."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.accept(sender="RU", message_id=ID1, kind="k", envelope=b"e1", received_at=T0)
    store.accept(sender="RU", message_id=ID2, kind="k", envelope=b"e2", received_at=T0)
    store.mark_processed("RU", ID1)
    store.close()
    again = Store(path)
    assert [e.message_id for e in again.unprocessed()] == [ID2]


def test_outbox_entry_stays_until_every_recipient_acknowledges(tmp_path: Path) -> None:
    """A regime message is done only when the last awaited centre has acknowledged it."""
    store = Store(tmp_path / "s.sqlite")
    _enqueue(store, awaiting=("US", "GB"))
    assert store.acknowledged(ID1, "US", T0) is False
    assert [e.awaiting for e in store.pending()] == [frozenset({"GB"})]
    assert store.acknowledged(ID1, "GB", T0) is True
    assert store.pending() == []
    assert store.outbox_counts() == (0, 1)


def test_unexpected_acknowledgement_changes_nothing(tmp_path: Path) -> None:
    """An acknowledgement from a centre not awaited, or of an unknown message, is ignored."""
    store = Store(tmp_path / "s.sqlite")
    _enqueue(store)
    assert store.acknowledged(ID1, "CN", T0) is None
    assert store.acknowledged(ID2, "US", T0) is None
    assert len(store.pending()) == 1


def test_enqueue_is_idempotent(tmp_path: Path) -> None:
    """Enqueueing the same message id twice keeps one entry."""
    store = Store(tmp_path / "s.sqlite")
    assert _enqueue(store) is True
    assert _enqueue(store) is False
    assert len(store.pending()) == 1


def test_publish_attempts_are_counted(tmp_path: Path) -> None:
    """Each hand-over to the broker is recorded with its instant."""
    store = Store(tmp_path / "s.sqlite")
    _enqueue(store)
    store.mark_published([ID1], T0)
    store.mark_published([ID1], T0 + timedelta(minutes=5))
    entry = store.pending()[0]
    assert (entry.attempts, entry.last_sent_at) == (2, T0 + timedelta(minutes=5))


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    """Writes inside a transaction that raises are rolled back together."""
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError), store.transaction():
        _enqueue(store)
        store.put_state("k", b"v")
        raise RuntimeError("crash")
    assert store.pending() == [] and store.get_state("k") is None


def test_commit_survives_sigkill(tmp_path: Path) -> None:
    """What a process committed is there after it is killed without any chance to clean up."""
    path = tmp_path / "s.sqlite"
    code = (
        "import os, signal, sys; from datetime import datetime, UTC; from nrrc.store import Store\n"
        f"s = Store({str(path)!r})\n"
        f"s.accept(sender='RU', message_id={ID1!r}, kind='k', envelope=b'e', "
        "received_at=datetime(2026, 1, 1, tzinfo=UTC))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=30, check=False, env=os.environ)
    assert proc.returncode == -9
    assert Store(path).inbox_entry("RU", ID1) is not None


def test_state_blobs_replace_earlier_values(tmp_path: Path) -> None:
    """put_state overwrites; get_state returns the latest."""
    store = Store(tmp_path / "s.sqlite")
    store.put_state("seq", b"1")
    store.put_state("seq", b"2")
    assert store.get_state("seq") == b"2"


def test_unopenable_store_is_a_clear_error(tmp_path: Path) -> None:
    """A path that is not an SQLite file gives one line naming it."""
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"bad\.sqlite"):
        Store(bad)
