"""Sync: pull every unsynced session from a device into the local store.

`pull_sessions(transport, store)` is resumable and idempotent:
- each chunk is checked (offset, length, CRC-32) by the transport and kept in the store as it
  arrives, so a dropped link or a device reset costs at most the chunk in flight;
- the whole file is checked against the device's SHA-256 before it is decoded and committed
  in one transaction;
- only then is the session marked synced on the device; a session already in the store is
  just marked (the mark was lost) and never stored twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from retrofw import wire
from retrorun.errors import RetrorunError
from retrorun.link.transport import TransferError, Transport
from retrorun.sessions import logdecode
from retrorun.sessions.store import Store, session_key

CHUNK_RETRIES = 3


@dataclass
class SyncResult:
    device: str = ""
    stored: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped_recording: list[int] = field(default_factory=list)
    deleted_in_store: list[str] = field(default_factory=list)  # left on the device
    resumed_bytes: int = 0
    payload_bytes: int = 0
    problems: dict[str, list] = field(default_factory=dict)


def device_name(status: dict) -> str:
    """The store's name for a device: its unique id when it reports one, else its board."""
    return str(status.get("uid") or status.get("board") or "device")


class SyncInterrupted(RetrorunError):
    """Ctrl-C during a sync: what was kept, and how to go on."""

    exit_status = 130


def pull_sessions(transport: Transport, store: Store, *, chunk_size: int = wire.API_READ_MAX,
                  progress: Callable[[str, int, int], None] | None = None,
                  restore_deleted: bool = False) -> SyncResult:
    """`restore_deleted`: also copy again the sessions the runner deleted from the store (while
    the device still has them); without it they stay out of the store."""
    result = SyncResult()
    current: list = [None, 0, 0]  # session id, bytes kept, size
    try:
        return _pull(transport, store, result, current, chunk_size, progress, restore_deleted)
    except KeyboardInterrupt:
        kept = f"stored {len(result.stored)} session{'s' if len(result.stored) != 1 else ''}"
        sid, done, size = current
        if sid is not None and done < size:
            kept += f"; session {sid}: {done:,} of {size:,} bytes kept"
        raise SyncInterrupted(f"interrupted: {kept}; run retrorun sync again to resume (nothing "
                              "is fetched twice)") from None


def _pull(transport, store, result, current, chunk_size, progress, restore_deleted) -> SyncResult:
    status = transport.status()
    result.device = device_name(status)
    for info in transport.sessions()["sessions"]:
        sid = int(info["id"])
        key = session_key(result.device, sid)
        if info.get("recording"):
            result.skipped_recording.append(sid)
            continue
        if store.has(result.device, sid):
            if not info.get("synced"):
                transport.mark_synced(sid)
            result.already.append(key)
            continue
        deleted = _deleted_here(transport, store, result.device, sid, int(info["size"]))
        if deleted and not restore_deleted:
            if not info.get("synced"):
                transport.mark_synced(sid)  # dealt with: the device may free its space
            result.deleted_in_store.append(key)
            continue
        if info.get("synced") and not deleted:
            continue  # another host has it; only unsynced sessions are pulled
        current[:] = [sid, 0, int(info["size"])]
        data = _download(transport, store, result, sid, int(info["size"]), chunk_size, progress,
                         current)
        digest = transport.digest(sid)
        if digest and digest != hashlib.sha256(data).hexdigest():
            store.drop_partial(result.device, sid)
            raise TransferError(f"session {sid} failed its whole-file check (SHA-256 differs); "
                                "run 'retrorun sync' again")
        records, problems = logdecode.decode(data)
        if problems:
            result.problems[key] = problems
        store.commit_session(result.device, sid, data, records, problems)
        transport.mark_synced(sid)
        result.stored.append(key)
    return result


def _deleted_here(transport, store, device: str, sid: int, size: int) -> bool:
    """The device's session is the very file the runner deleted from the store (same size and
    SHA-256): not a new run that reuses the id after the board's files were erased."""
    gone = store.deleted(device, sid)
    if gone is None or gone[0] != size:
        return False
    digest = transport.digest(sid)
    return digest is None or digest == gone[1]


def _download(transport, store, result, sid, size, chunk_size, progress, current) -> bytes:
    data = bytearray(store.partial(result.device, sid, size))
    current[1] = len(data)
    result.resumed_bytes += len(data)
    while len(data) < size:
        want = min(chunk_size, size - len(data))
        for attempt in range(CHUNK_RETRIES):
            try:
                piece = transport.read(sid, len(data), want)
                break
            except TransferError:
                if attempt == CHUNK_RETRIES - 1:
                    raise
        if not piece:
            raise RetrorunError(f"session {sid} ended early on the device ({len(data)} of "
                                f"{size} bytes); run 'retrorun sync' again")
        store.save_chunk(result.device, sid, size, len(data), piece)
        data += piece
        current[1] = len(data)
        result.payload_bytes += len(piece)
        if progress:
            progress(f"session {sid}", len(data), size)
    return bytes(data)
