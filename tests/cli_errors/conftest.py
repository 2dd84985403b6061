"""Fixtures for the CLI error tests: `fails(argv)` runs `retrorun.cli.main.main` in a scratch folder
with its own user folders and returns the one error line after checking the contract (exit status 1,
a single stderr line starting with `retrorun: `, no traceback)."""

from __future__ import annotations

import pytest

from retrorun.cli.main import main


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A scratch current folder; the user data, cache and config folders live inside it."""
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_CONFIG_HOME", "config")):
        monkeypatch.setenv(var, str(tmp_path / "home" / sub))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fails(work, capsys):
    def run(argv: list[str]) -> str:
        status = main([str(a) for a in argv])
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert status == 1, err
        assert len(lines) == 1 and lines[0].startswith("retrorun: "), err
        return lines[0]

    return run


@pytest.fixture
def garbage(work):
    """A file of bytes that are neither UTF-8 nor JSON."""
    path = work / "garbage.bin"
    path.write_bytes(b"\xff\xfe\xb2\x00" + bytes(range(256)))
    return path
