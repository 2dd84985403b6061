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
    path = Path(platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    path = Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path
