"""The GATT server on MicroPython's `bluetooth` module (no aioble): advertising, the services,
the connections, and the glue to the control core.

`Peripheral` is pure (no radio): one connection's control core behind `write(data)`, with
outgoing packets handed to an injected `send(view)`. The in-memory test link drives exactly
this class, under CPython and in real MicroPython. `GattServer` is the radio wiring; it needs
the `bluetooth` module (a board, or the virtual board's stand-in on bumble).

GATT table (UUIDs in retrofw.wire / retrofw.wire_ble):
  Running Speed and Cadence 0x1814: RSC Measurement 0x2A53 (notify), RSC Feature 0x2A54 (read)
  Battery 0x180F: Battery Level 0x2A19 (read, notify)
  retrorun control: control (write, write without response, notify), live (notify)
Anyone may read RSC and battery; control (beyond the challenge) and live data need the owner's
sealed messages (control.py). Interrupts (`_irq`) only copy a written packet into its link's
core and note connections; the Bluetooth task (`poll`, every 20 ms) answers and notifies.
"""

import struct

from retrofw.ble.control import ControlCore
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
    CTL_AUTH_TIMEOUT_MS,
    LIVE_FMT,
    LIVE_NO_DISTANCE,
    LIVE_SIZE,
    RSC_FEATURE_FMT,
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
    import bluetooth
except ImportError:  # not on a board (CPython, the WASI build): the pure part still works
    bluetooth = None

# MicroPython's bluetooth module (docs/library/bluetooth.rst): event codes and flags
_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_F_READ = const(0x0002)
_F_WRITE_NR = const(0x0004)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)

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


def adv_payload(name):
    """Advertising data (flags, the RSC service, the name) and scan response (appearance): each
    within the 31 bytes of a legacy advertisement (Core Spec Vol 3 Part C 11; CSS Part A)."""
    n = name.encode()[:22]
    adv = bytes((2, 0x01, 0x06, 3, 0x03, UUID_RSC_SERVICE & 0xFF, UUID_RSC_SERVICE >> 8,
                 len(n) + 1, 0x09)) + n
    resp = bytes((3, 0x19, _APPEARANCE_RUNNING_SENSOR & 0xFF, _APPEARANCE_RUNNING_SENSOR >> 8))
    return adv, resp


class Peripheral:
    """One connection's protocol state: the control core, and when it connected."""

    def __init__(self, send, store=None, secret_path=BLE_SECRET_PATH, config_get=None,
                 config_set=None, status=None, sessions=None, mark_synced=None,
                 random_bytes=None, uid=b""):
        self.send = send
        self.conn = -1  # the connection handle while connected
        self.since = 0  # ticks_ms of the connection
        self.control = ControlCore(send, store, secret_path, config_get, config_set, status,
                                   sessions, mark_synced, random_bytes, uid)

    def connect(self, payload_size=BLE_PAYLOAD_MIN):
        """A central connected: fresh state, packets up to payload_size."""
        self.control.reset()
        self.set_payload(payload_size)

    def set_payload(self, payload_size):
        self.control.set_payload(payload_size)

    def disconnect(self):
        """The link is gone: nothing of this connection survives (authentication included)."""
        self.control.reset()
        self.conn = -1

    def write(self, data):
        """A packet the central wrote to the control characteristic."""
        self.control.on_packet(data)

    def poll(self):
        """Answer a complete request and send what the radio takes (the Bluetooth task)."""
        self.control.process()

    def owner(self):
        """True once this connection answered the challenge (live data may go to it)."""
        return self.control.authenticated()


# Over Bluetooth, a change that makes warnings weaker or later waits for the device's button
# (docs/ble.md): -1 weaker when smaller, 1 weaker when larger, 0 any change. Here, not in
# retrofw.settings: a board without Bluetooth never holds these names.
_WEAKER = (("alert.mode", 0), ("alert.notice_m", -1), ("alert.warning_m", -1),
           ("alert.stop_m", -1), ("alert.ttc_warning_s", -1), ("alert.ttc_stop_s", -1),
           ("alert.hysteresis_m", -1), ("alert.fault_timeout_ms", 1),
           ("alert.treadmill_min_m", -1), ("haptic.strength", -1))
CONFIRM_MS = const(30000)  # how long such a change waits for the button


def weakens(current, changes):
    """The keys of `changes` that weaken warnings against the configuration `current`."""
    out = []
    for key, way in _WEAKER:
        if key in changes and changes[key] != current[key]:
            if way == 0 or (changes[key] - current[key]) * way > 0:
                out.append(key)
    return out


def _weakening(changes):
    """The keys of valid `changes` that would weaken the stored configuration's warnings."""
    from retrofw import settings
    from retrofw.api import ROOT
    from retrofw.unload import unload

    try:
        current = settings.load(ROOT)[0]
        if settings.validate(changes, current)[1]:
            return []  # invalid: config_set refuses it with its errors
        return weakens(current, changes)
    finally:
        settings = None
        unload("retrofw.settings")


def app_hooks(root="/", on_config=None, now_ms=None):
    """The injected functions: retrofw.api's own answers, so USB and BLE answer the same, and
    `confirm(now)` for the app's button: a config change over Bluetooth that weakens warnings
    is kept until a press within CONFIRM_MS saves it (True), or forgotten."""
    from retrofw import api
    from retrofw.ticks import ticks_add, ticks_diff

    api.ROOT = root
    if on_config is not None:
        api.attach(api._writer, on_config, root)
    if now_ms is None:
        from time import ticks_ms as now_ms  # pyright: ignore[reportAttributeAccessIssue]
    pending = []  # [changes, deadline] while a weakening change waits

    def config_set(changes):
        weaker = _weakening(changes)
        if not weaker:
            return api.config_set_answer(changes)
        pending[:] = [changes, ticks_add(now_ms(), CONFIRM_MS)]
        return {"ok": False, "confirm": weaker, "seconds": CONFIRM_MS // 1000,
                "error": "press the button on the device within %d s to confirm: %s"
                % (CONFIRM_MS // 1000, ", ".join(weaker))}

    def confirm(now):
        if not pending:
            return False
        changes, deadline = pending
        del pending[:]
        if ticks_diff(deadline, now) < 0:
            return False  # too late: the press is the button's usual one
        api.config_set_answer(changes)
        return True

    uid = b""
    try:
        import machine

        uid = machine.unique_id()
    except (ImportError, AttributeError):
        pass
    return {"config_get": api.config_get_answer, "config_set": config_set,
            "sessions": api.sessions_answer, "mark_synced": api.mark_synced_answer,
            "status": api.status_answer, "store": api._store(), "uid": uid,
            "confirm": confirm}


class GattServer:
    """Registers the services, advertises, keeps up to two connections (on a board).

    hooks: Peripheral's injected functions (see app_hooks()), name (advertised name; empty:
    retrorun-XXXX) and confirm (the button's hook: `confirm(now)`).
    """

    def __init__(self, secret_path=BLE_SECRET_PATH, now_ms=None, **hooks):
        if bluetooth is None:
            raise OSError("no bluetooth module on this MicroPython")
        name = hooks.pop("name", None)
        self.confirm = hooks.pop("confirm", None) or (lambda now: False)
        self.now_ms = now_ms
        ble = bluetooth.BLE()
        self.ble = ble
        ble.active(True)
        self.name = name or device_name(ble.config("mac")[1])
        ble.config(gap_name=self.name, mtu=_MTU)
        uuid = bluetooth.UUID
        (self.h_meas, self.h_feat), (self.h_batt,), (self.h_ctl, self.h_live) = \
            ble.gatts_register_services((
                (uuid(UUID_RSC_SERVICE), ((uuid(UUID_RSC_MEASUREMENT), _F_NOTIFY),
                                          (uuid(UUID_RSC_FEATURE), _F_READ))),
                (uuid(UUID_BATTERY_SERVICE), ((uuid(UUID_BATTERY_LEVEL), _F_READ | _F_NOTIFY),)),
                (uuid(UUID_RR_SERVICE), ((uuid(UUID_RR_CONTROL), _F_WRITE | _F_WRITE_NR
                                          | _F_NOTIFY),
                                         (uuid(UUID_RR_LIVE), _F_NOTIFY)))))
        ble.gatts_set_buffer(self.h_ctl, BLE_PAYLOAD_MAX)  # default 20 bytes: longer cut
        feature = bytearray(2)
        struct.pack_into(RSC_FEATURE_FMT, feature, 0, FEATURES)
        ble.gatts_write(self.h_feat, feature)  # pyright: ignore[reportArgumentType]  # any buffer
        ble.gatts_write(self.h_batt, b"\x64")
        self.peers = [Peripheral(self._sender(i), secret_path=secret_path, **hooks)
                      for i in range(_MAX_CONNECTIONS)]
        self.rsc = RscEncoder()
        self.live_buf = bytearray(LIVE_SIZE)
        self.battery_buf = bytearray(1)
        self.adv, self.resp = adv_payload(self.name)
        ble.irq(self._irq)
        self._advertise()

    def _sender(self, i):
        def send(view):
            peer = self.peers[i]
            if peer.conn < 0:
                return True  # gone: drop what it would have sent
            try:
                # docs/library/bluetooth.rst: gatts_notify(conn_handle, value_handle, data);
                # the stubs know two arguments
                self.ble.gatts_notify(peer.conn, self.h_ctl, view)  # pyright: ignore
            except OSError:  # the controller has no buffer: keep the packet, resume later
                return False
            return True

        return send

    def _advertise(self):
        if self._count() < _MAX_CONNECTIONS:
            self.ble.gap_advertise(_ADV_INTERVAL_US, self.adv, resp_data=self.resp)

    def _count(self):
        return sum(1 for p in self.peers if p.conn >= 0)

    def _peer(self, conn):
        for p in self.peers:
            if p.conn == conn:
                return p
        return None

    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            conn, handle = data
            peer = self._peer(conn)
            if peer is not None and handle == self.h_ctl:
                peer.write(self.ble.gatts_read(self.h_ctl))
        elif event == _IRQ_CENTRAL_CONNECT:
            conn = data[0]
            for p in self.peers:
                if p.conn < 0:
                    p.connect()
                    p.conn = conn
                    p.since = self._now()  # pyright: ignore[reportAttributeAccessIssue]
                    break
            else:  # no slot (the stack allowed more links than we keep)
                self.ble.gap_disconnect(conn)
            self._advertise()  # the stack stops advertising when a central connects
        elif event == _IRQ_CENTRAL_DISCONNECT:
            peer = self._peer(data[0])
            if peer is not None:
                peer.disconnect()
            self._advertise()
        elif event == _IRQ_MTU_EXCHANGED:
            peer = self._peer(data[0])
            if peer is not None:
                peer.set_payload(data[1] - 3)

    def _now(self):
        if self.now_ms is not None:
            return self.now_ms()
        import time

        return time.ticks_ms()

    def poll(self):
        """The Bluetooth task, every 20 ms: answer requests; drop a second link that did not
        authenticate within CTL_AUTH_TIMEOUT_MS (one unauthenticated link may stay: a watch)."""
        from time import ticks_diff

        newest = None
        strangers = 0
        for p in self.peers:
            if p.conn >= 0:
                p.poll()
                if not p.owner():
                    strangers += 1
                    if newest is None or ticks_diff(p.since, newest.since) > 0:
                        newest = p
        if strangers == _MAX_CONNECTIONS and newest is not None:
            if ticks_diff(self._now(), newest.since) > CTL_AUTH_TIMEOUT_MS:
                try:
                    self.ble.gap_disconnect(newest.conn)  # pyright: ignore  # an int handle
                except OSError:
                    pass

    def notify_rsc(self, speed_256, cadence, running, stride_cm, distance_dm):
        """Public cadence: stored and notified to every subscribed central (watches)."""
        length = self.rsc.update((speed_256, cadence, running, stride_cm, distance_dm))
        self._update(self.h_meas, self.rsc.view[:length])

    def notify_battery(self, percent):
        """Battery level 0..100 %: stored for reads and notified to every subscribed central."""
        self.battery_buf[0] = min(max(percent, 0), 100)
        self._update(self.h_batt, self.battery_buf)

    def _update(self, handle, value):
        if self._count():
            try:
                self.ble.gatts_write(handle, value, True)  # send_update: subscribed centrals
            except OSError:
                pass
        else:
            self.ble.gatts_write(handle, value)

    def notify_live(self, distance_mm, alert, sensor, cadence):
        """Distance and alert level, to authenticated connections only."""
        encode_live(self.live_buf, distance_mm, alert, sensor, cadence)
        for p in self.peers:
            if p.conn >= 0 and p.owner():
                try:
                    self.ble.gatts_notify(p.conn, self.h_live, self.live_buf)  # pyright: ignore
                except OSError:
                    pass

    def stop(self):
        """Radio off (before deep sleep, or when Bluetooth is switched off)."""
        try:
            # None stops advertising and removes the handler (docs); the stubs want values
            self.ble.gap_advertise(None)  # pyright: ignore[reportArgumentType]
            self.ble.irq(None)  # pyright: ignore[reportArgumentType]
            self.ble.active(False)
        except OSError:
            pass
