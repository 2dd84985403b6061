"""Buffers of a remote characteristic's notifications: `CharacteristicBuffer` (a byte stream)
and `PacketBuffer` (whole notifications as packets, and packet-sized writes).

Notifications are added on the bumble loop's thread and read on the caller's: each buffer
holds its data under one `threading.Condition`, and a link loss wakes waiting readers.
"""

from __future__ import annotations

import collections
import threading
import time

from .basics import ConnectionError
from .gatt import Characteristic


def _connection_of(characteristic: Characteristic):
    return characteristic.service.connection


class CharacteristicBuffer:
    """Notified bytes of `characteristic` in a ring of `buffer_size` bytes; reads wait up to
    `timeout` seconds. Bytes that do not fit are dropped (counted in `overflows`)."""

    def __init__(self, characteristic: Characteristic, *, timeout: float = 1.0,
                 buffer_size: int = 64) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be >= 1")
        self._characteristic = characteristic
        self._size = buffer_size
        self.timeout = timeout
        self._data = bytearray()
        self._cond = threading.Condition()
        self._deinited = False
        self.overflows = 0
        characteristic._add_notify_callback(self._on_value)
        _connection_of(characteristic)._add_loss_listener(self._wake)

    def _on_value(self, value: bytes) -> None:  # on the loop's thread
        with self._cond:
            room = self._size - len(self._data)
            self._data += value[:room]
            self.overflows += max(0, len(value) - room)
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait(self, ready) -> None:
        """Wait (lock held) until ready(), the timeout, or a link loss."""
        connection = _connection_of(self._characteristic)
        self._cond.wait_for(lambda: ready() or not connection.connected, self.timeout)

    def _take(self, n: int) -> bytes:
        out = bytes(self._data[:n])
        del self._data[:n]
        return out

    def read(self, nbytes: int | None = None) -> bytes | None:
        """Up to nbytes (waiting up to `timeout` for them), or with no nbytes everything until
        `timeout` passes with nothing new; None if there was nothing."""
        self._check_deinit()
        with self._cond:
            if nbytes is not None:
                self._wait(lambda: len(self._data) >= nbytes)
                got = self._take(nbytes)
            else:
                got = b""
                while True:
                    self._wait(lambda: bool(self._data))
                    if not self._data:
                        break
                    got += self._take(len(self._data))
        return got or None

    def readinto(self, buf) -> int | None:
        """Read into buf (up to len(buf) bytes, waiting up to `timeout`); count or None."""
        got = self.read(len(buf))
        if got is None:
            return None
        buf[:len(got)] = got
        return len(got)

    def readline(self) -> bytes | None:
        """Bytes up to and including b"\\n" (or what came before `timeout`); None if nothing."""
        self._check_deinit()
        with self._cond:
            self._wait(lambda: b"\n" in self._data or len(self._data) >= self._size)
            end = self._data.find(b"\n")
            got = self._take(end + 1 if end >= 0 else len(self._data))
        return got or None

    @property
    def in_waiting(self) -> int:
        """Bytes buffered and not read yet."""
        with self._cond:
            return len(self._data)

    def reset_input_buffer(self) -> None:
        """Discard the buffered bytes."""
        with self._cond:
            self._data.clear()

    def deinit(self) -> None:
        """Stop buffering (the subscription itself stays as it is)."""
        if self._deinited:
            return
        self._deinited = True
        self._characteristic._remove_notify_callback(self._on_value)
        _connection_of(self._characteristic)._remove_loss_listener(self._wake)

    def _check_deinit(self) -> None:
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used")


class PacketBuffer:
    """Whole notifications of `characteristic` as packets, and packet-sized writes to it.

    As CircuitPython, the ring holds `buffer_size` packets of `max_packet_size` bytes (each
    stored packet costs its length + 2) and drops the oldest packets to make room (counted in
    `overflows`); subscribing to notifications (or indications) of a remote characteristic
    happens here. `readinto` returns 0 when no packet is there, after waiting at most
    `idle_wait` seconds (so polling loops do not spin a core) — except after a link loss,
    when it raises ConnectionError once the buffered packets are read.
    """

    idle_wait = 0.005  # seconds readinto waits for a packet before answering 0

    def __init__(self, characteristic: Characteristic, *, buffer_size: int,
                 max_packet_size: int | None = None) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be >= 1")
        self._characteristic = characteristic
        self._max_packet_size = max_packet_size or characteristic.max_length
        self._capacity = buffer_size * (self._max_packet_size + 2)
        self._packets: collections.deque[bytes] = collections.deque()
        self._used = 0
        self._cond = threading.Condition()
        self._deinited = False
        self.overflows = 0
        connection = _connection_of(characteristic)
        characteristic._add_notify_callback(self._on_value)
        connection._add_loss_listener(self._wake)
        props = characteristic.properties
        if props & (Characteristic.NOTIFY | Characteristic.INDICATE):
            characteristic.set_cccd(notify=bool(props & Characteristic.NOTIFY),
                                    indicate=not props & Characteristic.NOTIFY)

    def _on_value(self, value: bytes) -> None:  # on the loop's thread
        with self._cond:
            cost = len(value) + 2
            while self._packets and self._used + cost > self._capacity:
                self._used -= len(self._packets.popleft()) + 2
                self.overflows += 1
            self._packets.append(value)
            self._used += cost
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def readinto(self, buf) -> int:
        """Move the oldest packet into buf and return its length, or 0 if there is none.

        ValueError (and the packet stays) if it is longer than buf; ConnectionError when the
        link is lost and no packet is left.
        """
        self._check_deinit()
        connection = _connection_of(self._characteristic)
        with self._cond:
            if not self._packets and connection.connected:
                self._cond.wait_for(lambda: self._packets or not connection.connected,
                                    self.idle_wait)
            if not self._packets:
                if not connection.connected:
                    raise ConnectionError("Not connected")
                return 0
            packet = self._packets[0]
            if len(packet) > len(buf):
                raise ValueError(f"Buffer too short by {len(packet) - len(buf)} bytes")
            self._packets.popleft()
            self._used -= len(packet) + 2
        buf[:len(packet)] = packet
        return len(packet)

    def write(self, data, *, header=None) -> int:
        """Send header + data as one packet (a write without response if the characteristic
        allows it); returns its length. ValueError if it exceeds `outgoing_packet_length`."""
        self._check_deinit()
        packet = bytes(header or b"") + bytes(data)
        connection = _connection_of(self._characteristic)
        connection._check()
        if len(packet) > self.outgoing_packet_length:
            raise ValueError(f"Total data to write is larger than outgoing_packet_length "
                             f"({len(packet)} > {self.outgoing_packet_length})")
        self._characteristic._write(packet)
        return len(packet)

    def wait_for_packet(self, timeout: float) -> bool:
        """Extra (not in CircuitPython): block until a packet is buffered; False on timeout."""
        connection = _connection_of(self._characteristic)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.wait_for(lambda: self._packets or not connection.connected,
                                max(0.0, deadline - time.monotonic()))
            return bool(self._packets)

    @property
    def incoming_packet_length(self) -> int:
        """Largest packet a notification can carry: min(max_packet_size, ATT MTU - 3)."""
        return min(self._max_packet_size,
                   _connection_of(self._characteristic).max_packet_length)

    packet_size = incoming_packet_length

    @property
    def outgoing_packet_length(self) -> int:
        """Largest packet `write` sends: min(max_packet_size, ATT MTU - 3)."""
        return min(self._max_packet_size,
                   _connection_of(self._characteristic).max_packet_length)

    def deinit(self) -> None:
        """Stop buffering (the subscription itself stays as it is)."""
        if self._deinited:
            return
        self._deinited = True
        self._characteristic._remove_notify_callback(self._on_value)
        _connection_of(self._characteristic)._remove_loss_listener(self._wake)

    def _check_deinit(self) -> None:
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used")
