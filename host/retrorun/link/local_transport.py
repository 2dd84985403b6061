"""A device whose firmware runs in real MicroPython on this machine, its flash a host folder.

`MicroPythonTransport(fs_dir)` answers the same `Transport` calls as a board on a serial port,
by running `retrofw.api` in a fresh MicroPython VM per call with `fs_dir` mounted as `/`: the
JSON answers and the escaped binary reads are the device's own bytes. Tests use it to drive
sync through real device code quickly; the virtual board is the full path (REPL, mpremote).
"""

from __future__ import annotations

from pathlib import Path

from retrorun.devtools.mpy import MicroPython
from retrorun.link.serial_transport import decode_read_answer, parse_answer
from retrorun.link.transport import Transport


class MicroPythonTransport(Transport):
    def __init__(self, fs_dir: str | Path, *, mpy: MicroPython | None = None):
        self.fs_dir = Path(fs_dir)
        self.mpy = mpy or MicroPython()
        self.description = f"MicroPython on {self.fs_dir}"
        self.wire_bytes = 0  # bytes the device printed (what a serial line would carry)
        self.read_wire_bytes = 0  # of which: answers to read()

    def _run(self, code: str) -> bytes:
        chunks: list[bytes] = []
        result = self.mpy.run("import retrofw.api as _api\n_api.ROOT = '/'\n" + code,
                              fs=self.fs_dir, stdout=chunks.append)
        out = b"".join(chunks)
        self.wire_bytes += len(out)
        if result.exit_code != 0:
            lines = result.stderr.strip().splitlines() or ["an error"]
            from retrorun.link.serial_transport import DeviceError

            raise DeviceError(f"the device raised {lines[-1]}")
        return out

    def call(self, function: str, *args: object) -> dict:
        arguments = ", ".join(repr(a) for a in args)
        return parse_answer(function, self._run(f"_api.{function}({arguments})"))

    def read(self, session: int, offset: int, size: int) -> bytes:
        out = self._run(f"_api.read({session!r}, {offset}, {size})")
        self.read_wire_bytes += len(out)
        return decode_read_answer(out, offset)

    def close(self) -> None:
        pass
