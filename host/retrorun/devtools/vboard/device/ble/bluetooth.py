# bluetooth for the retrorun virtual board: MicroPython's low-level `bluetooth` module
# (docs/library/bluetooth.rst) as the esp32 port (NimBLE) behaves, forwarding every call to the
# host's radio (retrorun/devtools/vboard/radio.py), a real BLE stack (bumble) with a real GATT
# server on a link to other bumble devices. On the path (/_vbble) only on a board built with
# a radio (Hardware.bluetooth()); elsewhere there is no such module, as on a port without it,
# and nothing of this file costs heap. Not used on a real board.
#
# Host calls ("B..."): a[0|1] active, m mac, c<key>/C<key><value> config,
# g<json> register services, r/w read/write a value, n/i notify/indicate, s set_buffer,
# v advertise, d disconnect, h[0|1] a handler is set, e next event. An answer "E<errno>" raises
# OSError(errno), as the port does (ENODEV = 19 while the radio is off).
import _vb

_c = _vb.call

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020


def _ok(r):
    if r and r[0] == "E":
        _vb.err(r)
    return r


def _hex(buf):
    return "N" if buf is None else (bytes(buf).hex() or "-")


def _unhex(text):
    return b"" if text in ("", "-") else bytes.fromhex(text)


class UUID:
    """A 16-bit (int, or 2 bytes) or 128-bit (string, or 16 bytes) UUID; 4 bytes: 32-bit."""

    def __init__(self, value):
        if isinstance(value, UUID):
            self._b = value._b
        elif isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("invalid UUID")
            self._b = bytes((value & 0xFF, value >> 8))
        elif isinstance(value, str):
            h = value.replace("-", "")
            if len(h) != 32:
                raise ValueError("invalid UUID")
            self._b = bytes(reversed(bytes.fromhex(h)))  # stored little-endian, as the port
        else:
            b = bytes(value)
            if len(b) not in (2, 4, 16):
                raise ValueError("invalid UUID")
            self._b = b

    def __eq__(self, other):
        return isinstance(other, UUID) and other._b == self._b

    def __hash__(self):
        return hash(self._b)

    def __bytes__(self):
        return self._b

    def _text(self):
        return self._b.hex()  # little-endian hex (the host reads it back the same way)

    def __repr__(self):
        if len(self._b) == 2:
            return "UUID(0x%04x)" % (self._b[0] | self._b[1] << 8)
        h = bytes(reversed(self._b)).hex()
        if len(self._b) == 4:
            return "UUID(0x%s)" % h
        return "UUID('%s-%s-%s-%s-%s')" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _event(text):
    # one event from the host: "<code> <field> ..."; hex fields (addresses) become memoryviews,
    # as the port hands them (valid during the handler only)
    parts = text.split()
    code = int(parts[0])
    data = []
    for p in parts[1:]:
        if p[0] == "x":
            data.append(memoryview(_unhex(p[1:])))
        else:
            data.append(int(p))
    return code, tuple(data)


_ble = None
_UNSET = object()  # active() without an argument only asks


class BLE:
    """The singleton radio (BLE() always answers the same object)."""

    def __new__(cls):
        global _ble
        if _ble is None:
            _ble = object.__new__(cls)
            _ble._irq = None
        return _ble

    def __init__(self):
        pass

    def active(self, active=_UNSET):
        if active is not _UNSET:
            _ok(_c("Ba%d" % (1 if active else 0)))
        return _c("Ba") == "1"

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("can't specify pos and kw args")
        if not kw:
            if len(args) != 1:
                raise TypeError("must query one param")
            key = args[0]
            if key == "mac":
                t, a = _ok(_c("Bcmac")).split()
                return (int(t), _unhex(a))
            if key == "gap_name":
                return _unhex(_ok(_c("Bcgap_name")))
            if key == "mtu":
                return int(_ok(_c("Bcmtu")))
            raise ValueError("unknown config param")
        for key, value in kw.items():
            if key == "gap_name":
                _ok(_c("BCgap_name " + _hex(value.encode() if isinstance(value, str)
                                           else value)))
            elif key in ("mtu", "addr_mode", "bond", "mitm", "io", "le_secure"):
                _ok(_c("BC%s %d" % (key, int(value))))
            else:
                raise ValueError("unknown config param")

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid handler")
        self._irq = handler
        if handler is None:
            _vb.IRQ.pop("b", None)
        else:
            _vb.IRQ["b"] = [_dispatch, self]
        _c("Bh%d" % (0 if handler is None else 1))

    def gap_advertise(self, interval_us=500000, adv_data=None, *, resp_data=None,
                      connectable=True):
        if interval_us is None:
            _ok(_c("BvN N N 0"))
            return
        _ok(_c("Bv%d %s %s %d" % (int(interval_us), _hex(adv_data), _hex(resp_data),
                                  1 if connectable else 0)))

    def gap_disconnect(self, conn_handle):
        return _ok(_c("Bd%d" % int(conn_handle))) == "1"

    def gatts_register_services(self, services_definition):
        out = []
        for service in services_definition:
            if len(service) != 2:
                raise ValueError("invalid service tuple")
            uuid, chars = service
            if not isinstance(uuid, UUID):
                raise ValueError("invalid service UUID")
            cs = []
            for ch in chars:
                if len(ch) < 2 or len(ch) > 3:
                    raise ValueError("invalid characteristic tuple")
                if not isinstance(ch[0], UUID):
                    raise ValueError("invalid characteristic UUID")
                ds = []
                for d in (ch[2] if len(ch) == 3 else ()):
                    if len(d) != 2:
                        raise ValueError("invalid descriptor tuple")
                    if not isinstance(d[0], UUID):
                        raise ValueError("invalid descriptor UUID")
                    ds.append("%s:%d" % (d[0]._text(), int(d[1])))
                cs.append("%s:%d" % (ch[0]._text(), int(ch[1])) + "".join("/" + d for d in ds))
            out.append(uuid._text() + "=" + ",".join(cs))
        answer = _ok(_c("Bg" + ";".join(out)))
        return tuple(tuple(int(h) for h in s.split(",") if h) for s in answer.split(";"))

    def gatts_read(self, value_handle):
        return _unhex(_c("Br%d" % int(value_handle)))

    def gatts_write(self, value_handle, data, send_update=False):
        data = bytes(data)
        _ok(_c("Bw%d %d %s" % (int(value_handle), 1 if send_update else 0, _hex(data))))
        return len(data)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        _ok(_c("Bn%d %d %s" % (int(conn_handle), int(value_handle), _hex(data))))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        _ok(_c("Bi%d %d %s" % (int(conn_handle), int(value_handle), _hex(data))))

    def gatts_set_buffer(self, value_handle, len, append=False):  # noqa: A002 - the port's name
        _ok(_c("Bs%d %d %d" % (int(value_handle), int(len), 1 if append else 0)))


def _dispatch(ble):
    # run the handler for every event the host has queued, in order (the esp32 port calls it
    # once per event, on the NimBLE task, with the GIL held); a handler that raises is
    # printed and removed, as the port does
    while True:
        text = _c("Be")
        if not text:
            return
        handler = ble._irq
        if handler is None:
            continue
        code, data = _event(text)
        try:
            handler(code, data)
        except Exception as e:  # noqa: BLE001 - as modbluetooth.c's invoke_irq_handler
            import sys

            print("Unhandled exception in IRQ callback handler")
            sys.print_exception(e)
            ble.irq(None)
