"""Requests from the laptop on the USB console, answered by the running app: `retrorun status`,
`sync` and `config` talk to a device that keeps warning and recording (the raw REPL would stop
it). Format (retrofw.wire, "Requests on the USB console"; docs/device-api.md):

    host:   #rr <seq> <op> <JSON array of arguments>
    device: @rq <seq> <JSON answer>
            @rq <seq> d <base64>   (read: data lines of up to CON_DATA_MAX bytes, then the JSON)

A request starts with '#': a board at its REPL reads it as a comment. Other input (a person
typing in a terminal) is ignored. The console is read without blocking a byte at a time while
select says there is one, so a half-sent line never holds up the motor; a read() answer yields
to the other tasks between its data lines. Ops are the device API's answers (retrofw.api);
the USB console is physical access, the owner's link: it needs no pairing.
"""

import asyncio
import binascii
import json
import sys

from retrofw import api, wire, wire_usb

try:
    from micropython import const
except ImportError:  # CPython (tooling only)

    def const(x):
        return x


_BYTES_PER_POLL = const(256)  # console bytes taken per poll: the rest waits for the next one


class ConsoleRequests:
    """Reads request lines from stdin and answers them on stdout (one request at a time)."""

    def __init__(self, on_clock=None):
        import select

        self.on_clock = on_clock  # called with (was, unix_s) after the host set the clock
        self.stdin = sys.stdin
        self.raw = getattr(sys.stdin, "buffer", sys.stdin)
        self.poller = select.poll()
        self.poller.register(self.stdin, select.POLLIN)
        self.line = bytearray(wire_usb.CON_LINE_MAX)
        self.n = 0
        self.overflow = False
        self.one = bytearray(1)
        self.chunk = bytearray(wire_usb.CON_DATA_MAX)
        self.requests = 0

    async def poll(self):
        """Take the bytes waiting on the console; answer a request line when one is complete."""
        for _ in range(_BYTES_PER_POLL):
            if not self.poller.poll(0):
                return
            if not self.raw.readinto(self.one):  # pyright: ignore[reportAttributeAccessIssue]
                return
            b = self.one[0]
            if b == 0x0A or b == 0x0D:
                if self.n:
                    await self._line()
                self.n = 0
                self.overflow = False
            elif self.n < len(self.line):
                self.line[self.n] = b
                self.n += 1
            else:
                self.overflow = True

    async def _line(self):
        head = wire_usb.CON_REQUEST.encode() + b" "
        if self.line[:len(head)] != head:
            return  # not for us
        try:
            text = bytes(self.line[len(head):self.n]).decode()
            parts = text.split(" ", 2)
            seq = int(parts[0])
        except (UnicodeError, ValueError):
            return  # no sequence number to answer to
        self.requests += 1
        if self.overflow:
            self._send(seq, {"ok": False, "error": "request longer than %d bytes"
                             % wire_usb.CON_LINE_MAX})
            return
        op = parts[1] if len(parts) > 1 else ""
        try:
            args = json.loads(parts[2]) if len(parts) > 2 else []
            if op == "read":
                await self._read(seq, *args)
                return
            answer = self._answer(op, args)
        except Exception as exc:  # noqa: BLE001  # a bad request never stops the app
            answer = {"ok": False, "error": "%s failed: %s" % (op, exc)}
        self._send(seq, answer)

    def _answer(self, op, args):
        if op == "status":
            return api.status_answer()
        if op == "sessions":
            return api.sessions_answer()
        if op == "digest":
            return api.digest_answer(args[0])
        if op == "mark_synced":
            return api.mark_synced_answer(args[0])
        if op == "config_get":
            return api.config_get_answer()
        if op == "config_set":
            return api.config_set_answer(args[0])
        if op == "clock":
            answer = api.clock_answer(args[0])
            if answer["ok"] and self.on_clock is not None:
                self.on_clock(answer["was"], args[0])
            return answer
        return {"ok": False, "error": "unknown request %r" % (op,)}

    def _send(self, seq, answer):
        print(wire_usb.CON_ANSWER, seq, json.dumps(answer, separators=(",", ":")))

    async def _read(self, seq, session, offset, size):
        """Bytes [offset, offset+size) of a session (size capped at API_READ_MAX) as data lines,
        then their size and CRC-32."""
        store = api._store()
        if not isinstance(session, int) or store.size(session) < 0:
            self._send(seq, {"ok": False, "error": "no session %s" % (session,)})
            return
        if offset < 0 or size < 0:
            self._send(seq, {"ok": False, "error": "offset and size must not be negative"})
            return
        size = min(size, wire.API_READ_MAX)
        chunk = self.chunk
        mv = memoryview(chunk)
        crc = 0
        sent = 0
        with open(store.path(session), "rb") as f:
            f.seek(offset)
            while sent < size:
                n = f.readinto(mv[:min(len(chunk), size - sent)])
                if not n:
                    break
                crc = binascii.crc32(mv[:n], crc)
                sent += n
                line = binascii.b2a_base64(mv[:n])  # pyright: ignore[reportArgumentType]
                print(wire_usb.CON_ANSWER, seq, wire_usb.CON_DATA, line.decode().strip())
                await asyncio.sleep_ms(0)  # the motor and the sensor go first
        self._send(seq, {"ok": True, "offset": offset, "size": sent, "crc": crc & 0xFFFFFFFF})


def start(on_clock=None):
    """The console reader, or None when this board's console cannot be polled."""
    try:
        return ConsoleRequests(on_clock)
    except (OSError, TypeError, ValueError, AttributeError) as exc:
        print("retrorun: USB requests unavailable:", exc)
        return None
