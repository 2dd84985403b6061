"""Where the virtual board's serial port appears: a TCP socket, a pseudo-terminal or RFC 2217.

All listeners are loopback only and serve one client at a time (a second connection is closed
at once, like a serial port another program holds). Each gives the port string the tools accept:

- `socket`: a TCP server, `socket://127.0.0.1:N` (pyserial's raw socket transport; no modem
  lines, so esptool needs `--before no-reset`).
- `pty`: a pseudo-terminal; the port string is the slave device path (`/dev/pts/N`).
- `rfc2217`: a Telnet server speaking RFC 2217 (`rfc2217://127.0.0.1:N`): option negotiation
  (BINARY, SGA, COM-PORT-OPTION 44; ECHO refused), SET-BAUDRATE/DATASIZE/PARITY/STOPSIZE,
  SET-CONTROL (flow control, BREAK, DTR, RTS), PURGE-DATA, line/modem-state masks and
  NOTIFY-MODEMSTATE, SIGNATURE. Every request is acknowledged with its code + 100 and the value,
  which is what pyserial's client waits for. DTR and RTS reach the board (its auto-reset).

The board thread calls `poll(timeout)`, which dispatches to a `ListenerEvents`; `send(data)` may
be called from any thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import struct
import threading
import time
import tty

# Telnet (RFC 854/855) and RFC 2217 codes
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
OPT_BINARY, OPT_ECHO, OPT_SGA, OPT_COM_PORT = 0, 1, 3, 44
SIGNATURE, SET_BAUDRATE, SET_DATASIZE, SET_PARITY, SET_STOPSIZE, SET_CONTROL = 0, 1, 2, 3, 4, 5
NOTIFY_LINESTATE, NOTIFY_MODEMSTATE, FLOWCONTROL_SUSPEND, FLOWCONTROL_RESUME = 6, 7, 8, 9
SET_LINESTATE_MASK, SET_MODEMSTATE_MASK, PURGE_DATA = 10, 11, 12
SERVER_OFFSET = 100
MODEM_CD, MODEM_DSR, MODEM_CTS = 0x80, 0x20, 0x10

SEND_TIMEOUT_S = 10.0


class ListenerEvents:
    """What a listener reports to the board (override what you need)."""

    def on_connect(self) -> None: ...

    def on_disconnect(self) -> None: ...

    def on_data(self, data: bytes) -> None: ...

    def on_lines(self, dtr: bool | None, rts: bool | None) -> None: ...

    def on_baud(self, baud: int) -> None: ...

    def on_purge(self, what: int) -> None: ...


class Listener:
    """Base: a port string, `poll`, thread-safe `send`, `close`."""

    kind = ""
    port = ""

    def __init__(self, events: ListenerEvents) -> None:
        self.events = events
        self._lock = threading.Lock()
        self.connected = False

    def poll(self, timeout: float) -> None:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SocketListener(Listener):
    """A TCP server on 127.0.0.1: raw bytes both ways."""

    kind = "socket"
    scheme = "socket"

    def __init__(self, events: ListenerEvents, tcp_port: int = 0) -> None:
        super().__init__(events)
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", tcp_port))
        self._server.listen(4)
        self.tcp_port = self._server.getsockname()[1]
        self.port = f"{self.scheme}://127.0.0.1:{self.tcp_port}"
        self._client: socket.socket | None = None
        self._dead = False
        self.refused = 0

    # -- board thread --
    def poll(self, timeout: float) -> None:
        if self._dead:
            self._drop_client()
        sockets = [self._server] + ([self._client] if self._client else [])
        try:
            readable, _, _ = select.select(sockets, [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return  # closed under us during shutdown
        if self._client is not None and self._client in readable:
            try:
                data = self._client.recv(65536)
            except OSError:
                data = b""
            if data:
                self._incoming(data)
            else:
                self._drop_client()
        if self._server in readable:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if self._client is not None:
                self.refused += 1
                conn.close()  # one client at a time
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(SEND_TIMEOUT_S)
            with self._lock:
                self._client = conn
                self._dead = False
            self.connected = True
            self._accepted()
            self.events.on_connect()

    def _accepted(self) -> None:
        """Hook: the client has just connected."""

    def _incoming(self, data: bytes) -> None:
        self.events.on_data(data)

    def _drop_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._dead = False
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()
            self.connected = False
            self.events.on_disconnect()

    # -- any thread --
    def _send_raw(self, data: bytes) -> None:
        with self._lock:
            if self._client is None or self._dead or not data:
                return
            try:
                self._client.sendall(data)
            except OSError:
                self._dead = True  # the board thread drops it on its next poll

    def send(self, data: bytes) -> None:
        self._send_raw(data)

    def close(self) -> None:
        self._drop_client()
        with contextlib.suppress(OSError):
            self._server.close()


class Rfc2217Listener(SocketListener):
    """RFC 2217 (Telnet COM port control) server on 127.0.0.1."""

    kind = "rfc2217"
    scheme = "rfc2217"

    def __init__(self, events: ListenerEvents, tcp_port: int = 0) -> None:
        super().__init__(events, tcp_port)
        self.baudrate = 115200
        self.datasize = 8
        self.parity = 1  # NONE
        self.stopsize = 1
        self.flow = 1  # no flow control
        self.break_on = False
        self.dtr = False
        self.rts = False
        self._reset_telnet()

    def _reset_telnet(self) -> None:
        self._mode = "data"
        self._sub: bytearray | None = None
        self._verb = 0
        self._ours: set[int] = set()  # options we WILL do
        self._theirs: set[int] = set()  # options we asked them to DO / accepted
        self._notified = False

    def _accepted(self) -> None:
        self._reset_telnet()
        self._ours.add(OPT_BINARY)
        self._theirs.add(OPT_BINARY)
        self._send_raw(bytes((IAC, WILL, OPT_BINARY, IAC, DO, OPT_BINARY)))

    def _drop_client(self) -> None:
        was = self._client is not None
        super()._drop_client()
        if was:
            self.dtr = self.rts = False  # a closed port leaves the modem lines deasserted

    def send(self, data: bytes) -> None:
        self._send_raw(data.replace(b"\xff", b"\xff\xff"))

    # -- telnet parsing (board thread) --
    def _incoming(self, data: bytes) -> None:
        plain = bytearray()
        for byte in data:
            if self._mode == "data":
                if byte == IAC:
                    self._mode = "iac"
                elif self._sub is not None:
                    self._sub.append(byte)
                else:
                    plain.append(byte)
            elif self._mode == "iac":
                self._mode = "data"
                if byte == IAC:
                    (self._sub if self._sub is not None else plain).append(IAC)
                elif byte == SB:
                    self._sub = bytearray()
                elif byte == SE:
                    if plain:
                        self.events.on_data(bytes(plain))
                        plain = bytearray()
                    sub, self._sub = self._sub, None
                    if sub:
                        self._subnegotiation(bytes(sub))
                elif byte in (DO, DONT, WILL, WONT):
                    self._verb = byte
                    self._mode = "option"
                # other telnet commands (NOP, AYT, ...) are ignored
            else:  # option byte after DO/DONT/WILL/WONT
                self._mode = "data"
                if plain:
                    self.events.on_data(bytes(plain))
                    plain = bytearray()
                self._negotiate(self._verb, byte)
        if plain:
            self.events.on_data(bytes(plain))

    def _negotiate(self, verb: int, option: int) -> None:
        if verb == DO:  # they want us to do it
            if option in (OPT_BINARY, OPT_SGA, OPT_COM_PORT):
                if option not in self._ours:
                    self._ours.add(option)
                    self._send_raw(bytes((IAC, WILL, option)))
            else:
                self._send_raw(bytes((IAC, WONT, option)))
        elif verb == WILL:  # they offer to do it
            if option in (OPT_BINARY, OPT_SGA, OPT_COM_PORT):
                if option not in self._theirs:
                    self._theirs.add(option)
                    self._send_raw(bytes((IAC, DO, option)))
            else:
                self._send_raw(bytes((IAC, DONT, option)))
        elif verb == DONT:
            if option in self._ours:
                self._ours.discard(option)
                self._send_raw(bytes((IAC, WONT, option)))
        elif verb == WONT and option in self._theirs:
            self._theirs.discard(option)
            self._send_raw(bytes((IAC, DONT, option)))
        if option == OPT_COM_PORT and not self._notified and (
                OPT_COM_PORT in self._ours or OPT_COM_PORT in self._theirs):
            self._notified = True
            self._reply(NOTIFY_MODEMSTATE, bytes((self.modem_state(),)))

    def modem_state(self) -> int:
        return MODEM_CD | MODEM_DSR | MODEM_CTS

    def _reply(self, code: int, value: bytes) -> None:
        body = bytes((OPT_COM_PORT, code + SERVER_OFFSET)) + value
        self._send_raw(bytes((IAC, SB)) + body.replace(b"\xff", b"\xff\xff") + bytes((IAC, SE)))

    def _subnegotiation(self, sub: bytes) -> None:
        if sub[0] != OPT_COM_PORT or len(sub) < 2:
            return
        code, value = sub[1], sub[2:]
        if code == SIGNATURE:
            self._reply(SIGNATURE, b"retrorun vboard (virtual ESP32-DevKitC)")
        elif code == SET_BAUDRATE and len(value) == 4:
            (baud,) = struct.unpack("!I", value)
            if baud:
                self.baudrate = baud
                self.events.on_baud(baud)
            self._reply(code, struct.pack("!I", self.baudrate))
        elif code in (SET_DATASIZE, SET_PARITY, SET_STOPSIZE) and len(value) == 1:
            attr = {SET_DATASIZE: "datasize", SET_PARITY: "parity", SET_STOPSIZE: "stopsize"}[code]
            if value[0]:
                setattr(self, attr, value[0])
            self._reply(code, bytes((getattr(self, attr),)))
        elif code == SET_CONTROL and len(value) == 1:
            self._reply(code, bytes((self._control(value[0]),)))
        elif code == NOTIFY_MODEMSTATE:  # a poll
            self._reply(NOTIFY_MODEMSTATE, bytes((self.modem_state(),)))
        elif code == NOTIFY_LINESTATE:
            self._reply(NOTIFY_LINESTATE, b"\x00")
        elif code in (SET_LINESTATE_MASK, SET_MODEMSTATE_MASK):
            self._reply(code, value[:1])
        elif code == PURGE_DATA and len(value) == 1:
            self.events.on_purge(value[0])
            self._reply(code, value)
        # FLOWCONTROL_SUSPEND / RESUME need no answer; anything else is ignored

    def _control(self, request: int) -> int:
        """Apply a SET-CONTROL request; returns the value to acknowledge."""
        if request == 0:
            return self.flow
        if request in (1, 2, 3):
            self.flow = request
        elif request == 4:
            return 5 if self.break_on else 6
        elif request in (5, 6):
            self.break_on = request == 5
        elif request == 7:
            return 8 if self.dtr else 9
        elif request in (8, 9):
            self.dtr = request == 8
            self.events.on_lines(self.dtr, None)
        elif request == 10:
            return 11 if self.rts else 12
        elif request in (11, 12):
            self.rts = request == 11
            self.events.on_lines(None, self.rts)
        return request


class PtyListener(Listener):
    """A pseudo-terminal: the client opens the slave path; the board holds the master."""

    kind = "pty"

    def __init__(self, events: ListenerEvents) -> None:
        super().__init__(events)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: a plain 8-bit serial line
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._closed = False
        self.connected = True  # a pty has no connect/disconnect: it is always "attached"

    def poll(self, timeout: float) -> None:
        if self._closed:
            time.sleep(timeout)
            return
        try:
            readable, _, _ = select.select([self._master], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return
        if readable:
            try:
                data = os.read(self._master, 65536)
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EAGAIN):
                    raise
                return
            if data:
                self.events.on_data(data)

    def send(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            deadline = time.monotonic() + SEND_TIMEOUT_S
            while view and not self._closed:
                try:
                    written = os.write(self._master, view)
                    view = view[written:]
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        return  # nobody reads the port: drop, like a UART with no listener
                    select.select([], [self._master], [], 0.1)
                except OSError:
                    return

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)


LISTENERS = ("socket", "pty", "rfc2217")


def make_listener(kind: str, events: ListenerEvents, tcp_port: int = 0) -> Listener:
    """A listener by name: `socket`, `rfc2217` or `pty`."""
    if kind == "pty":
        return PtyListener(events)
    if kind == "socket":
        return SocketListener(events, tcp_port)
    if kind == "rfc2217":
        return Rfc2217Listener(events, tcp_port)
    raise ValueError(f"unknown listener {kind!r}; choose socket, rfc2217 or pty")
