"""What the virtual board's two MicroPython runtimes share: one boot of the board (`BoardVM`).

A VM runs one program: parameters the host prepends, the runtime's set-up
(`device/_vbnative.py` or `device/_vbwasi.py`) and the job loop (`device/_vbjobs.py`). `dev`
is the AppDevice: it answers the guest's host calls and takes its output. Subclasses
(runtime_native.NativeVM, runtime_wasi.WasiVM) provide run(), stop(), interrupt(), cpu_us()
and mark().
"""

from __future__ import annotations

from pathlib import Path


class BoardVM:
    SETUP = ""  # the runtime's set-up file in device/

    def __init__(self, dev, device_dir: Path, fs_dir: Path, mounts: dict[str, Path],
                 paths: list[str], heap_kb: int):
        self.dev = dev
        self.device_dir = device_dir
        self.fs_dir = fs_dir
        self.mounts = mounts
        self.paths = paths
        self.heap_kb = heap_kb

    def console_in(self, data: bytes) -> int:
        """Hand serial input to the guest's stdin; how many bytes it took (-1: it has no stdin
        the host can feed, as on the WASI runtime)."""
        return -1

    def program(self, params: str) -> str:
        """The guest's program: `params` (Python assignments; ROMFS_BUILD: whether this
        MicroPython has ROMFS, AppDevice.build; UNAME: the port's os.uname() for the board's
        chip), the set-up, the job loop."""
        from retrorun.devtools.vboard.repl import uname

        params += f"ROMFS_BUILD = {self.dev.build == 'romfs'!r}\n"
        params += f"UNAME = {uname(self.dev.profile)!r}\n"
        return (params + (self.device_dir / self.SETUP).read_text()
                + (self.device_dir / "_vbjobs.py").read_text())
