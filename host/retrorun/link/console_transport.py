"""The USB console link to a running app: requests it answers while it warns and records.

`ConsoleTransport.probe(port)` sends the laptop's clock as the first request (`#rr <seq> clock
[unix]`); an app that answers is running and stays so: status, sessions, reads and config go
over the console (format: retrofw.wire, "Requests on the USB console"; docs/device-api.md), and
the live lines it prints meanwhile are skipped. A board at its REPL takes the request for a
comment: then `probe` returns None and the caller falls back to the raw REPL
(`SerialTransport`), which is only ever needed when the app is not running.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import time

from retrofw import wire_usb
from retrorun.errors import RetrorunError
from retrorun.link.transport import TransferError, Transport, check_answer

PROBE_S = 0.8  # a running app answers within a few of its 50 ms console polls
PROBE_LIVE_S = 3.0  # ... and longer while it is seen printing live lines (busy writing flash)
ANSWER_S = 10.0  # one answer (a 4 KB read is ~0.5 s at 115200 baud)


class ConsoleTransport(Transport):
    def __init__(self, link, description: str, *, timeout: float = ANSWER_S):
        self._link = link
        self.description = description
        self.timeout = timeout
        self._seq = itertools.count(int(time.time() * 1000) % 900_000 + 1)
        self._buf = b""
        self.clock_was: int | None = None  # the board's clock before the probe set it

    @classmethod
    def probe(cls, port: str, *, baudrate: int = 115200, wait: float = PROBE_S,
              now: float | None = None) -> ConsoleTransport | None:
        """The running app on `port`, its clock set to the laptop's; None when no app answers
        (a board at its REPL, or silence)."""
        import serial

        try:
            link = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError):
            return None  # the raw REPL's attempt will say what is wrong with the port
        transport = cls(link, port)
        unix = int(time.time() if now is None else now)
        try:
            answer = transport._request("clock", [unix], timeout=wait, probe=True)
        except (RetrorunError, serial.SerialException, OSError):
            answer = None
        if answer is None or not answer.get("ok"):
            transport.close()
            return None
        transport.clock_was = answer.get("was")
        return transport

    # -- requests ----------------------------------------------------------------------------
    def _send(self, op: str, args: list) -> int:
        seq = next(self._seq)
        line = f"{wire_usb.CON_REQUEST} {seq} {op} {json.dumps(args, separators=(',', ':'))}\r\n"
        if len(line) - 2 > wire_usb.CON_LINE_MAX:
            raise RetrorunError(f"{op} request is too long for the device "
                                f"({len(line) - 2} > {wire_usb.CON_LINE_MAX} bytes); send fewer "
                                "changes at a time")
        self._link.write(line.encode())
        self._link.flush()
        return seq

    def _lines(self, deadline: float):
        """Console lines until the deadline (without their line ends)."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                yield line.rstrip(b"\r")
                continue
            if time.monotonic() >= deadline:
                return
            try:
                chunk = self._link.read(max(1, self._link.in_waiting))
            except OSError as exc:
                raise RetrorunError(f"lost the device on {self.description} ({exc}); "
                                    "reconnect and run the command again") from exc
            self._buf += chunk

    def _request(self, op: str, args: list, *, timeout: float | None = None,
                 probe: bool = False, data: list | None = None) -> dict | None:
        """Send one request; its JSON answer (data lines of a read go to `data`). None when
        nothing answered in time (probe: also when a REPL echoed the request)."""
        seq = self._send(op, args)
        head = f"{wire_usb.CON_ANSWER} {seq} ".encode()
        echo = f"{wire_usb.CON_REQUEST} {seq} ".encode()
        start = time.monotonic()
        deadline = start + (timeout or self.timeout)
        for line in self._lines(deadline):
            if line.startswith(head):
                rest = line[len(head):]
                if rest.startswith(wire_usb.CON_DATA.encode() + b" "):
                    if data is not None:
                        data.append(rest[len(wire_usb.CON_DATA) + 1:])
                    continue
                try:
                    return json.loads(rest)
                except json.JSONDecodeError as exc:
                    raise TransferError(f"the device's answer to {op} is garbled "
                                        f"({rest[:40]!r})") from exc
            if probe:
                if line.startswith(echo) or line.startswith(b">>> " + echo):
                    return None  # the REPL echoed it: no app is running
                if line.startswith(wire_usb.LIVE_PREFIX.encode()):
                    deadline = max(deadline, start + PROBE_LIVE_S)  # the app runs, but busy
        return None

    def call(self, function: str, *args: object) -> dict:
        answer = self._request(function, list(args))
        if answer is None:
            raise RetrorunError(f"the device on {self.description} stopped answering "
                                f"({function}); check the cable and run the command again")
        return check_answer(function, answer)

    def read(self, session: int, offset: int, size: int) -> bytes:
        lines: list[bytes] = []
        answer = self._request("read", [session, offset, size], data=lines)
        if answer is None:
            raise TransferError(f"no answer to read({session}, {offset}) in time")
        check_answer("read", answer)
        try:
            data = b"".join(base64.b64decode(line, validate=True) for line in lines)
        except (binascii.Error, ValueError) as exc:
            raise TransferError(f"read() data damaged in transit ({exc})") from exc
        if answer.get("offset") != offset or len(data) != answer.get("size") or \
                binascii.crc32(data) != answer.get("crc"):
            raise TransferError(f"read() chunk at {offset} failed its check (offset "
                                f"{answer.get('offset')}, {len(data)}/{answer.get('size')} "
                                "bytes, crc mismatch or lost line)")
        return data

    def close(self) -> None:
        try:
            self._link.close()
        except Exception:  # closing a dead link must not hide the real error
            pass
