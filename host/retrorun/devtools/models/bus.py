"""Host-side buses that behave like MicroPython's machine.I2C and machine.UART.

Drivers take their bus as an argument, so tests hand them one of these wired to chip models.
An I2C device model implements `read(register, count) -> bytes` and
`write(register, data: bytes) -> None` (register-addressed transfers, auto-increment is the
model's business). An absent or unplugged device raises OSError(ENODEV) like a NACK on the ESP32.
"""

from __future__ import annotations

import errno


class I2CBus:
    """machine.I2C look-alike: readfrom_mem(_into), writeto_mem, scan."""

    def __init__(self, devices: dict[int, object] | None = None):
        self.devices: dict[int, object] = dict(devices or {})
        self.unplugged: set[int] = set()
        self.transactions = 0

    def _device(self, addr: int):
        self.transactions += 1
        device = self.devices.get(addr)
        if device is None or addr in self.unplugged:
            raise OSError(errno.ENODEV, f"I2C device 0x{addr:02x} does not ACK")
        return device

    def scan(self) -> list[int]:
        return sorted(a for a in self.devices if a not in self.unplugged)

    def readfrom_mem(self, addr: int, memaddr: int, nbytes: int, *, addrsize: int = 8) -> bytes:
        return bytes(self._device(addr).read(memaddr, nbytes))

    def readfrom_mem_into(self, addr: int, memaddr: int, buf, *, addrsize: int = 8) -> None:
        data = self._device(addr).read(memaddr, len(buf))
        buf[: len(data)] = data

    def writeto_mem(self, addr: int, memaddr: int, buf, *, addrsize: int = 8) -> None:
        self._device(addr).write(memaddr, bytes(buf))


class UARTPort:
    """machine.UART look-alike fed by a model: the model pushes bytes in, the driver reads them.

    `rxbuf`: receive buffer size like `machine.UART(..., rxbuf=n)` (the ESP32 port's default is
    256): bytes arriving while it is full are lost (`dropped`), as on the board. None: unlimited.
    """

    def __init__(self, rxbuf: int | None = None):
        self._rx = bytearray()
        self.tx = bytearray()
        self.rxbuf = rxbuf
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        """Bytes from the chip towards the ESP32."""
        if self.rxbuf is not None:
            room = max(self.rxbuf - len(self._rx), 0)
            self.dropped += max(len(data) - room, 0)
            data = data[:room]
        self._rx.extend(data)

    def any(self) -> int:
        return len(self._rx)

    def read(self, nbytes: int | None = None) -> bytes | None:
        if not self._rx:
            return None
        n = len(self._rx) if nbytes is None else min(nbytes, len(self._rx))
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def readinto(self, buf, nbytes: int | None = None) -> int | None:
        data = self.read(len(buf) if nbytes is None else nbytes)
        if data is None:
            return None
        buf[: len(data)] = data
        return len(data)

    def write(self, data) -> int:
        self.tx.extend(data)
        return len(data)
