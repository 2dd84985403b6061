"""One output helper: JSON for machines, rich tables and progress for people.

`--json` output goes to stdout as one JSON document (stable keys, documented in docs/cli.md).
Human output uses rich; progress bars appear only when stdout is a terminal and `--json` is off.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(highlight=False, stderr=True)  # notes that must not mix with --json


def emit_json(value: object) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a table of rows (values are turned into text); all-empty column names: no header."""
    tab = Table(title=title, show_edge=False, header_style="bold",
                show_header=any(columns))
    for column in columns:
        tab.add_column(column)
    for row in rows:
        tab.add_row(*("" if value is None else str(value) for value in row))
    console.print(tab)


def show_progress(json_mode: bool) -> bool:
    """Progress bars only for a person at a terminal."""
    return not json_mode and sys.stdout.isatty()
