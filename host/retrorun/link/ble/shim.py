"""`_bleio.PacketBuffer` for adafruit-blinka-bleio, the OS Bluetooth stack's `_bleio` on CPython.

The control client binds a `_bleio.PacketBuffer` to the control characteristic, as on
CircuitPython's native `_bleio`. adafruit-blinka-bleio 4.1.2 (bleak) has one that differs:

1. it takes `buffer_size` only, not CircuitPython's `max_packet_size` -> TypeError;
2. it never subscribes to notifications of a remote characteristic (native `_bleio` does), so
   no answer ever arrives;
3. `readinto()` returns 0 forever when nothing comes and a negative number instead of raising
   for a too-small buffer;
4. its queue keeps 4 packets and silently discards the oldest when full: a 1 KB answer is 52
   notifications at the smallest MTU and arrives on bleak's thread while the client thread may
   lag, so bytes would be lost without any error;
5. `outgoing_packet_length` is always 512, larger than one ATT write at a small MTU.

`CompatPacketBuffer` fixes all five; `install()` puts it in place of blinka's
`_bleio.PacketBuffer` (idempotent; nothing to do on bumble's `_bleio`, `bleio_bumble`, whose
PacketBuffer is CircuitPython's). A stall raises `LinkTimeout` and a dropped link raises
`_bleio.ConnectionError`, so the transport can ask again.
"""

from __future__ import annotations

import queue
import threading

from retrorun.link.ble.control import LinkTimeout

QUEUE_MIN_PACKETS = 64  # a whole READ answer (1 KB) at 20-byte packets is 52
DEFAULT_TIMEOUT = 5.0

__all__ = ["CompatPacketBuffer", "LinkTimeout", "install"]


def _payload_size(characteristic) -> int:
    """ATT payload of one notification/write on this characteristic's connection (MTU - 3)."""
    try:
        connection = characteristic.service.connection
    except (AttributeError, ValueError):
        return 20
    if connection is None:
        return 20
    try:
        return int(connection.max_packet_length)
    except (NotImplementedError, AttributeError):
        pass
    client = getattr(connection, "_bleak_client", None)
    mtu = getattr(client, "mtu_size", None)
    return int(mtu) - 3 if mtu else 20


class CompatPacketBuffer:
    """A `_bleio.PacketBuffer` with CircuitPython's signature and semantics, for blinka-bleio."""

    timeout = DEFAULT_TIMEOUT  # seconds; class-wide default, tests and the transport set it

    def __init__(self, characteristic, *, buffer_size: int, max_packet_size: int | None = None):
        self._characteristic = characteristic
        self._queue: queue.Queue = queue.Queue(max(buffer_size, QUEUE_MIN_PACKETS))
        self._max_packet_size = max_packet_size or 512
        self._closed = threading.Event()
        self.overflows = 0
        self.observer = None  # optional callable(packet) seeing every packet read
        characteristic._add_notify_callback(self._notify_callback)
        if getattr(characteristic.service, "remote", False):
            characteristic.set_cccd(notify=True)

    # called on bleak's thread (or the in-memory link) for every notification
    def _notify_callback(self, data) -> None:
        try:
            self._queue.put_nowait(bytes(data))
        except queue.Full:
            self.overflows += 1  # counted, and the transfer will fail loudly (timeout/mismatch)

    def _connected(self) -> bool:
        try:
            connection = self._characteristic.service.connection
            return connection is None or bool(connection.connected)
        except (AttributeError, ValueError, NotImplementedError):
            return True

    def readinto(self, buf) -> int:
        """Read one packet into buf; wait up to `timeout` seconds for it.

        Raises ValueError if the packet does not fit (as native `_bleio` does), LinkTimeout when
        nothing came, `_bleio.ConnectionError` when the link is gone.
        """
        import _bleio

        waited = 0.0
        step = 0.05
        while True:
            try:
                packet = self._queue.get(timeout=step)
                break
            except queue.Empty:
                waited += step
                if not self._connected():
                    raise _bleio.ConnectionError("the BLE link dropped") from None
                if waited >= self.timeout:
                    raise LinkTimeout(f"no packet for {self.timeout:.1f} s") from None
        if len(packet) > len(buf):
            raise ValueError(f"packet of {len(packet)} bytes does not fit in {len(buf)}")
        buf[: len(packet)] = packet
        if self.observer is not None:
            self.observer(packet)
        return len(packet)

    def write(self, data, *, header=None) -> int:
        packet = bytes(header) + bytes(data) if header else bytes(data)
        if len(packet) > self.outgoing_packet_length:
            raise ValueError(f"packet of {len(packet)} bytes exceeds one ATT write "
                             f"({self.outgoing_packet_length})")
        if not self._connected():
            import _bleio

            raise _bleio.ConnectionError("the BLE link dropped")
        self._characteristic.value = packet
        return len(packet)

    def drain(self) -> int:
        """Throw away packets still queued (before a resume); return how many."""
        n = 0
        while True:
            try:
                self._queue.get_nowait()
                n += 1
            except queue.Empty:
                return n

    def deinit(self) -> None:
        try:
            self._characteristic._remove_notify_callback(self._notify_callback)
        except (KeyError, AttributeError):
            pass

    @property
    def incoming_packet_length(self) -> int:
        return min(self._max_packet_size, _payload_size(self._characteristic))

    packet_size = incoming_packet_length

    @property
    def outgoing_packet_length(self) -> int:
        return min(self._max_packet_size, _payload_size(self._characteristic))


_installed = False


def install() -> None:
    """Make `_bleio.PacketBuffer` the compatible one (idempotent; call before binding)."""
    global _installed
    import _bleio

    if _bleio.__name__ != "_bleio":  # another _bleio (bleio_bumble) stands in: native semantics
        return
    if not _installed or _bleio.PacketBuffer is not CompatPacketBuffer:
        _bleio.PacketBuffer = CompatPacketBuffer
        _installed = True
