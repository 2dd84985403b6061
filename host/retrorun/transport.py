"""The one interface the host uses to talk to a device, whatever the link.

`SerialTransport` (over mpremote's serial transport: USB, `socket://`, `rfc2217://`) and the BLE
transport implement it; sync, config, status and deploy are written once on top of it.
"""

from __future__ import annotations

import abc


class Transport(abc.ABC):
    """A connected retrorun device."""

    #: human-readable link description, e.g. "socket://127.0.0.1:4001" or "BLE retrorun-1A2B"
    description: str = ""

    @abc.abstractmethod
    def call(self, function: str, *args: object) -> object:
        """Call `retrofw.api.<function>(*args)` on the device and return its decoded JSON answer."""

    @abc.abstractmethod
    def read(self, session: str, offset: int, size: int) -> bytes:
        """Read `size` bytes at `offset` of a session file, verified end to end."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link."""

    # Higher operations, written once for every link.
    def status(self) -> dict:
        return self.call("status")  # type: ignore[return-value]

    def sessions(self) -> list:
        return self.call("sessions")  # type: ignore[return-value]

    def mark_synced(self, session: str) -> object:
        return self.call("mark_synced", session)

    def config_get(self) -> dict:
        return self.call("config_get")  # type: ignore[return-value]

    def config_set(self, changes: dict) -> object:
        return self.call("config_set", changes)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

