"""Export a stored session as CSV, JSON or FIT (docs/export.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from retrorun.errors import RetrorunError
from retrorun.sessions.report import build_report
from retrorun.sessions.store import Store

FORMATS = ("csv", "json", "fit")
CSV_COLUMNS = ("t_s", "distance_m", "alert", "steps", "cadence_spm", "trunk_deg")


def _sample_rows(store: Store, key: str) -> list[dict]:
    from retrofw import wire

    rows = []
    for s in store.samples(key):
        rows.append({
            "t_s": s["t_ms"] / 1000,
            "distance_m": s["distance_mm"] / 1000 if s["distance_mm"] >= 0 else None,
            "alert": wire.ALERT_NAMES[s["alert"]] if s["alert"] < len(wire.ALERT_NAMES) else "",
            "steps": s["steps"],
            "cadence_spm": s["cadence"],
            "trunk_deg": s["trunk_deg10"] / 10,
        })
    return rows


def export_bytes(store: Store, key: str, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise RetrorunError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    rows = _sample_rows(store, key)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return out.getvalue().encode()
    if fmt == "json":
        document = {"report": build_report(store, key), "samples": rows,
                    "events": store.events(key), "snapshots": store.snapshots(key)}
        return (json.dumps(document, indent=1) + "\n").encode()
    from retrorun.sessions.fit import encode_activity

    meta = store.session_meta(key)
    start = meta["start_unix"] or int(meta["synced_unix"] - (meta["duration_ms"] or 0) / 1000)
    fit_samples = [{"t_s": r["t_s"], "distance_to_obstacle_m": r["distance_m"],
                    "cadence_spm": r["cadence_spm"], "steps_total": r["steps"]} for r in rows]
    if not fit_samples:
        raise RetrorunError(f"session {key} has no samples to export")
    try:
        return encode_activity(start, fit_samples, serial_number=meta["session_id"])
    except ValueError as exc:
        raise RetrorunError(f"session {key} cannot be written as FIT ({exc}); export it as "
                            "csv or json instead") from exc


def export_session(store: Store, key: str, fmt: str, path: Path) -> int:
    data = export_bytes(store, key, fmt)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise RetrorunError(f"cannot write {path} ({exc.strerror}); give -o a file path in a "
                            "folder you can write") from exc
    return len(data)
