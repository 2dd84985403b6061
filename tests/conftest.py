"""Shared fixtures.

- `mpy`: a MicroPython factory (real MicroPython, WASI build under wasmtime).
- `both`: runs a snippet that sets `result` under CPython and under MicroPython and asserts the
  two results are identical (after a JSON round trip); returns the result.
- `device_fs`: an empty folder mounted as the device's `/` for MicroPython runs.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from retrorun.devtools.mpy import MicroPython


@pytest.fixture(scope="session")
def mpy() -> MicroPython:
    return MicroPython()


def run_cpython(code: str, fs=None) -> object:
    """Run a `result = ...` snippet under CPython, as the MicroPython side runs it."""
    namespace: dict = {}
    exec(compile(code, "<snippet>", "exec"), namespace)
    return json.loads(json.dumps(namespace["result"]))


class BothRuntimes:
    def __init__(self, mpy: MicroPython):
        self.mpy = mpy

    def run(self, code: str) -> object:
        expected = run_cpython(code)
        got = self.mpy.eval(code)
        assert got == expected, f"MicroPython gave {got!r}, CPython gave {expected!r}"
        return got


@pytest.fixture
def both(mpy: MicroPython) -> BothRuntimes:
    return BothRuntimes(mpy)


@pytest.fixture
def device_fs(tmp_path):
    root = tmp_path / "device"
    root.mkdir()
    return root


_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    # wasmtime's WASI worker threads panic on stderr while the interpreter finalises, after the
    # summary line. Leave right after pytest is done, with pytest's own exit status.
    if os.environ.get("RETRORUN_KEEP_FINALIZE"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
