"""The one interface the host uses to talk to a device, whatever the link.

`ConsoleTransport` (the running app's requests on the USB console), `SerialTransport` (the raw
REPL over mpremote's serial transport, when the app is not running; USB, `socket://`,
`rfc2217://`) and the BLE transport implement it; sync, config, status and deploy are written once on top of it.
"""

from __future__ import annotations

import abc

from retrorun.errors import RetrorunError


class TransferError(RetrorunError):
    """Data arrived damaged (a chunk failed its check); retrying may succeed."""


class NeedsConfirmation(RetrorunError):
    """A change that weakens warnings waits for a press of the device's button (Bluetooth);
    `answer` is the device's: {"confirm": keys, "seconds": how long it waits}."""

    def __init__(self, answer: dict):
        super().__init__(answer.get("error") or "press the button on the device to confirm")
        self.answer = answer


def check_answer(function: str, answer: dict) -> dict:
    """A device API answer ({"ok": true, ...}); a refusal raises with the device's reasons."""
    if not answer.get("ok", False):
        errors = answer.get("errors") or [answer.get("error", "unknown error")]
        raise RetrorunError(f"the device refused {function}: {'; '.join(map(str, errors))}")
    return answer


class Transport(abc.ABC):
    """A connected retrorun device."""

    #: human-readable link description, e.g. "socket://127.0.0.1:4001" or "BLE retrorun-1A2B"
    description: str = ""

    @abc.abstractmethod
    def call(self, function: str, *args: object) -> dict:
        """Call `retrofw.api.<function>(*args)` on the device; its JSON answer (ok is true)."""

    @abc.abstractmethod
    def read(self, session: int, offset: int, size: int) -> bytes:
        """Read `size` bytes at `offset` of a session file, verified end to end."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link."""

    # Higher operations, written once for every link.
    def status(self) -> dict:
        return self.call("status")

    def sessions(self) -> dict:
        return self.call("sessions")

    def mark_synced(self, session: int) -> object:
        return self.call("mark_synced", session)

    def digest(self, session: int) -> str | None:
        """SHA-256 hex of a whole session file as the device sees it (None: not supported)."""
        return self.call("digest", session).get("sha256")

    def config_get(self) -> dict:
        return self.call("config_get")

    def config_set(self, changes: dict) -> dict:
        return self.call("config_set", changes)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

