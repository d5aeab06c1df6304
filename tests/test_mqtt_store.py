"""The durable store: idempotent inbox, outbox until the broker acknowledges, survives SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nrrc.store import Accepted, Store, StoreError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ID1 = "0195a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
ID2 = "0195a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c"


def _accept(store: Store, envelope: bytes = b"e1", sender: str = "RU", mid: str = ID1) -> Accepted:
    return store.accept(
        sender=sender, message_id=mid, channel="US", envelope=envelope, received_at=T0
    )


def _enqueue(store: Store, attempt: int = 1) -> int:
    return store.enqueue(
        message_id=ID1,
        kind="bmlna.launch_notice",
        recipient="US",
        topic="nrrc/v1/link/RU/US",
        envelope=b'{"payload":"x"}',
        attempt=attempt,
        queued_at=T0,
    )


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    """Commits are forced to disk: WAL journal with synchronous=FULL."""
    store = Store(tmp_path / "s.sqlite")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_inbox_stores_a_message_once(tmp_path: Path) -> None:
    """A second identical copy of an unprocessed (sender, message id) is not stored again."""
    store = Store(tmp_path / "s.sqlite")
    assert _accept(store) is Accepted.NEW
    assert _accept(store) is Accepted.QUEUED
    assert store.inbox_count() == 1


def test_copy_of_a_processed_message_goes_to_the_centre(tmp_path: Path) -> None:
    """After processing, a copy is passed on (the centre re-acknowledges it) but not stored."""
    store = Store(tmp_path / "s.sqlite")
    _accept(store)
    store.mark_processed([("RU", ID1)])
    assert _accept(store) is Accepted.SEEN
    assert store.unprocessed() == []


def test_different_bytes_under_a_known_key_go_to_the_centre(tmp_path: Path) -> None:
    """A second envelope reusing a message id is handed on, so the centre can refuse it."""
    store = Store(tmp_path / "s.sqlite")
    _accept(store, b"genuine")
    assert _accept(store, b"tampered") is Accepted.SEEN
    assert store.inbox_entry("RU", ID1).envelope == b"genuine"  # type: ignore[union-attr]


def test_inbox_key_includes_the_sender(tmp_path: Path) -> None:
    """The same message id from two senders is two messages."""
    store = Store(tmp_path / "s.sqlite")
    assert _accept(store, sender="RU") is Accepted.NEW
    assert _accept(store, sender="CN") is Accepted.NEW


def test_unprocessed_entries_survive_reopening(tmp_path: Path) -> None:
    """An accepted but unconsumed message is handed back after a restart, in order."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    _accept(store, mid=ID1)
    _accept(store, mid=ID2)
    store.mark_processed([("RU", ID1)])
    store.close()
    assert [e.message_id for e in Store(path).unprocessed()] == [ID2]


def test_outbox_keeps_entries_until_published(tmp_path: Path) -> None:
    """Only transmissions the broker has acknowledged leave the unpublished list."""
    store = Store(tmp_path / "s.sqlite")
    first, second = _enqueue(store), _enqueue(store, attempt=2)
    store.mark_published([first], T0 + timedelta(seconds=1))
    assert [(e.position, e.attempt) for e in store.unpublished()] == [(second, 2)]
    assert store.outbox_counts() == (1, 1)


def test_outbox_keeps_order_and_pages(tmp_path: Path) -> None:
    """Unpublished entries come in queueing order, a page at a time."""
    store = Store(tmp_path / "s.sqlite")
    positions = [_enqueue(store) for _ in range(5)]
    page = store.unpublished(limit=2)
    assert [e.position for e in page] == positions[:2]
    assert [e.position for e in store.unpublished(after=page[-1].position)] == positions[2:]


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    """Writes inside a transaction that raises are rolled back together."""
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError), store.transaction():
        _enqueue(store)
        store.put_state("k", b"v")
        raise RuntimeError("crash")
    assert store.unpublished() == [] and store.get_state("k") is None


def test_commit_survives_sigkill(tmp_path: Path) -> None:
    """What a process committed is there after it is killed without any chance to clean up."""
    path = tmp_path / "s.sqlite"
    code = (
        "import os, signal; from datetime import datetime, UTC; from nrrc.store import Store\n"
        f"s = Store({str(path)!r})\n"
        f"s.accept(sender='RU', message_id={ID1!r}, channel='US', envelope=b'e', "
        "received_at=datetime(2026, 1, 1, tzinfo=UTC))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=30, check=False, env=os.environ)
    assert proc.returncode == -9
    assert Store(path).inbox_entry("RU", ID1) is not None


def test_state_blobs_replace_earlier_values(tmp_path: Path) -> None:
    """put_state overwrites; get_state returns the latest."""
    store = Store(tmp_path / "s.sqlite")
    store.put_state("snapshot", b"1")
    store.put_state("snapshot", b"2")
    assert store.get_state("snapshot") == b"2"


def test_unopenable_store_is_a_clear_error(tmp_path: Path) -> None:
    """A path that is not an SQLite file gives one line naming it."""
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"bad\.sqlite"):
        Store(bad)
