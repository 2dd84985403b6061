"""Export a stored session as CSV, JSON or FIT (docs/export.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

from retrorun.errors import RetrorunError
from retrorun.sessions.report import build_report
from retrorun.sessions.store import Store, session_start

FORMATS = ("csv", "json", "fit")
# t_s: seconds since the session started; time_utc: the same instant, ISO 8601 UTC (empty when
# the device's clock was not set); distance_m empty when there is no distance, then either
# nothing_behind = 1 (the sensor works and sees nothing: wire.NO_READING) or sensor_fault names
# the fault (wire.SENSOR_* codes, docs/log-format.md)
CSV_COLUMNS = ("t_s", "time_utc", "distance_m", "nothing_behind", "sensor_fault", "alert",
               "steps", "cadence_spm", "trunk_deg")


def _sample_rows(store: Store, key: str) -> list[dict]:
    from retrofw import wire

    start_unix = store.session_meta(key)["start_unix"]
    rows = []
    for s in store.samples(key):
        mm = s["distance_mm"]
        rows.append({
            "t_s": s["t_ms"] / 1000,
            "time_utc": None if start_unix is None else utc_iso(start_unix, s["t_ms"]),
            "distance_m": mm / 1000 if mm >= 0 else None,
            "nothing_behind": int(mm == wire.NO_READING),
            "sensor_fault": _fault_name(mm) if mm < wire.NO_READING else None,
            "alert": wire.ALERT_NAMES[s["alert"]] if s["alert"] < len(wire.ALERT_NAMES) else "",
            "steps": s["steps"],
            "cadence_spm": s["cadence"],
            "trunk_deg": s["trunk_deg10"] / 10,
        })
    return rows


def _fault_name(code: int) -> str:
    from retrofw import wire

    return wire.SENSOR_FAULT_NAMES[-code] if -code < len(wire.SENSOR_FAULT_NAMES) else str(code)


def utc_iso(start_unix: int, t_ms: int) -> str:
    """`start_unix` + `t_ms` as ISO 8601 UTC with milliseconds (2025-11-24T16:00:01.250Z)."""
    when = _EPOCH + dt.timedelta(seconds=start_unix, milliseconds=t_ms)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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
    start = session_start(meta)
    fit_samples = [{"t_s": r["t_s"], "distance_to_obstacle_m": r["distance_m"],
                    "cadence_spm": r["cadence_spm"], "steps_total": r["steps"]} for r in rows]
    if not fit_samples:
        raise RetrorunError(f"session {key} has no samples to export")
    try:
        return encode_activity(start, fit_samples, serial_number=meta["session_id"])
    except ValueError as exc:
        raise RetrorunError(f"session {key} cannot be written as FIT ({exc}); export it as "
                            "csv or json instead") from exc


def export_session(store: Store, key: str, fmt: str, path: Path | str) -> int:
    """Write the export to `path`, or to stdout when it is "-" (binary FIT too)."""
    data = export_bytes(store, key, fmt)
    if str(path) == "-":
        import sys

        sys.stdout.flush()
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # a text-only stream (an embedding program): CSV and JSON only
            if fmt == "fit":
                raise RetrorunError("stdout takes only text here; write FIT to a file (-o FILE)")
            sys.stdout.write(data.decode())
        else:
            binary.write(data)
            binary.flush()
        return len(data)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise RetrorunError(f"cannot write {path} ({exc.strerror}); give -o a file path in a "
                            "folder you can write") from exc
    return len(data)
