"""`retrorun sync` into a store it cannot write: one error line, and the device keeps its session.

The test runs as any user (root ignores file modes), so the store is made read-only the way a
read-only mount or a locked file looks to SQLite: every write fails with an OperationalError.
"""

from __future__ import annotations

import sqlite3

import pytest
from session_factory import make_session

import retrorun.cli.commands.sync
import retrorun.sessions.store
from retrorun.link.local_transport import MicroPythonTransport
from retrorun.sessions.store import Store


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

    monkeypatch.setattr(retrorun.sessions.store.sqlite3, "connect", read_only_connect)
    monkeypatch.setattr(retrorun.cli.commands.sync, "open_transport",
                        lambda args: MicroPythonTransport(work / "device"))
    err = fails(["sync", "--store", "s.sqlite3"])
    assert err == ("retrorun: cannot write to the session store s.sqlite3 (attempt to write a "
                   "readonly database); make it writable (and free disk space) or pass "
                   "--store PATH")
    assert device.stat().st_size > 0  # still on the device for the next sync
    monkeypatch.setattr(retrorun.sessions.store.sqlite3, "connect", real_connect)
    with Store(work / "s.sqlite3") as store:
        assert store.sessions() == []


def _sqlite(path, *statements):
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


@pytest.mark.parametrize("command", [["sessions"], ["report", "last"]])
def test_store_with_retrorun_version_but_no_tables(fails, work, command):
    _sqlite(work / "s.sqlite3", "PRAGMA user_version = 1")
    err = fails([*command, "--store", "s.sqlite3"])
    assert err == ("retrorun: s.sqlite3 is not a retrorun store (table sessions is missing or "
                   "incomplete); pass --store PATH to use another file")


def test_store_of_another_program_is_left_alone(fails, work):
    _sqlite(work / "other.db", "CREATE TABLE sessions (a INTEGER)",
            "INSERT INTO sessions VALUES (1)")
    err = fails(["sessions", "--store", "other.db"])
    assert err == ("retrorun: other.db is not a retrorun store (it holds other tables); pass "
                   "--store PATH to use another file")
    db = sqlite3.connect(work / "other.db")
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["sessions"]
    assert db.execute("SELECT * FROM sessions").fetchall() == [(1,)]
    db.close()
