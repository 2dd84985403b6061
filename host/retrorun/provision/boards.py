"""Board registry: the profiles in boards/*.json, validated by the firmware's own validator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from retrofw import boardcheck
from retrorun.errors import RetrorunError
from retrorun.paths import boards_dir


@dataclass(frozen=True)
class Board:
    name: str
    path: Path
    profile: dict
    warnings: tuple[str, ...]


def load_profile(path: Path) -> Board:
    """Read and validate one profile file; RetrorunError names the file and the problem."""
    try:
        profile = json.loads(Path(path).read_text())
    except OSError as exc:
        raise RetrorunError(f"cannot read board profile {path}: {exc.strerror}; give a "
                            "profile .json file or a name from 'retrorun boards'") from exc
    except UnicodeDecodeError:
        raise RetrorunError(f"board profile {path} is not a text file; give a board profile "
                            ".json (see 'retrorun boards')") from None
    except json.JSONDecodeError as exc:
        raise RetrorunError(f"board profile {path} is not valid JSON (line {exc.lineno}: "
                            f"{exc.msg})") from exc
    try:
        warnings = boardcheck.validate(profile)
    except ValueError as exc:
        raise RetrorunError(f"board profile {path} is invalid: {exc}") from exc
    return Board(profile["name"], Path(path), profile, tuple(warnings))


def all_boards() -> dict[str, Board]:
    """Every shipped profile by name."""
    boards = {}
    for path in sorted(boards_dir().glob("*.json")):
        board = load_profile(path)
        boards[board.name] = board
    return boards


def get_board(name_or_path: str) -> Board:
    """A shipped profile by name, or a profile file by path."""
    if name_or_path.endswith(".json") or "/" in name_or_path:
        return load_profile(Path(name_or_path))
    boards = all_boards()
    if name_or_path not in boards:
        raise RetrorunError(f"unknown board '{name_or_path}'; known boards: "
                            f"{', '.join(sorted(boards))} (or give a profile file path)")
    return boards[name_or_path]
