"""The value types of `_bleio` (exceptions, Attribute, Address, UUID) and their conversion to
and from bumble's (`bumble.hci.Address`, `bumble.core.UUID`).

Semantics follow CircuitPython's native `_bleio`: address bytes are little-endian (reversed
from the printed form), UUIDs are 16-bit (an int) or 128-bit (16 little-endian bytes, or the
usual string), and a 16-bit UUID never equals its 128-bit expansion.
"""

from __future__ import annotations

import re

from bumble import core, hci


class BluetoothError(Exception):
    """Catch-all exception for Bluetooth related errors."""


class ConnectionError(BluetoothError):  # shadows the builtin, as in _bleio
    """The connection is unavailable: never made, closed, or the link was lost."""


class RoleError(BluetoothError):
    """A resource was used in the wrong role (e.g. a local CCCD set from the server side)."""


class SecurityError(BluetoothError):
    """Pairing or encryption failed."""


class Attribute:
    """Security modes of a characteristic or descriptor (CircuitPython's values)."""

    NO_ACCESS = 0x00
    OPEN = 0x11
    ENCRYPT_NO_MITM = 0x21
    ENCRYPT_WITH_MITM = 0x31
    LESC_ENCRYPT_WITH_MITM = 0x41
    SIGNED_NO_MITM = 0x12
    SIGNED_WITH_MITM = 0x22


class Address:
    """A Bluetooth device address: 6 little-endian bytes and a type."""

    PUBLIC = 0x0
    RANDOM_STATIC = 0x1
    RANDOM_PRIVATE_RESOLVABLE = 0x2
    RANDOM_PRIVATE_NON_RESOLVABLE = 0x3

    def __init__(self, address: bytes, address_type: int) -> None:
        address = bytes(address)
        if len(address) != 6:
            raise ValueError("Address must be 6 bytes long")
        if address_type not in range(4):
            raise ValueError("Address type out of range")
        self._bytes = address
        self._type = address_type

    @property
    def address_bytes(self) -> bytes:
        """The 6 address bytes, least significant first (reverse of the printed form)."""
        return self._bytes

    @property
    def type(self) -> int:
        """One of PUBLIC, RANDOM_STATIC, RANDOM_PRIVATE_RESOLVABLE, RANDOM_PRIVATE_NON_RESOLVABLE."""
        return self._type

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return self._bytes == other._bytes and self._type == other._type

    def __hash__(self) -> int:
        return hash((self._bytes, self._type))

    def __str__(self) -> str:
        return ":".join(f"{b:02x}" for b in reversed(self._bytes))

    def __repr__(self) -> str:
        return f'<Address {self}>'


def address_from_bumble(address: hci.Address) -> Address:
    """bumble's address (public/random, bytes little-endian) -> _bleio.Address with subtype."""
    raw = bytes(address.address_bytes)
    if address.address_type in (hci.Address.PUBLIC_DEVICE_ADDRESS,
                                hci.Address.PUBLIC_IDENTITY_ADDRESS):
        return Address(raw, Address.PUBLIC)
    subtype = raw[5] >> 6  # the two most significant bits of a random address
    kind = {0b11: Address.RANDOM_STATIC, 0b01: Address.RANDOM_PRIVATE_RESOLVABLE}.get(
        subtype, Address.RANDOM_PRIVATE_NON_RESOLVABLE)
    return Address(raw, kind)


def address_to_bumble(address: Address) -> hci.Address:
    kind = (hci.Address.PUBLIC_DEVICE_ADDRESS if address.type == Address.PUBLIC
            else hci.Address.RANDOM_DEVICE_ADDRESS)
    return hci.Address(address.address_bytes, kind)


_UUID_STR = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BASE_UUID = bytes.fromhex("0000000000001000800000805f9b34fb")[::-1]  # little-endian


class UUID:
    """A 16-bit (standard) or 128-bit (vendor) UUID.

    UUID(0x180F); UUID(16 little-endian bytes); UUID("6e400001-b5a3-f393-e0a9-e50e24dcca9e").
    """

    def __init__(self, value: int | bytes | bytearray | memoryview | str) -> None:
        if isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("UUID integer value must be 0-0xffff")
            self._uuid16: int | None = value
            self._uuid128 = _BASE_UUID[:12] + value.to_bytes(2, "little") + _BASE_UUID[14:]
        elif isinstance(value, str):
            if not _UUID_STR.fullmatch(value):
                raise ValueError("UUID string not 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'")
            self._uuid16 = None
            self._uuid128 = bytes.fromhex(value.replace("-", ""))[::-1]
        else:
            try:
                raw = bytes(memoryview(value))
            except TypeError:
                raise ValueError("UUID value is not str, int or byte buffer")
            if len(raw) != 16:
                raise ValueError("Byte buffer must be 16 bytes")
            self._uuid16 = None
            self._uuid128 = raw

    @property
    def uuid16(self) -> int:
        """The 16-bit value; for a 128-bit UUID, bytes 12-13 of it (as CircuitPython)."""
        if self._uuid16 is not None:
            return self._uuid16
        return int.from_bytes(self._uuid128[12:14], "little")

    @property
    def uuid128(self) -> bytes:
        """The 128-bit value, 16 bytes little-endian. AttributeError for a 16-bit UUID."""
        if self._uuid16 is not None:
            raise AttributeError("This is a 16-bit UUID")
        return self._uuid128

    @property
    def size(self) -> int:
        """16 or 128 (bits)."""
        return 16 if self._uuid16 is not None else 128

    def pack_into(self, buffer, offset: int = 0) -> None:
        """Write the UUID, little-endian (2 or 16 bytes), into buffer at offset."""
        raw = self._uuid16.to_bytes(2, "little") if self._uuid16 is not None else self._uuid128
        if offset < 0 or len(buffer) - offset < len(raw):
            raise IndexError("Buffer offset too small")
        buffer[offset:offset + len(raw)] = raw

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UUID):
            return NotImplemented
        return self._uuid16 == other._uuid16 and (
            self._uuid16 is not None or self._uuid128 == other._uuid128)

    def __hash__(self) -> int:
        return hash(self._uuid16) if self._uuid16 is not None else hash(self._uuid128)

    def __str__(self) -> str:
        h = self._uuid128[::-1].hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def __repr__(self) -> str:
        if self._uuid16 is not None:
            return f"UUID(0x{self._uuid16:04x})"
        return f"UUID('{self}')"


def uuid_from_bumble(uuid: core.UUID) -> UUID:
    raw = bytes(uuid.uuid_bytes)
    if len(raw) == 2:
        return UUID(int.from_bytes(raw, "little"))
    if len(raw) == 4:  # 32-bit: _bleio has none; expand into the base UUID
        return UUID(_BASE_UUID[:12] + raw)
    return UUID(raw)


def uuid_to_bumble(uuid: UUID) -> core.UUID:
    if uuid.size == 16:
        return core.UUID.from_16_bits(uuid.uuid16)
    return core.UUID.from_bytes(uuid.uuid128)
