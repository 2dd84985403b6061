"""Trends across sessions: per ISO week, how much the runner ran and how it went.

A session counts in the ISO week (Monday to Sunday, UTC, as `retrorun sessions` prints times)
of its start; a session whose device clock was not set counts at its latest possible start
(`store.session_start`). Weeks without a session between the first and the last are listed
with zeros, so a gap shows as a gap.
"""

from __future__ import annotations

import datetime as dt

from retrorun.sessions.report import build_report
from retrorun.sessions.store import Store, session_start


def weekly(store: Store) -> list[dict]:
    """One dict per ISO week, oldest first: week ("2025-W48"), monday (date, ISO),
    sessions, duration_s, steps, mean_cadence_spm (over every moving sample of the week, or
    None), alerts, alerts_per_session (None without sessions)."""
    weeks: dict[tuple[int, int], dict] = {}
    for row in store.sessions():
        meta = store.session_meta(row.key)
        report = build_report(store, row.key)
        year, week, _ = dt.datetime.fromtimestamp(session_start(meta), dt.UTC).isocalendar()
        w = weeks.setdefault((year, week), _empty())
        w["sessions"] += 1
        w["duration_s"] += report["duration_s"]
        w["steps"] += report["steps"]
        w["alerts"] += sum(report["alerts"].values())
        moving = store.db.execute("SELECT COUNT(*), SUM(cadence) FROM samples WHERE session=? "
                                  "AND cadence > 0", (row.key,)).fetchone()
        w["_moving"] += moving[0]
        w["_cadence_sum"] += moving[1] or 0
    if not weeks:
        return []
    first, last = min(weeks), max(weeks)
    monday = dt.date.fromisocalendar(*first, 1)
    out = []
    while monday.isocalendar()[:2] <= last:
        key = monday.isocalendar()[:2]
        w = weeks.get(key, _empty())
        moving, cadence_sum = w.pop("_moving"), w.pop("_cadence_sum")
        out.append({
            "week": f"{key[0]}-W{key[1]:02d}",
            "monday": monday.isoformat(),
            "sessions": w["sessions"],
            "duration_s": round(w["duration_s"], 1),
            "steps": w["steps"],
            "mean_cadence_spm": round(cadence_sum / moving, 1) if moving else None,
            "alerts": w["alerts"],
            "alerts_per_session": round(w["alerts"] / w["sessions"], 2) if w["sessions"]
            else None,
        })
        monday += dt.timedelta(days=7)
    return out


def _empty() -> dict:
    return {"sessions": 0, "duration_s": 0.0, "steps": 0, "alerts": 0, "_moving": 0,
            "_cadence_sum": 0}


def plot_trends(weeks: list[dict], path) -> object:
    """A PNG of the weekly figures (one panel each); returns the path written."""
    from pathlib import Path

    import matplotlib

    from retrorun.errors import RetrorunError
    from retrorun.sessions.plot import plot_path, save_figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = plot_path(Path(path))
    if not weeks:
        raise RetrorunError("no sessions to plot yet; 'retrorun sync' copies them from the "
                            "device")
    labels = [w["week"] for w in weeks]
    x = range(len(weeks))
    panels = [
        ("sessions", [w["sessions"] for w in weeks], "#1f4e79"),
        ("time (h)", [w["duration_s"] / 3600 for w in weeks], "#2e7d32"),
        ("steps", [w["steps"] for w in weeks], "#6a1b9a"),
        ("mean cadence (spm)", [w["mean_cadence_spm"] or 0 for w in weeks], "#c77800"),
        ("alerts per session", [w["alerts_per_session"] or 0 for w in weeks], "#c00000"),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6, 0.6 * len(weeks) + 3), 9),
                             sharex=True)
    for ax, (label, values, colour) in zip(axes, panels, strict=True):
        ax.bar(x, values, color=colour)
        ax.set_ylabel(label, fontsize=8)
    axes[0].set_title("retrorun: sessions by ISO week (UTC)")
    axes[-1].set_xticks(list(x), labels, rotation=45, ha="right", fontsize=8)
    return save_figure(fig, path, dpi=100)
