"""Helpers shared by the log tests (recording a session with the device code, frames)."""

from __future__ import annotations

import os

from retrofw import store, wire
from retrorun.sessions import logdecode, logs


def record_session(root, seconds=300, seed=7, snapshot_hz=50):
    """Record a synthetic run with the device's SessionWriter (CPython); return its bytes."""
    os.makedirs(root, exist_ok=True)
    w = logs.synthetic_run(store, wire, str(root), seconds, seed, lambda: 100000, snapshot_hz)
    with open(w.store.path(w.session_id), "rb") as f:
        return f.read()


def frames_of(data):
    """[(offset, size)] of the valid frames, from the decoder's record offsets."""
    records, problems = logdecode.decode(data)
    assert problems == []
    offsets = sorted({r["offset"] for r in records})
    return [(o, data[o + 2] + wire.LOG_FRAME_OVERHEAD) for o in offsets]
