"""`retrorun sync` into a store it cannot write: one error line, and the device keeps its session.

The test runs as any user (root ignores file modes), so the store is made read-only the way a
read-only mount or a locked file looks to SQLite: every write fails with an OperationalError.
"""

from __future__ import annotations

import sqlite3

import pytest
from session_factory import make_session

import retrorun.commands.sync
import retrorun.store
from retrorun.local_transport import MicroPythonTransport
from retrorun.store import Store


@pytest.fixture
def device(work):
    root = work / "device"
    root.mkdir()
    return make_session(root, seconds=20)


def test_sync_into_read_only_store(fails, work, device, monkeypatch):
    Store(work / "s.sqlite3").close()  # a valid, empty store
    real_connect = sqlite3.connect

    def read_only_connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.execute("PRAGMA query_only = ON")
        return db

    monkeypatch.setattr(retrorun.store.sqlite3, "connect", read_only_connect)
    monkeypatch.setattr(retrorun.commands.sync, "open_transport",
                        lambda args: MicroPythonTransport(work / "device"))
    err = fails(["sync", "--store", "s.sqlite3"])
    assert err == ("retrorun: cannot write to the session store s.sqlite3 (attempt to write a "
                   "readonly database); make it writable (and free disk space) or pass "
                   "--store PATH")
    assert device.stat().st_size > 0  # still on the device for the next sync
    monkeypatch.setattr(retrorun.store.sqlite3, "connect", real_connect)
    with Store(work / "s.sqlite3") as store:
        assert store.sessions() == []
