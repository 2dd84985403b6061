"""The GATT server on a real board: advertising, services, and the glue to the protocol cores.

`Peripheral` is pure (no radio): one connection's cores (control + file transfer) behind one
`write(characteristic, packet)` entry point, with outgoing packets handed to an injected
`send(characteristic, view)`. The in-memory test link drives exactly this class, under CPython
and in real MicroPython. The rest of the module is the aioble wiring, which only runs on a board
(`aioble` from micropython-lib and the `bluetooth` module); importing this module without them
works, `run()` then raises.

GATT table (UUIDs in retrofw.wire_ble):
  Running Speed and Cadence 0x1814: RSC Measurement 0x2A53 (notify), RSC Feature 0x2A54 (read)
  Battery 0x180F: Battery Level 0x2A19 (read, notify)
  File Transfer 0xFEBB: version (read, uint32 4), transfer (write-no-response, notify)
  retrorun control: control (write-no-response, notify), live (notify)
Anyone may read RSC and battery; file transfer, control and live data need the
challenge-response of control.py on the same connection.
"""

import struct

from retrofw.ble.control import ControlCore
from retrofw.ble.filetransfer import FileTransferCore
from retrofw.ble.rsc import FEATURES, RscEncoder
from retrofw.wire import (
    UUID_BATTERY_LEVEL,
    UUID_BATTERY_SERVICE,
    UUID_RSC_FEATURE,
    UUID_RSC_MEASUREMENT,
    UUID_RSC_SERVICE,
)
from retrofw.wire_ble import (
    BLE_NAME_PREFIX,
    BLE_PAYLOAD_MAX,
    BLE_PAYLOAD_MIN,
    BLE_SECRET_PATH,
    FT_VERSION,
    LIVE_FMT,
    LIVE_NO_DISTANCE,
    LIVE_SIZE,
    RSC_FEATURE_FMT,
    UUID_FT_SERVICE,
    UUID_FT_TRANSFER,
    UUID_FT_VERSION,
    UUID_RR_CONTROL,
    UUID_RR_LIVE,
    UUID_RR_SERVICE,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    import aioble  # pyright: ignore[reportMissingImports]  # micropython-lib, no stubs
    import bluetooth
except ImportError:  # not on a board (CPython, the WASI build): the pure part still works
    aioble = None
    bluetooth = None

CHAR_TRANSFER = const(0)
CHAR_CONTROL = const(1)

_ADV_INTERVAL_US = const(250_000)
_APPEARANCE_RUNNING_SENSOR = const(0x0440)  # Running Walking Sensor (generic)
_MTU = const(247)
_MAX_CONNECTIONS = const(2)  # e.g. a watch for cadence and the laptop for a sync


def device_name(mac):
    """Advertised name from the radio's MAC address: retrorun-XXXX (last two bytes, hex)."""
    return "%s%02X%02X" % (BLE_NAME_PREFIX, mac[-2], mac[-1])


def local_name():
    """This board's advertised name (turns the radio on); `retrorun pair` prints it.

    Without a bluetooth module (the virtual board) the name comes from machine.unique_id().
    """
    if bluetooth is None:
        try:
            import machine

            return device_name(machine.unique_id())
        except (ImportError, AttributeError):
            return device_name(b"\x00\x00")
    ble = bluetooth.BLE()
    ble.active(True)
    return device_name(ble.config("mac")[1])


def encode_live(buf, distance_mm, alert, sensor, cadence):
    """Live characteristic value (LIVE_FMT) into `buf`; distance_mm < 0 means none."""
    if distance_mm < 0 or distance_mm > 0xFFFE:
        distance_mm = LIVE_NO_DISTANCE
    struct.pack_into(LIVE_FMT, buf, 0, distance_mm, alert, sensor, min(max(cadence, 0), 255))
    return LIVE_SIZE


class Peripheral:
    """One connection's protocol state: control (auth, config) and file transfer."""

    def __init__(self, send, sessions_dir="/sessions", secret_path=BLE_SECRET_PATH,
                 config_get=None, config_set=None, status=None, sessions=None,
                 mark_synced=None, random_bytes=None, fs_root=""):
        self.send = send
        self.control = ControlCore(self._send_control, fs_root + sessions_dir,
                                   fs_root + secret_path, config_get, config_set, status,
                                   sessions, mark_synced, random_bytes)
        self.transfer = FileTransferCore(self._send_transfer, sessions_dir,
                                         self.control.authenticated, self.control.note_refusal,
                                         fs_root=fs_root)

    def _send_control(self, view):
        return self.send(CHAR_CONTROL, view)

    def _send_transfer(self, view):
        return self.send(CHAR_TRANSFER, view)

    def connect(self, payload_size=BLE_PAYLOAD_MIN):
        """A central connected (or the MTU changed): fresh state, packets up to payload_size."""
        self.control.reset()
        self.transfer.reset()
        self.set_payload(payload_size)

    def set_payload(self, payload_size):
        self.control.set_payload(payload_size)
        self.transfer.set_payload(payload_size)

    def disconnect(self):
        """The link is gone: nothing of this connection survives (authentication included)."""
        self.control.reset()
        self.transfer.reset()

    def write(self, characteristic, data):
        """A packet the central wrote to CHAR_TRANSFER or CHAR_CONTROL."""
        if characteristic == CHAR_TRANSFER:
            self.transfer.on_packet(data)
        elif characteristic == CHAR_CONTROL:
            self.control.on_packet(data)

    def resume(self):
        self.control.resume()
        self.transfer.resume()

    def owner(self):
        """True once this connection answered the challenge (live data may go to it)."""
        return self.control.authenticated()


def app_hooks(root="/", on_config=None):
    """The injected functions: retrofw.api's own answers, so USB and BLE answer the same.

    on_config(values) is called after a config change was saved (the app applies it live).
    """
    from retrofw import api

    api.ROOT = root
    if on_config is not None:
        api.attach(api._writer, on_config, root)
    return {"config_get": api.config_get_answer, "config_set": api.config_set_answer,
            "sessions": api.sessions_answer, "mark_synced": api.mark_synced_answer,
            "status": api.status_answer}


# -- aioble wiring (board only) ----------------------------------------------------------------
class GattServer:
    """Registers the services and runs advertising and the per-connection loops (on a board).

    hooks: the same injected functions as Peripheral (config_get, config_set, status,
    sessions, mark_synced; see app_hooks()), and name (advertised name; empty: retrorun-XXXX).
    """

    def __init__(self, sessions_dir="/sessions", secret_path=BLE_SECRET_PATH, fs_root="",
                 **hooks):
        if aioble is None or bluetooth is None:
            raise OSError("Bluetooth needs the bluetooth module and aioble (mip install aioble)")
        self.fs_root = fs_root
        name = hooks.pop("name", None)  # settings "ble.name"; empty: retrorun-XXXX
        self.hooks = hooks
        self.sessions_dir = sessions_dir
        self.secret_path = secret_path
        uuid = bluetooth.UUID
        rsc = aioble.Service(uuid(UUID_RSC_SERVICE))
        self.rsc_measurement = aioble.Characteristic(rsc, uuid(UUID_RSC_MEASUREMENT), notify=True)
        feature = bytearray(2)
        struct.pack_into(RSC_FEATURE_FMT, feature, 0, FEATURES)
        aioble.Characteristic(rsc, uuid(UUID_RSC_FEATURE), read=True, initial=feature)
        battery = aioble.Service(uuid(UUID_BATTERY_SERVICE))
        self.battery = aioble.Characteristic(battery, uuid(UUID_BATTERY_LEVEL), read=True,
                                             notify=True, initial=b"\x64")
        ft = aioble.Service(uuid(UUID_FT_SERVICE))
        aioble.Characteristic(ft, uuid(UUID_FT_VERSION), read=True,
                              initial=struct.pack("<I", FT_VERSION))
        self.transfer = aioble.BufferedCharacteristic(
            ft, uuid(UUID_FT_TRANSFER), read=True, write_no_response=True, notify=True,
            capture=True, max_len=BLE_PAYLOAD_MAX)
        rr = aioble.Service(uuid(UUID_RR_SERVICE))
        self.control = aioble.BufferedCharacteristic(
            rr, uuid(UUID_RR_CONTROL), write_no_response=True, notify=True, capture=True,
            max_len=BLE_PAYLOAD_MAX)
        self.live = aioble.Characteristic(rr, uuid(UUID_RR_LIVE), notify=True)
        aioble.register_services(rsc, battery, ft, rr)
        bluetooth.BLE().config(mtu=_MTU)
        self.name = name or device_name(bluetooth.BLE().config("mac")[1])
        self.peers = {}  # connection -> Peripheral
        self.watchers = {}  # connection -> its watch task
        self.rsc = RscEncoder()
        self.live_buf = bytearray(LIVE_SIZE)
        self.battery_buf = bytearray(1)

    def _peripheral(self, connection):
        def send(characteristic, view):
            char = self.transfer if characteristic == CHAR_TRANSFER else self.control
            try:
                char.notify(connection, view)
            except OSError:  # the controller's queue is full: keep the packet, resume later
                return False
            return True

        return Peripheral(send, self.sessions_dir, self.secret_path, fs_root=self.fs_root,
                          **self.hooks)

    async def advertise(self):
        """Advertise and accept connections forever (up to _MAX_CONNECTIONS)."""
        import asyncio

        radio = aioble
        uuid = bluetooth.UUID if bluetooth is not None else None
        if radio is None or uuid is None:
            raise OSError("no Bluetooth on this MicroPython")
        while True:
            if len(self.peers) >= _MAX_CONNECTIONS:
                await asyncio.sleep(0.5)
                continue
            connection = await radio.advertise(
                _ADV_INTERVAL_US, name=self.name, services=[uuid(UUID_RSC_SERVICE)],
                appearance=_APPEARANCE_RUNNING_SENSOR)
            peer = self._peripheral(connection)
            peer.connect((getattr(connection, "mtu", None) or 23) - 3)
            self.peers[connection] = peer
            self.watchers[connection] = asyncio.create_task(self._watch(connection, peer))

    async def _watch(self, connection, peer):
        import asyncio

        try:
            await connection.exchange_mtu(_MTU)
        except (OSError, ValueError, asyncio.TimeoutError):
            pass
        peer.set_payload((getattr(connection, "mtu", None) or 23) - 3)
        while connection.is_connected():
            peer.resume()  # packets the controller refused earlier
            await asyncio.sleep(0.02)
        peer.disconnect()
        self.peers.pop(connection, None)
        self.watchers.pop(connection, None)

    async def serve_writes(self, char, which):
        """Feed captured writes on `char` to the peripheral of the connection that wrote."""
        while True:
            connection, data = await char.written()
            peer = self.peers.get(connection)
            if peer is not None:
                try:
                    peer.write(which, data)
                except Exception as exc:  # noqa: BLE001 - one bad request must not end BLE
                    print("ble: request failed:", repr(exc))
                    peer.connect(peer.transfer.payload)  # start this connection over

    def notify_rsc(self, speed_256, cadence, running, stride_cm, distance_dm):
        """Public cadence for every connected central (watches, phones)."""
        length = self.rsc.update((speed_256, cadence, running, stride_cm, distance_dm))
        for connection in self.peers:
            try:
                self.rsc_measurement.notify(connection, self.rsc.view[:length])
            except OSError:
                pass

    def notify_battery(self, percent):
        """Battery level 0..100 %: stored for reads and notified to every central."""
        self.battery_buf[0] = min(max(percent, 0), 100)
        self.battery.write(self.battery_buf)
        for connection in self.peers:
            try:
                self.battery.notify(connection, self.battery_buf)
            except OSError:
                pass

    def notify_live(self, distance_mm, alert, sensor, cadence):
        """Distance and alert level, to authenticated connections only."""
        n = encode_live(self.live_buf, distance_mm, alert, sensor, cadence)
        for connection, peer in self.peers.items():
            if peer.owner():
                try:
                    self.live.notify(connection, self.live_buf[:n])
                except OSError:
                    pass

    def tasks(self):
        """The coroutines app.main() should create_task(): advertising and the two write feeds."""
        return (self.advertise(), self.serve_writes(self.transfer, CHAR_TRANSFER),
                self.serve_writes(self.control, CHAR_CONTROL))


def run(**hooks):
    """Build the server (board only); returns it so the app can push RSC and live values."""
    return GattServer(**hooks)
