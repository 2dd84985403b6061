"""Session reports: the figures a runner wants after a run, computed from the store."""

from __future__ import annotations

from retrofw import wire
from retrorun.sessions.store import Store

# Closing speeds below this are noise (a runner standing still, a flickering echo).
_MIN_CLOSING_MPS = 0.2
# Points of a snapshot used for one closing-speed estimate (least-squares slope).
_TTC_WINDOW = 5


def build_report(store: Store, key: str) -> dict:
    """Everything `retrorun report` prints, as one JSON-ready dict."""
    meta = store.session_meta(key)
    samples = store.samples(key)
    events = store.events(key)
    snapshots = store.snapshots(key)
    footer = meta["footer"] or {}
    duration_s = (meta["duration_ms"] or 0) / 1000
    moving = [s["cadence"] for s in samples if s["cadence"] and s["cadence"] > 0]
    distances = [s["distance_mm"] for s in samples if s["distance_mm"] >= 0]
    for snap in snapshots:
        distances.extend(d for d in snap["distances"] if d >= 0)
    alerts = {name: 0 for name in wire.ALERT_NAMES[1:]}
    faults = []
    for event in events:
        if event["type"] == wire.EV_ALERT and 1 <= event["a"] < len(wire.ALERT_NAMES):
            alerts[wire.ALERT_NAMES[event["a"]]] += 1
        elif event["type"] == wire.EV_SENSOR and event["a"] == 1:
            code = -event["b"]
            faults.append({"t_s": event["t_ms"] / 1000,
                           "fault": wire.SENSOR_FAULT_NAMES[code]
                           if 0 < code < len(wire.SENSOR_FAULT_NAMES) else str(event["b"])})
    angles = [s["trunk_deg10"] / 10 for s in samples]
    return {
        "session": key,
        "label": meta["label"],
        "note": meta["note"],
        "start_unix": meta["start_unix"],
        "firmware": meta["firmware"],
        "board": meta["board"],
        "duration_s": round(duration_s, 1),
        "steps": meta["steps"] or 0,
        "cadence": {
            "mean_spm": round(sum(moving) / len(moving), 1) if moving else 0,
            "max_spm": max(moving, default=0),
        },
        "alerts": alerts,
        "closest_approach_m": round(min(distances) / 1000, 2) if distances else None,
        "min_time_to_contact_s": min_ttc(snapshots),
        "faults": faults,
        "posture": {
            "mean_trunk_deg": round(sum(angles) / len(angles), 1) if angles else None,
            "max_trunk_deg": round(max(angles), 1) if angles else None,
        },
        "recovered": bool(footer.get("recovered")),
        "storage_full": bool(footer.get("storage_full")),
        "problems": meta["problems"],
    }


def min_ttc(snapshots: list[dict]) -> float | None:
    """Smallest time to contact seen in the full-rate snapshots: distance / closing speed."""
    best = None
    for snap in snapshots:
        period_s = snap["period_ms"] / 1000
        series = snap["distances"]
        for end in range(_TTC_WINDOW, len(series) + 1):
            window = series[end - _TTC_WINDOW:end]
            if any(d < 0 for d in window) or period_s <= 0:
                continue
            slope = _slope(window, period_s)  # mm per second; negative = closing
            closing = -slope / 1000
            if closing < _MIN_CLOSING_MPS:
                continue
            ttc = window[-1] / 1000 / closing
            if best is None or ttc < best:
                best = ttc
    return None if best is None else round(best, 2)


def _slope(values: list[int], dt: float) -> float:
    n = len(values)
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den / dt
