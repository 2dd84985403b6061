"""Helpers for the app-mode tests: an AppDevice behind a loopback TCP port, and mpremote."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

from retrorun.devtools.vboard.repl import AppDevice


class Output:
    """Everything the device sent, with a wait-for helper."""

    def __init__(self):
        self.data = bytearray()
        self.cond = threading.Condition()

    def __call__(self, data: bytes) -> None:
        with self.cond:
            self.data.extend(data)
            self.cond.notify_all()

    def wait_for(self, needle: bytes, timeout: float = 10.0, start: int = 0) -> bytes:
        deadline = time.monotonic() + timeout
        with self.cond:
            while needle not in self.data[start:]:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{needle!r} not seen; got {bytes(self.data)[-300:]!r}")
                self.cond.wait(left)
            return bytes(self.data)

    def take(self) -> bytes:
        with self.cond:
            out = bytes(self.data)
            self.data.clear()
            return out


class LoopbackBoard:
    """A TCP server on 127.0.0.1 piping one client at a time to an AppDevice."""

    def __init__(self, fs_dir, **options):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.conn: socket.socket | None = None
        self.lock = threading.Lock()
        self.log = Output()
        self.device = AppDevice(fs_dir, self._write, **options)
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _write(self, data: bytes) -> None:
        self.log(data)
        with self.lock:
            conn = self.conn
        if conn is not None:
            try:
                conn.sendall(data)
            except OSError:
                pass

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.conn = conn
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    self.device.on_data(data)
            except OSError:
                pass
            with self.lock:
                self.conn = None
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.server.close()
        self.device.close()


def mpremote(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, timeout=timeout, text=True)
