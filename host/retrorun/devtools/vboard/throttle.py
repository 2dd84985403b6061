"""A loopback TCP proxy that behaves like a UART line: bytes flow at most `baud / 10` per
second each way (8N1: ten bit times per byte), and every byte is counted.

`ThrottledLine(target_port, baud=115200)` listens on 127.0.0.1; `port` is the
`socket://127.0.0.1:N` string a client (mpremote, retrorun) connects to instead of the board.
One client at a time; `to_host` / `to_device` count the bytes carried each way.
"""

from __future__ import annotations

import socket
import threading
import time


class ThrottledLine:
    def __init__(self, target_port: int, *, baud: int = 115200, chunk: int = 64):
        self.target_port = target_port
        self.bytes_per_s = baud / 10
        self.chunk = chunk
        self.to_host = 0
        self.to_device = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._open: list[socket.socket] = []  # sockets of the connection being carried
        self._thread = threading.Thread(target=self._serve, name="throttle", daemon=True)
        self._thread.start()

    @property
    def port(self) -> str:
        return f"socket://127.0.0.1:{self._server.getsockname()[1]}"

    def reset_counts(self) -> None:
        self.to_host = 0
        self.to_device = 0

    def drop(self) -> None:
        """Pull the cable: end the current connection at once (the board keeps running)."""
        for sock in list(self._open):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            board = socket.create_connection(("127.0.0.1", self.target_port))
            for sock in (client, board):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._open = [client, board]
            pumps = [threading.Thread(target=self._pump, args=(client, board, "to_device"),
                                      daemon=True),
                     threading.Thread(target=self._pump, args=(board, client, "to_host"),
                                      daemon=True)]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join()
            self._open = []
            for sock in (client, board):
                sock.close()

    def _pump(self, src: socket.socket, dst: socket.socket, counter: str) -> None:
        """Copy src -> dst no faster than the line rate (a byte's time is 1 / bytes_per_s)."""
        next_free = time.monotonic()
        try:
            while True:
                data = src.recv(self.chunk)
                if not data:
                    break
                now = time.monotonic()
                next_free = max(next_free, now) + len(data) / self.bytes_per_s
                delay = next_free - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                dst.sendall(data)
                setattr(self, counter, getattr(self, counter) + len(data))
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
