"""The board's listeners with pyserial's real clients: socket://, a pty, and rfc2217://."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import serial

from retrorun.devtools.vboard.listen import ListenerEvents, make_listener


class Recorder(ListenerEvents):
    """Records events; echoes data back with a prefix when `echo` is set."""

    def __init__(self):
        self.data = bytearray()
        self.lines: list[tuple[bool | None, bool | None]] = []
        self.bauds: list[int] = []
        self.purges: list[int] = []
        self.connects = 0
        self.disconnects = 0
        self.listener = None

    def on_connect(self):
        self.connects += 1

    def on_disconnect(self):
        self.disconnects += 1

    def on_data(self, data):
        self.data += data
        self.listener.send(b"<" + data + b">")

    def on_lines(self, dtr, rts):
        self.lines.append((dtr, rts))

    def on_baud(self, baud):
        self.bauds.append(baud)

    def on_purge(self, what):
        self.purges.append(what)


@pytest.fixture
def serve():
    running = []

    def start(kind):
        events = Recorder()
        listener = make_listener(kind, events)
        events.listener = listener
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                listener.poll(0.02)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()

        def shutdown():  # as the board does: leave the poll loop, then close in that order
            stop.set()
            thread.join(5)
            listener.close()

        running.append(shutdown)
        events.shutdown = shutdown
        return listener, events

    yield start
    for shutdown in running:
        shutdown()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def read_exactly(port, n, timeout=5.0):
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < n and time.monotonic() < deadline:
        data += port.read(n - len(data))
    return data


def test_socket_round_trip_one_client_at_a_time_and_clean_close(serve):
    listener, events = serve("socket")
    assert listener.port.startswith("socket://127.0.0.1:")
    first = serial.serial_for_url(listener.port, timeout=2)
    assert wait_for(lambda: events.connects == 1)
    first.write(b"abc\xff\xc0")
    assert read_exactly(first, 7) == b"<abc\xff\xc0>"
    # a second client is turned away while the first holds the port
    second = socket.create_connection(("127.0.0.1", listener.tcp_port), timeout=2)
    assert second.recv(10) == b""  # closed by the board
    second.close()
    assert wait_for(lambda: listener.refused == 1)
    first.close()
    assert wait_for(lambda: events.disconnects == 1)
    again = serial.serial_for_url(listener.port, timeout=2)  # the port is free again
    again.write(b"x")
    assert read_exactly(again, 3) == b"<x>"
    again.close()
    events.shutdown()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", listener.tcp_port), timeout=1)


def test_pty_is_a_raw_serial_line(serve):
    listener, events = serve("pty")
    assert listener.port.startswith("/dev/")
    port = serial.Serial(listener.port, 115200, timeout=2)
    payload = bytes(range(256))  # every byte value, including ^C, ^D, XON/XOFF, CR
    port.write(payload)
    echoed = read_exactly(port, len(payload) + 2)
    assert echoed == b"<" + payload + b">"
    assert bytes(events.data) == payload
    port.close()


def test_rfc2217_negotiation_control_lines_baud_purge_and_iac_escaping(serve):
    listener, events = serve("rfc2217")
    assert listener.port.startswith("rfc2217://127.0.0.1:")
    port = serial.serial_for_url(listener.port, baudrate=115200, timeout=2)  # negotiates
    assert port.cts and port.dsr and port.cd  # the server sent NOTIFY-MODEMSTATE
    assert events.bauds[-1] == 115200
    opened = list(events.lines)
    assert opened == [(True, None), (None, True)]  # pyserial asserts DTR then RTS on open
    port.dtr = False
    port.rts = False
    assert events.lines[len(opened):] == [(False, None), (None, False)]
    assert (listener.dtr, listener.rts) == (False, False)
    port.baudrate = 460800
    assert events.bauds[-1] == 460800 and listener.baudrate == 460800
    purges = len(events.purges)
    port.reset_input_buffer()
    assert events.purges[purges:] == [1]
    port.write(b"\xff\x00\xff")  # telnet IAC must be doubled on the wire and undone
    assert read_exactly(port, 5) == b"<\xff\x00\xff>"
    assert bytes(events.data).endswith(b"\xff\x00\xff")
    port.close()
    assert wait_for(lambda: events.disconnects == 1)
    assert (listener.dtr, listener.rts) == (False, False)


def test_rfc2217_refuses_a_second_client(serve):
    listener, _ = serve("rfc2217")
    port = serial.serial_for_url(listener.port, timeout=2)
    with pytest.raises((serial.SerialException, OSError)):  # refused: EOF or broken pipe
        serial.serial_for_url(listener.port + "?timeout=1", timeout=1)
    port.write(b"ok")
    assert read_exactly(port, 4) == b"<ok>"
    port.close()
