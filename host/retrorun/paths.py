"""Where the tool finds what it ships (firmware, board profiles) and where it keeps its files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "retrorun"


def _shipped(package: str, checkout_folder: str) -> Path:
    """A data folder shipped in the wheel as `package`, or the folder in a source checkout."""
    try:
        return Path(str(resources.files(package)))
    except ModuleNotFoundError:  # editable install: setuptools maps only real packages
        return Path(__file__).resolve().parents[2] / checkout_folder


def firmware_dir() -> Path:
    """The folder holding main.py and boot.py, as deployed to the board's root."""
    return _shipped("retrorun._firmware", "firmware")


def retrofw_parent() -> Path:
    """The folder that contains the importable `retrofw` package (what MicroPython puts on path)."""
    import retrofw

    return Path(retrofw.__file__).resolve().parent.parent


def boards_dir() -> Path:
    """The folder of board profiles (boards/*.json)."""
    return _shipped("retrorun._boards", "boards")


def cache_dir() -> Path:
    return _user_dir(Path(platformdirs.user_cache_dir(APP_NAME)), "cache", "XDG_CACHE_HOME")


def data_dir() -> Path:
    return _user_dir(Path(platformdirs.user_data_dir(APP_NAME)), "data", "XDG_DATA_HOME")


def _user_dir(path: Path, what: str, variable: str) -> Path:
    """`path`, created when missing; RetrorunError when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from retrorun.errors import RetrorunError

        raise RetrorunError(f"cannot create the {what} folder {path} ({exc.strerror}); make "
                            f"it writable (on Linux, {variable} moves it)") from exc
    return path
