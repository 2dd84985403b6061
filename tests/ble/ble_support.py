"""Helpers shared by the BLE tests (a real session log, folder snapshots, the test secret)."""

from __future__ import annotations

import hashlib
from pathlib import Path

SECRET = bytes(range(32))


def write_session(root: Path, seconds: int = 3600, seed: int = 7) -> Path:
    """A real session log (retrofw.store.SessionWriter): `seconds` of 1 Hz samples + events."""
    from retrofw import wire
    from retrofw.store import SessionWriter

    writer = SessionWriter(str(root), now_ms=0, sample_period_ms=1000, free_kb=lambda: 4096,
                           board="test")
    x = seed
    steps = 0
    for t in range(seconds):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        distance = 500 + x % 6000
        alert = 2 if distance < 1500 else 0
        steps += 2 + (x >> 8) % 2
        writer.sample(t * 1000, distance, alert, steps, 150 + (x >> 12) % 30, (x >> 4) % 200)
        if t % 97 == 0:
            writer.event(t * 1000, wire.EV_ALERT, alert, distance)
        writer.poll(t * 1000)
    writer.close(seconds * 1000)
    return Path(writer.store.path(writer.session_id))


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file and folder under root (a folder maps to "dir")."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out
