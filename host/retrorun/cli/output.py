"""One output helper: JSON for machines, rich tables and progress for people.

`--json` output goes to stdout as one JSON document (stable keys, documented in docs/cli.md).
Human output uses rich; progress bars appear only when stdout is a terminal and `--json` is off.
Piped output is never wrapped: a table takes the width it needs and text runs to its end.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console, ConsoleDimensions
from rich.table import Table

# The width piped output is laid out in: wide enough that nothing a command prints wraps.
PIPE_WIDTH = 10_000


class _Console(Console):
    """rich's Console that does not wrap when it is not writing to a terminal (a pipe, a file):
    rich would otherwise lay it out at 80 columns (or $COLUMNS) and break sentences."""

    def __init__(self, *args, width: int | None = None, **kwargs):
        self._asked_width = width  # rich also takes $COLUMNS as a width; a pipe ignores it
        super().__init__(*args, width=width, **kwargs)

    def _size(self) -> ConsoleDimensions:
        if self.is_terminal or self._asked_width is not None:
            return Console.size.fget(self)  # type: ignore[attr-defined]
        return ConsoleDimensions(PIPE_WIDTH, Console.size.fget(self).height)  # type: ignore[attr-defined]

    size = property(_size, Console.size.fset)  # type: ignore[assignment]

    def _soft_wrap(self) -> bool:
        return self._soft_wrap_asked or not self.is_terminal

    def _set_soft_wrap(self, value: bool) -> None:
        self._soft_wrap_asked = value

    soft_wrap = property(_soft_wrap, _set_soft_wrap)  # type: ignore[assignment]


console: Console = _Console(highlight=False)
err_console: Console = _Console(highlight=False, stderr=True)  # notes that must not mix with --json


def emit_json(value: object) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]], *,
          whole: Sequence[int] = (0,)) -> None:
    """Print a table of rows (values are turned into text); all-empty column names: no header.

    The columns in `whole` (by index; default the first: a key, a session id, a board name,
    what a user types) are never cut or wrapped; the others wrap to fit the terminal."""
    text_rows = [["" if value is None else str(value) for value in row] for row in rows]
    tab = Table(title=title, show_edge=False, header_style="bold",
                show_header=any(columns))
    for index, column in enumerate(columns):
        if index in whole:
            longest = max((len(row[index]) for row in text_rows), default=0)
            tab.add_column(column, no_wrap=True, min_width=max(longest, len(column)))
        else:
            tab.add_column(column, overflow="fold")
    for row in text_rows:
        tab.add_row(*row)
    console.print(tab)


def duration(seconds: float | None) -> str:
    """A duration as h:mm:ss (0:19:54), as running watches and Garmin Connect show it."""
    if seconds is None:
        return "-"
    total = round(seconds)
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean 'X'?' for the closest choice to a mistyped word, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def show_progress(json_mode: bool) -> bool:
    """Progress bars only for a person at a terminal."""
    return not json_mode and console.is_terminal


Update = Callable[..., None]


@contextmanager
def progress(json_mode: bool, *, unit: str = "bytes") -> Iterator[Update | None]:
    """A rich progress bar for a person at a terminal; None when piped or with --json.

    Yields `update(label, done, total, detail="")`: one bar per label (a session, "files"),
    `detail` shown beside it (the file being sent). `unit` "bytes" shows sizes, "items" counts.
    The bars stay on screen when done, so what was transferred remains visible."""
    if not show_progress(json_mode):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), count,
                    TimeRemainingColumn(), TextColumn("{task.fields[detail]}"), console=console)
    tasks: dict[str, object] = {}

    def update(label: str, done: int, total: int, detail: str = "") -> None:
        if label not in tasks:
            tasks[label] = bars.add_task(label, total=total, detail=detail)
        bars.update(tasks[label], completed=done, total=total, detail=detail)  # type: ignore[arg-type]

    with bars:
        yield update


def confirm(question: str, *, yes: bool, refused: str) -> None:
    """Go on when `yes` (--yes) or a person at a terminal answers y; otherwise RetrorunError.

    `question` says what will happen ("delete session X"); `refused` is the one-line error when
    the answer is no (what was left as it was). Without a terminal the error asks for --yes."""
    from retrorun.errors import RetrorunError

    if yes:
        return
    if not sys.stdin.isatty():
        raise RetrorunError(f"{question}: confirm with --yes")
    if input(f"{question}? [y/N] ").strip().lower() not in ("y", "yes"):
        raise RetrorunError(refused)
