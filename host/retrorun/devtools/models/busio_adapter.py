"""A CircuitPython `busio.I2C` look-alike on the chip models of an `I2CBus`.

It lets the CircuitPython drivers (adafruit_vl53l1x, adafruit_lsm6ds, adafruit_mpu6050, through
adafruit_bus_device.I2CDevice and adafruit_register) run against the same model instances the
project's drivers use, as independent readers of the same chip state.

Raw I2C transactions become register accesses the way the chips' datasheets describe them: the
first byte(s) of a write are the register index (1 byte, or 2 for chips with 16-bit indices
such as the VL53L1X: `index_bytes={0x29: 2}`), the rest are data written from that index on; a
write of the index alone sets the index that the next read starts from (with or without a stop
in between: VL53L1X datasheet section 4, figure 14; a repeated start in
`writeto_then_readfrom`). A zero-length write is an address probe. An address nobody answers
raises OSError (ENODEV) like a NACK, through the `I2CBus`, whose `unplugged` set and
`transactions` count apply here too. As on CircuitPython, every transfer needs the lock
(`try_lock`) or raises RuntimeError.
"""

from __future__ import annotations

from retrorun.devtools.models.bus import I2CBus


class BusioI2C:
    """busio.I2C look-alike: try_lock/unlock, scan, writeto, readfrom_into, writeto_then_readfrom."""

    def __init__(self, bus: I2CBus, index_bytes: dict[int, int] | None = None):
        self.bus = bus
        self.index_bytes = dict(index_bytes or {})
        self._index: dict[int, int] = {}  # the register each device reads from next
        self._locked = False

    # -- locking, as busio.I2C -----------------------------------------------------------------
    def try_lock(self) -> bool:
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self) -> None:
        self._locked = False

    def deinit(self) -> None:
        self._locked = False

    def __enter__(self) -> BusioI2C:
        return self

    def __exit__(self, *exc) -> None:
        self.deinit()

    def _device(self, addr: int):
        if not self._locked:
            raise RuntimeError("Function requires lock")
        return self.bus._device(addr)

    # -- transfers -----------------------------------------------------------------------------
    def scan(self) -> list[int]:
        if not self._locked:
            raise RuntimeError("Function requires lock")
        return self.bus.scan()

    def writeto(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        device = self._device(address)
        data = bytes(buffer[start:end])
        n = self.index_bytes.get(address, 1)
        if not data:
            return  # a probe: the ACK was all
        if len(data) < n:
            raise OSError(f"I2C 0x{address:02x}: {len(data)}-byte write, the index has {n}")
        register = int.from_bytes(data[:n], "big")
        if len(data) > n:
            device.write(register, data[n:])
        else:
            self._index[address] = register

    def readfrom_into(
        self, address: int, buffer, *, start: int = 0, end: int | None = None
    ) -> None:
        device = self._device(address)
        end = len(buffer) if end is None else end
        buffer[start:end] = device.read(self._index.get(address, 0), end - start)

    def writeto_then_readfrom(
        self,
        address: int,
        buffer_out,
        buffer_in,
        *,
        out_start: int = 0,
        out_end: int | None = None,
        in_start: int = 0,
        in_end: int | None = None,
    ) -> None:
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)
