"""Step counts against the truth: APE and MAPE, step-time matching, summaries per dataset and
per position (`retrorun steps eval`; the recordings: retrorun.devtools.steps_eval)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

MATCH_S = 0.25  # a detected step matches a true one within 250 ms


def match_times(detected: Iterable[float], truth: Iterable[float],
                tolerance: float = MATCH_S) -> int:
    """Number of one-to-one matches (greedy in time order) within `tolerance` seconds."""
    det = sorted(detected)
    tru = sorted(truth)
    i = j = matched = 0
    while i < len(det) and j < len(tru):
        if abs(det[i] - tru[j]) <= tolerance:
            matched += 1
            i += 1
            j += 1
        elif det[i] < tru[j]:
            i += 1
        else:
            j += 1
    return matched


def ape(truth: int, counted: int) -> float:
    return abs(counted - truth) / truth * 100.0


def summary_of(rows: list[dict]) -> dict:
    truth = sum(r["truth"] for r in rows)
    counted = sum(r["counted"] for r in rows)
    scored = [r for r in rows if r["truth"] > 0]
    apes = [ape(r["truth"], r["counted"]) for r in scored]
    truth_scored = sum(r["truth"] for r in scored)
    counted_scored = sum(r["counted"] for r in scored)
    out = {
        "files": len(rows),
        "truth": truth,
        "counted": counted,
        "total_error_pct": (round((counted_scored - truth_scored) / truth_scored * 100.0, 2)
                            if truth_scored else None),
        "mape_pct": round(statistics.fmean(apes), 2) if apes else None,
        "median_ape_pct": round(statistics.median(apes), 2) if apes else None,
        "false_steps": sum(r["counted"] for r in rows if r["truth"] == 0),
    }
    timed = [r for r in rows if r.get("matched") is not None]
    if timed:
        matched = sum(r["matched"] for r in timed)
        det = sum(r["counted"] for r in timed)
        tru = sum(r["truth"] for r in timed)
        out["timing"] = {
            "files": len(timed),
            "tolerance_ms": int(MATCH_S * 1000),
            "precision_pct": round(matched / det * 100.0, 2) if det else None,
            "recall_pct": round(matched / tru * 100.0, 2) if tru else None,
        }
    return out


def position_of(rec) -> str:
    """Where the device was worn (the recording's `position`), 'unknown' when not given."""
    pos = rec.meta.get("position")
    return str(pos) if pos else "unknown"


def rows_of(recs: list, counted: list[tuple[int, list[int]]], samples: list[bytes],
          rate_hz: int, reversed_: bool) -> list[dict]:
    rows = []
    for rec, data, (steps, times_ms) in zip(recs, samples, counted, strict=True):
        row = {
            "name": rec.name,
            "truth": rec.truth,
            "counted": steps,
            "error_pct": round(ape(rec.truth, steps), 2) if rec.truth > 0 else None,
        }
        if rec.step_times is not None:
            t0 = min(rec.t)  # the device samples start at the first recorded sample
            if reversed_:
                # device time tau of the reversed samples is forward time t0 + (end - tau)
                end = (len(data) // 6 - 1) / rate_hz
                det = [t0 + end - t / 1000.0 for t in times_ms]
            else:
                det = [t0 + t / 1000.0 for t in times_ms]
            row["matched"] = match_times(det, rec.step_times)
            row["precision_pct"] = (round(row["matched"] / steps * 100.0, 2) if steps else None)
            row["recall_pct"] = (round(row["matched"] / rec.truth * 100.0, 2) if rec.truth
                                 else None)
        rows.append(row)
    return rows


def report(recs: list, rows: list[dict]) -> dict:
    """Summary of `rows` (one per recording of `recs`), per group and per position."""
    summary = summary_of(rows)
    for name, key in (("groups", lambda r: r.group), ("positions", position_of)):
        parts: dict[str, list[dict]] = {}
        for rec, row in zip(recs, rows, strict=True):
            parts.setdefault(key(rec), []).append(row)
        summary[name] = {k: summary_of(rs) for k, rs in parts.items()}
    return summary


def vs_forward(summary: dict, forward: dict) -> None:
    """Add `vs_forward_pct` (reversed count against forward count) to `summary` and its parts."""
    def diff(s, f):
        s["vs_forward_pct"] = (round((s["counted"] - f["counted"]) / f["counted"] * 100.0, 2)
                               if f["counted"] else None)

    diff(summary, forward)
    for name in ("groups", "positions"):
        for k, s in summary[name].items():
            diff(s, forward[name][k])
