"""The laptop's BLE code end to end on a real BLE host stack: `BleTransport` on unmodified
adafruit_ble on the bumble `_bleio` (bleio_bumble), over bumble's ATT/GATT, L2CAP and link
layer, to a bumble peripheral whose control characteristic is served by the device's protocol
cores (retrofw.ble.gatt.Peripheral, in this process). Scan, connect, MTU exchange, the uid's
secret, sync (`pull_sessions`, as `retrorun sync`), a link lost mid-sync, config, refusals.
The firmware's GATT wiring on MicroPython's `bluetooth` module is not in this test."""

from __future__ import annotations

import asyncio
import threading

import pytest
from ble_support import SECRET
from bumble import gatt, hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from retrofw import wire_ble
from retrofw.ble.gatt import Peripheral, adv_payload, app_hooks
from retrorun.errors import RetrorunError
from retrorun.link.ble import bleio_bumble, bumble_loop
from retrorun.link.ble.control import NotPaired
from retrorun.link.ble.pairing import save_secret
from retrorun.link.ble.transport import BleTransport

pytestmark = [pytest.mark.bumble, pytest.mark.ble]

UID = bytes.fromhex("24a1600a1b2c")
NAME = "retrorun-1B2C"


class BumbleDevice:
    """A bumble peripheral advertising as the device does, with the control service."""

    def __init__(self, link: LocalLink, root):
        self.loop = bumble_loop.shared()
        self.packets_sent = 0
        self.cut_after: int | None = None  # disconnect after this many notifications
        self.connections = 0
        self.lock = threading.Lock()
        import time

        hooks = app_hooks(str(root), now_ms=lambda: int(time.monotonic() * 1000) & (2**30 - 1))
        hooks["uid"] = UID
        hooks.pop("confirm")
        self._out: list[bytes] = []
        self.core = Peripheral(self._send, secret_path=str(root) + wire_ble.BLE_SECRET_PATH,
                               **hooks)
        self.connection = None
        self.tasks: set = set()  # references to the tasks started on the loop
        self.loop.run(self._start(link))

    def _send(self, view) -> bool:
        self._out.append(bytes(view))
        return True

    async def _start(self, link) -> None:
        controller = Controller("device", link=link)
        self.device = Device(name=NAME, address=hci.Address("24:A1:60:0A:1B:2C"),
                             host=Host(controller, AsyncPipeSink(controller)))
        props = gatt.Characteristic.Properties
        self.control = gatt.Characteristic(
            wire_ble.UUID_RR_CONTROL, props.WRITE | props.WRITE_WITHOUT_RESPONSE | props.NOTIFY,
            gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=self._on_write))
        self.device.add_services([gatt.Service(wire_ble.UUID_RR_SERVICE, [self.control])])
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        adv, resp = adv_payload(NAME)  # the firmware's advertising data
        await self.device.start_advertising(advertising_data=adv, scan_response_data=resp,
                                            advertising_interval_min=20,
                                            advertising_interval_max=20)

    def _on_connection(self, connection) -> None:
        self.connection = connection
        self.connections += 1
        self.core.connect(wire_ble.BLE_PAYLOAD_MIN)

        def on_mtu(mtu):
            self.core.set_payload(mtu - 3)

        def gone(_reason):
            self.connection = None
            self.core.disconnect()
            self.tasks.add(asyncio.ensure_future(self.device.start_advertising(
                advertising_data=adv_payload(NAME)[0], scan_response_data=adv_payload(NAME)[1],
                advertising_interval_min=20, advertising_interval_max=20)))

        connection.on("connection_att_mtu_update", lambda: on_mtu(connection.att_mtu))
        connection.on("disconnection", gone)

    def _on_write(self, connection, value) -> None:
        self.core.write(bytes(value))  # the write interrupt
        self.core.poll()  # the Bluetooth task
        out, self._out = self._out, []
        if out:
            self.tasks.add(asyncio.ensure_future(self._notify(connection, out)))

    async def _notify(self, connection, packets) -> None:
        for packet in packets:
            if self.cut_after is not None and self.packets_sent >= self.cut_after:
                self.cut_after = None
                await connection.disconnect()
                return
            await self.device.notify_subscriber(connection, self.control, packet)
            self.packets_sent += 1

    def close(self) -> None:
        async def stop():
            if self.connection is not None:
                try:
                    await asyncio.wait_for(self.connection.disconnect(), 2)
                except Exception:  # already gone
                    pass
            await self.device.stop_advertising()
            await self.device.power_off()
        self.loop.run(stop())


@pytest.fixture
def ble(device_root, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    link = LocalLink()
    device = BumbleDevice(link, device_root)
    bleio_bumble.install(link)
    yield device
    bleio_bumble.uninstall()
    device.close()


def test_scan_sees_the_advertisement_and_an_unpaired_laptop_is_told_to_pair(ble):
    from retrorun.link.ble.transport import scan

    found = scan(2.0)
    assert [d["name"] for d in found] == [NAME]
    with pytest.raises(RetrorunError, match="no device is paired with this laptop"):
        BleTransport.open(NAME, scan_timeout=2.0)


def test_a_secret_for_another_uid_is_not_used(ble, tmp_path):
    save_secret("0000000000aa", NAME, SECRET)  # another board with the same name
    with pytest.raises(NotPaired, match="24a1600a1b2c"):
        BleTransport.open(NAME, scan_timeout=2.0)


def test_sync_over_bumble_stores_the_device_files_and_resumes_after_a_lost_link(ble, device_root,
                                                                                tmp_path):
    from retrorun.sessions.store import Store
    from retrorun.sessions.sync import pull_sessions

    save_secret(UID.hex(), NAME, SECRET)
    transport = BleTransport.open(NAME, scan_timeout=2.0, timeout=2.0)
    assert transport.status()["ok"] and transport.uid == UID
    ble.cut_after = ble.packets_sent + 40  # the link drops in the middle of the first session
    with Store(tmp_path / "s.sqlite3") as store:
        result = pull_sessions(transport, store, chunk_size=8 * wire_ble.CTL_READ_MAX)
        assert len(result.stored) == 2
        got = {row.session_id: store.raw(row.key) for row in store.sessions()}
    want = {sid: (device_root / f"sessions/{sid:06d}.rrl").read_bytes() for sid in (1, 2)}
    assert got == want
    assert ble.connections >= 2 and transport.reconnects >= 1
    assert (device_root / "sessions/000001.syn").exists()
    transport.close()


def test_config_over_bumble_and_a_weakening_change_is_held(ble, device_root):
    from retrofw import settings
    from retrorun.link.transport import NeedsConfirmation

    save_secret(UID.hex(), NAME, SECRET)
    with BleTransport.open(NAME, scan_timeout=2.0, timeout=2.0) as transport:
        assert transport.config_set({"haptic.strength": 90})["ok"]
        with pytest.raises(NeedsConfirmation):
            transport.config_set({"haptic.strength": 30})
        assert transport.config_get()["config"]["haptic.strength"] == 90
    assert settings.load(str(device_root))[0]["haptic.strength"] == 90


def test_the_wrong_secret_is_refused_and_nothing_changes(ble, device_root):
    before = (device_root / "ble_secret").read_bytes()
    save_secret(UID.hex(), NAME, b"\x55" * 32)
    with pytest.raises(NotPaired, match="refused the pairing secret"):
        BleTransport.open(NAME, scan_timeout=2.0, timeout=2.0)
    assert (device_root / "ble_secret").read_bytes() == before
    assert not (device_root / "config.json").exists()  # no config was written
    assert not list((device_root / "sessions").glob("*.syn"))  # nothing marked synced
