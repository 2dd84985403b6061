"""A synthetic session made by the device's own SessionWriter (CPython), for host tests."""

from __future__ import annotations

from retrofw import wire
from retrofw.snapshot import SnapshotRing
from retrofw.store import SessionWriter


def make_session(root, *, seconds=120, start_unix=1_764_000_000):
    """A run: approach to 0.9 m around t=60 s (notice, warning, stop), a sensor fault at
    t=90 s, steady cadence 170 spm, trunk 12 deg. Returns the session file path."""
    writer = SessionWriter(str(root), now_ms=0, sample_period_ms=1000, board="esp32-devkitc",
                           start_unix=start_unix, free_kb=lambda: 4000)
    ring = SnapshotRing(writer, 100, seconds=3.0)
    level = wire.ALERT_CLEAR
    steps = 0
    for tenth in range(seconds * 10):
        t = tenth * 100
        s = t / 1000
        distance = int(1000 * min(8.0, 0.9 + abs(s - 60) * 0.5)) if s < 90 else wire.SENSOR_NO_ACK
        ring.feed(t, distance)
        ring.write()  # the app's storage task
        new = (wire.ALERT_FAULT if distance < 0 else wire.ALERT_STOP if distance < 1200 else
               wire.ALERT_WARNING if distance < 2500 else wire.ALERT_NOTICE if distance < 4000
               else wire.ALERT_CLEAR)
        if new != level:
            writer.event(t, wire.EV_ALERT, new, distance)
            if new == wire.ALERT_FAULT:
                writer.event(t, wire.EV_SENSOR, 1, distance)
            if new >= wire.ALERT_WARNING:
                ring.trigger(t, new)
            level = new
        if tenth % 10 == 0:
            steps = int(s * 170 / 60)
            writer.sample(t, distance, level, steps, 170 if s > 2 else 0, 120)
    writer.close(seconds * 1000)
    return root / "sessions" / f"{writer.session_id:06d}.rrl"
