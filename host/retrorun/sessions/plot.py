"""The session plot: distance behind the runner with alert bands, cadence and trunk angle."""

from __future__ import annotations

from pathlib import Path

from retrofw import wire
from retrorun.errors import RetrorunError
from retrorun.sessions.store import Store

ALERT_COLOURS = {
    wire.ALERT_NOTICE: "#fff3b0",
    wire.ALERT_WARNING: "#ffc46b",
    wire.ALERT_STOP: "#ff7b7b",
    wire.ALERT_FAULT: "#b9b9b9",
}


def plot_session(store: Store, key: str, path: Path) -> Path:
    """Write a PNG for one session; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = plot_path(Path(path))
    samples = store.samples(key)
    if not samples:
        raise RetrorunError(f"session {key} has no samples to plot")
    t = [s["t_ms"] / 1000 for s in samples]
    fig, (ax_d, ax_c, ax_p) = plt.subplots(3, 1, figsize=(10, 7), sharex=True,
                                           gridspec_kw={"height_ratios": [3, 1.2, 1.2]})
    _alert_bands(ax_d, samples)
    dist_t = [s["t_ms"] / 1000 for s in samples if s["distance_mm"] >= 0]
    dist = [s["distance_mm"] / 1000 for s in samples if s["distance_mm"] >= 0]
    ax_d.plot(dist_t, dist, ".", ms=3, color="#1f4e79",
              label=distance_label(store.session_meta(key)["sample_period_ms"]))
    for index, snap in enumerate(store.snapshots(key)):
        st = [(snap["t_ms"] + i * snap["period_ms"]) / 1000 for i in range(len(snap["distances"]))]
        sd = [d / 1000 if d >= 0 else float("nan") for d in snap["distances"]]
        ax_d.plot(st, sd, "-", lw=1, color="#c00000",
                  label="full-rate snapshot" if index == 0 else None)
    ax_d.set_ylabel("distance behind (m)")
    ax_d.set_ylim(bottom=0)
    ax_d.set_title(f"retrorun session {key}")
    handles, labels = ax_d.get_legend_handles_labels()
    handles += [plt.Rectangle((0, 0), 1, 1, color=c) for c in ALERT_COLOURS.values()]
    labels += [wire.ALERT_NAMES[level] for level in ALERT_COLOURS]
    ax_d.legend(handles, labels, loc="upper right", fontsize=8, ncol=3)
    ax_c.plot(t, [s["cadence"] for s in samples], color="#2e7d32")
    ax_c.set_ylabel("cadence (spm)")
    ax_p.plot(t, [s["trunk_deg10"] / 10 for s in samples], color="#6a1b9a")
    ax_p.set_ylabel("trunk (deg)")
    ax_p.set_xlabel("time (s)")
    return save_figure(fig, path, dpi=110)


def save_figure(fig, path: Path, *, dpi: int) -> Path:
    """Lay out, write and close a matplotlib figure; a path that cannot be written is one line."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise RetrorunError(f"cannot write the plot to {path} ({exc.strerror}); give a path in "
                            "a folder you can write") from exc
    finally:
        plt.close(fig)
    return path


def distance_label(sample_period_ms: int | None) -> str:
    """The legend of the sampled distance, from the period the session's header gives."""
    if not sample_period_ms:
        return "distance (samples)"
    return f"distance ({sample_period_ms / 1000:g} s samples)"


def plot_path(path: Path) -> Path:
    """The file the plot goes to: `path`, or `path`.png when it has no suffix (as matplotlib
    does); RetrorunError for a suffix matplotlib cannot write, before any drawing."""
    from matplotlib.backend_bases import FigureCanvasBase

    if not path.suffix:
        return path.with_name(path.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix[1:].lower() not in formats:
        raise RetrorunError(f"cannot write a plot as '{path.suffix}' ({path}); name a .png "
                            f"file (or one of {', '.join(sorted(formats))})")
    return path


def _alert_bands(ax, samples: list[dict]) -> None:
    """Shade the time spans spent at each alert level."""
    start = None
    level = wire.ALERT_CLEAR
    for s in [*samples, {"t_ms": samples[-1]["t_ms"] + 1000, "alert": wire.ALERT_CLEAR}]:
        if s["alert"] != level:
            if level in ALERT_COLOURS and start is not None:
                ax.axvspan(start, s["t_ms"] / 1000, color=ALERT_COLOURS[level], lw=0)
            level = s["alert"]
            start = s["t_ms"] / 1000
