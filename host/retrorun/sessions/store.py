"""The local session store: one SQLite file, schema versioned with migrations.

A synced session is kept twice over: the raw bytes exactly as the device wrote them (so nothing
is ever lost to a decoder bug, and the file can be decoded again) and its decoded records in
`samples`, `events` and `snapshots` for reports. A session is committed in one transaction;
partial downloads live in `partials` so an interrupted sync resumes where it stopped.

Sessions are keyed `<device uid>/<session id>` (what sync deduplicates on). The runner's own
name for a session (`label`, `sessions rename`) and `note` are columns beside the key and never
change it. A deleted session leaves a row in `deleted` (device, id, size, SHA-256), so sync does
not bring it back from the device unless asked (`sync --restore-deleted`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from retrorun.errors import RetrorunError
from retrorun.paths import data_dir

SCHEMA_VERSION = 2

# Migrations: MIGRATIONS[n] takes the schema from version n to n + 1. Append, never edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sessions (
        key TEXT PRIMARY KEY,            -- "<device>/<session id>"
        device TEXT NOT NULL,
        session_id INTEGER NOT NULL,
        start_unix INTEGER,
        duration_ms INTEGER,
        steps INTEGER,
        firmware TEXT,
        board TEXT,
        config_hash INTEGER,
        sample_period_ms INTEGER,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        raw BLOB NOT NULL,
        problems TEXT NOT NULL,          -- JSON list from logdecode.decode
        footer TEXT,                     -- JSON footer record, or null
        synced_unix REAL NOT NULL
    );
    CREATE TABLE samples (
        session TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
        t_ms INTEGER NOT NULL, distance_mm INTEGER, alert INTEGER, steps INTEGER,
        cadence INTEGER, trunk_deg10 INTEGER
    );
    CREATE INDEX samples_session ON samples(session, t_ms);
    CREATE TABLE events (
        session TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
        t_ms INTEGER NOT NULL, event TEXT NOT NULL, type INTEGER, a INTEGER, b INTEGER
    );
    CREATE INDEX events_session ON events(session, t_ms);
    CREATE TABLE snapshots (
        session TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
        t_ms INTEGER NOT NULL, period_ms INTEGER, level INTEGER, part INTEGER,
        distances TEXT NOT NULL           -- JSON list of mm / codes
    );
    CREATE TABLE partials (          -- verified chunks of a download in progress
        device TEXT NOT NULL, session_id INTEGER NOT NULL, size INTEGER NOT NULL,
        offset INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (device, session_id, offset)
    );
    """,
    """
    ALTER TABLE sessions ADD COLUMN label TEXT;     -- the runner's name for it; null: the key
    ALTER TABLE sessions ADD COLUMN note TEXT;
    CREATE TABLE deleted (           -- sessions the runner deleted: sync leaves them on the device
        device TEXT NOT NULL, session_id INTEGER NOT NULL, size INTEGER NOT NULL,
        sha256 TEXT NOT NULL, deleted_unix REAL NOT NULL,
        PRIMARY KEY (device, session_id)
    );
    """,
]


def _columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    """{table: column names} of a database's own tables."""
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {t: {row[1] for row in db.execute(f"PRAGMA table_info('{t}')")} for t in tables}


@functools.cache
def _expected_columns(version: int = SCHEMA_VERSION) -> dict[str, set[str]]:
    """The tables and columns the migrations up to `version` make, from a scratch in-memory
    database."""
    db = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS[:version]:
            db.executescript(script)
        return _columns(db)
    finally:
        db.close()


def default_path() -> Path:
    return data_dir() / "sessions.sqlite3"


@dataclass(frozen=True)
class SessionRow:
    key: str
    device: str
    session_id: int
    start_unix: int | None
    duration_ms: int | None
    steps: int | None
    size: int
    sha256: str
    label: str | None = None
    note: str | None = None
    synced_unix: float | None = None

    @property
    def name(self) -> str:
        """What the runner sees: their label, else the key."""
        return self.label or self.key


class NoStore(RetrorunError):
    """A command that only reads was pointed at a store that does not exist."""


class Store:
    """The SQLite store. Use as a context manager or call close().

    `create=False` (the commands that only read: sessions, report, export, trends) refuses a
    path where there is no store instead of making an empty one there."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path) if path else default_path()
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path)
            elif not self.path.is_file():
                raise NoStore(f"no session store at {self.path}: check the --store path "
                              "('retrorun sync' makes a store)")
            else:  # mode=rw: never creates the file, even if it vanished since the check
                self.db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=rw", uri=True)
        except (OSError, sqlite3.Error) as exc:
            raise RetrorunError(f"cannot open the session store {self.path} ({exc}); pass "
                                "--store PATH to use another file") from exc
        self.db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise RetrorunError(f"{self.path} is not a retrorun store ({exc}); pass --store "
                                "PATH to use another file") from exc
        if version > SCHEMA_VERSION:
            raise RetrorunError(f"the store {self.path} has schema {version}, newer than this "
                                f"retrorun knows ({SCHEMA_VERSION}); upgrade retrorun")
        if version == 0 and _columns(self.db):
            raise RetrorunError(f"{self.path} is not a retrorun store (it holds other tables); "
                                "pass --store PATH to use another file")
        self._check_tables(version)  # before a migration alters what should be there
        for step in range(version, SCHEMA_VERSION):
            with self._writing():
                self.db.executescript(MIGRATIONS[step])
                self.db.execute(f"PRAGMA user_version = {step + 1}")
        self._check_tables(SCHEMA_VERSION)

    def _check_tables(self, version: int) -> None:
        have = _columns(self.db)
        for table, columns in _expected_columns(version).items():
            if not columns <= have.get(table, set()):
                raise RetrorunError(f"{self.path} is not a retrorun store (table {table} is "
                                    "missing or incomplete); pass --store PATH to use another "
                                    "file")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction; a failed write (read-only file or folder, full disk, a lock held
        by another program) rolls back and becomes one RetrorunError."""
        try:
            with self.db:
                yield
        except sqlite3.Error as exc:
            raise RetrorunError(f"cannot write to the session store {self.path} ({exc}); make "
                                "it writable (and free disk space) or pass --store PATH") from exc

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- partial downloads ---------------------------------------------------------------------
    def partial(self, device: str, session_id: int, size: int) -> bytes:
        """The contiguous bytes already fetched of a session whose device size is `size`.

        Chunks saved for another size (the file changed on the device, e.g. boot recovery
        appended a footer) are dropped and the download starts over.
        """
        rows = self.db.execute("SELECT size, offset, data FROM partials WHERE device=? AND "
                               "session_id=? ORDER BY offset", (device, session_id)).fetchall()
        data = bytearray()
        for row_size, offset, chunk in rows:
            if row_size != size or offset != len(data):
                self.drop_partial(device, session_id)
                return b""
            data += chunk
        return bytes(data)

    def drop_partial(self, device: str, session_id: int) -> None:
        with self._writing():
            self.db.execute("DELETE FROM partials WHERE device=? AND session_id=?",
                            (device, session_id))

    def save_chunk(self, device: str, session_id: int, size: int, offset: int,
                   chunk: bytes) -> None:
        """Keep one verified chunk so an interrupted download resumes after it."""
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO partials VALUES (?, ?, ?, ?, ?)",
                            (device, session_id, size, offset, chunk))

    # -- sessions ------------------------------------------------------------------------------
    def has(self, device: str, session_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM sessions WHERE key=?",
                               (session_key(device, session_id),)).fetchone() is not None

    def commit_session(self, device: str, session_id: int, raw: bytes, records: list[dict],
                       problems: list[dict]) -> str:
        """Store one session and its records atomically; idempotent (same key: no change)."""
        key = session_key(device, session_id)
        header = next((r for r in records if r["kind"] == "header"), {})
        footer = next((r for r in reversed(records) if r["kind"] == "footer"), None)
        samples = [r for r in records if r["kind"] == "sample"]
        duration = footer["duration_ms"] if footer else (samples[-1]["t_ms"] if samples else 0)
        steps = footer["steps"] if footer else (samples[-1]["steps"] if samples else 0)
        with self._writing():
            if self.db.execute("SELECT 1 FROM sessions WHERE key=?", (key,)).fetchone():
                return key
            self.db.execute(
                "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
                (key, device, session_id, header.get("start_unix") or None, duration, steps,
                 header.get("firmware"), header.get("board"), header.get("config_hash"),
                 header.get("sample_period_ms"), len(raw), hashlib.sha256(raw).hexdigest(),
                 raw, json.dumps(problems), json.dumps(footer) if footer else None, time.time()))
            self.db.executemany(
                "INSERT INTO samples VALUES (?,?,?,?,?,?,?)",
                [(key, r["t_ms"], r["distance_mm"], r["alert"], r["steps"], r["cadence"],
                  r["trunk_deg10"]) for r in samples])
            self.db.executemany(
                "INSERT INTO events VALUES (?,?,?,?,?,?)",
                [(key, r["t_ms"], r["event"], r["type"], r["a"], r["b"])
                 for r in records if r["kind"] == "event"])
            self.db.executemany(
                "INSERT INTO snapshots VALUES (?,?,?,?,?,?)",
                [(key, r["t_ms"], r["period_ms"], r["level"], r["part"],
                  json.dumps(r["distances_mm"])) for r in records if r["kind"] == "snapshot"])
            self.db.execute("DELETE FROM partials WHERE device=? AND session_id=?",
                            (device, session_id))
            self.db.execute("DELETE FROM deleted WHERE device=? AND session_id=?",
                            (device, session_id))  # restored (sync --restore-deleted)
        return key

    def sessions(self) -> list[SessionRow]:
        rows = self.db.execute(
            "SELECT key, device, session_id, start_unix, duration_ms, steps, size, sha256, "
            "label, note, synced_unix FROM sessions ORDER BY synced_unix, key").fetchall()
        return [SessionRow(*row) for row in rows]

    # -- the runner's own bookkeeping ----------------------------------------------------------
    def rename(self, key: str, label: str) -> None:
        """Give a session the name the runner sees ("" goes back to its key); the key, which
        sync deduplicates on, stays as it is."""
        label = label.strip()
        if label:
            if label == "last" or label.isdigit():
                raise RetrorunError(f"'{label}' would read as a session number; pick a name "
                                    "with a letter in it")
            taken = [r.key for r in self.sessions() if label in (r.key, r.label) and r.key != key]
            if taken:
                raise RetrorunError(f"'{label}' already names session {taken[0]}; pick another "
                                    "name")
        self._set(key, "label", label or None)

    def set_note(self, key: str, note: str) -> None:
        """The runner's note on a session ("" removes it)."""
        self._set(key, "note", note.strip() or None)

    def _set(self, key: str, column: str, value: str | None) -> None:
        with self._writing():
            if self.db.execute(f"UPDATE sessions SET {column}=? WHERE key=?",
                               (value, key)).rowcount != 1:
                raise RetrorunError(f"no session '{key}' in {self.path}")

    def delete(self, key: str) -> None:
        """Remove a session and its records; remember it so sync does not bring it back."""
        row = self.db.execute("SELECT device, session_id, size, sha256 FROM sessions WHERE "
                              "key=?", (key,)).fetchone()
        if row is None:
            raise RetrorunError(f"no session '{key}' in {self.path}")
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO deleted VALUES (?, ?, ?, ?, ?)",
                            (*row, time.time()))
            self.db.execute("DELETE FROM sessions WHERE key=?", (key,))  # records cascade

    def deleted(self, device: str, session_id: int) -> tuple[int, str] | None:
        """(size, SHA-256) of a session the runner deleted, or None."""
        row = self.db.execute("SELECT size, sha256 FROM deleted WHERE device=? AND "
                              "session_id=?", (device, session_id)).fetchone()
        return None if row is None else (row[0], row[1])

    def resolve(self, ref: str) -> str:
        """A session key from a full key, the runner's name for it, a unique suffix (e.g. '7'
        or '000007'), or 'last'."""
        rows = self.sessions()
        keys = [row.key for row in rows]
        if not keys:
            raise RetrorunError(f"the store {self.path} has no sessions yet; run 'retrorun sync'")
        if ref == "last":
            return keys[-1]
        if ref in keys:
            return ref
        named = [row.key for row in rows if row.label == ref]
        if named:
            return named[0]
        matches = [k for k in keys if k.rsplit("/", 1)[1].lstrip("0") == ref.lstrip("0")]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise RetrorunError(f"session '{ref}' is ambiguous ({', '.join(matches)}); give "
                                "the full key")
        raise RetrorunError(f"no session '{ref}' in {self.path}; 'retrorun sessions' lists them")

    def raw(self, key: str) -> bytes:
        row = self.db.execute("SELECT raw FROM sessions WHERE key=?", (key,)).fetchone()
        if row is None:
            raise RetrorunError(f"no session '{key}' in {self.path}")
        return bytes(row[0])

    def session_meta(self, key: str) -> dict:
        cur = self.db.execute("SELECT * FROM sessions WHERE key=?", (key,))
        row = cur.fetchone()
        if row is None:
            raise RetrorunError(f"no session '{key}' in {self.path}")
        meta = dict(zip([c[0] for c in cur.description], row, strict=True))
        meta.pop("raw")
        meta["problems"] = json.loads(meta["problems"])
        meta["footer"] = json.loads(meta["footer"]) if meta["footer"] else None
        return meta

    def samples(self, key: str) -> list[dict]:
        cur = self.db.execute("SELECT t_ms, distance_mm, alert, steps, cadence, trunk_deg10 "
                              "FROM samples WHERE session=? ORDER BY t_ms", (key,))
        return _dicts(cur)

    def events(self, key: str) -> list[dict]:
        cur = self.db.execute("SELECT t_ms, event, type, a, b FROM events WHERE session=? "
                              "ORDER BY t_ms", (key,))
        return _dicts(cur)

    def snapshots(self, key: str) -> list[dict]:
        cur = self.db.execute("SELECT t_ms, period_ms, level, part, distances FROM snapshots "
                              "WHERE session=? ORDER BY t_ms, part", (key,))
        out = _dicts(cur)
        for snap in out:
            snap["distances"] = json.loads(snap["distances"])
        return out


def session_start(meta: dict) -> int:
    """A session's start (Unix s): the device's, or, when its clock was not set, the sync
    time less the duration (the latest it can have started)."""
    return meta["start_unix"] or int(meta["synced_unix"] - (meta["duration_ms"] or 0) / 1000)


def session_key(device: str, session_id: int) -> str:
    return f"{device}/{session_id:06d}"


def _dicts(cur: sqlite3.Cursor) -> list[dict]:
    names = [c[0] for c in cur.description]
    rows: Iterable[tuple] = cur.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]
