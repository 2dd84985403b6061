"""The owner-only control characteristic: pairing challenge-response, status, sessions, config.

Security (threat model in docs/ble.md). A 32-byte pairing secret is written to the device over
USB (`retrorun pair`, file BLE_SECRET_PATH) and kept by the host. On each connection the host
asks HELLO and gets a fresh 16-byte device nonce Nd (os.urandom; single use). It answers AUTH
with tag_h = HMAC-SHA256(secret, AUTH_HOST_LABEL + Nd + Nh) and its own nonce Nh; the device
compares in constant time and, if right, marks this connection authenticated and answers with
tag_d = HMAC-SHA256(secret, AUTH_DEVICE_LABEL + Nd + Nh), so the host knows the device holds the
secret too. A wrong answer burns the nonce; after AUTH_MAX_FAILURES wrong answers the
connection is locked. Everything but HELLO, AUTH and WHY needs an authenticated connection;
file transfer asks `authenticated()` too.

Framing (CTL_* in retrofw.wire_ble): a message is CTL_HEAD_FMT (op, status, payload length) +
payload, cut into packets of the connection's payload size; each packet starts with one byte,
CTL_PKT_START on the first packet | a 7-bit sequence number. A missing packet is detected and the
message dropped (the host times out and asks again). The same `Reassembler` and `frame()` serve
the host, so there is one definition of the framing.

The secret, the HMAC and the tags are in retrofw.ble.pairing (which `retrorun pair` uses over USB
without loading this module).
"""

import hashlib
import json
import os
import struct

from retrofw.ble.pairing import device_tag, equal, host_tag, load_secret
from retrofw.wire import PROTOCOL_VERSION
from retrofw.wire_ble import (
    AUTH_MAX_FAILURES,
    AUTH_NONCE_SIZE,
    AUTH_TAG_SIZE,
    BLE_PAYLOAD_MAX,
    BLE_PAYLOAD_MIN,
    BLE_SECRET_PATH,
    CTL_AUTH,
    CTL_CONFIG_GET,
    CTL_CONFIG_SET,
    CTL_ERR_BAD_TAG,
    CTL_ERR_FAILED,
    CTL_ERR_INVALID,
    CTL_ERR_LOCKED,
    CTL_ERR_NO_SECRET,
    CTL_ERR_NOT_AUTH,
    CTL_ERR_UNKNOWN,
    CTL_FILE_HASH,
    CTL_HEAD_FMT,
    CTL_HEAD_SIZE,
    CTL_HELLO,
    CTL_MARK_SYNCED,
    CTL_MSG_MAX,
    CTL_OK,
    CTL_PKT_SEQ,
    CTL_PKT_START,
    CTL_REPLY,
    CTL_SESSIONS,
    CTL_STATUS,
    CTL_WHY,
)


# -- framing ------------------------------------------------------------------------------------
def frame(op, status, payload, packet_size):
    """Cut one message into packets (a list of bytes). Host side and tests; allocates."""
    data = struct.pack(CTL_HEAD_FMT, op, status, len(payload)) + bytes(payload)
    step = packet_size - 1
    packets = []
    seq = 0
    for at in range(0, len(data), step):
        first = CTL_PKT_START if at == 0 else 0
        packets.append(bytes((first | (seq & CTL_PKT_SEQ),)) + data[at:at + step])
        seq += 1
    return packets


class Reassembler:
    """Collect the packets of one message; `feed()` returns True when a message is complete.

    Then `op`, `status` and `payload()` (a memoryview into the buffer, valid until the next
    feed) describe it. A sequence gap or an oversized message drops the message (`dropped`
    counts them; `too_long` is set for an oversized one so the device can say so).
    """

    def __init__(self, max_payload=CTL_MSG_MAX):
        self.buf = bytearray(CTL_HEAD_SIZE + max_payload)
        self.view = memoryview(self.buf)
        self.max_payload = max_payload
        self.dropped = 0
        self.too_long = False
        self.op = 0
        self.status = 0
        self.length = 0
        self.reset()

    def reset(self):
        self.fill = 0
        self.need = -1
        self.seq = 0
        self.active = False

    def feed(self, packet):
        n = len(packet)
        if n < 1:
            return False
        head = packet[0]
        if head & CTL_PKT_START:
            if self.active:
                self.dropped += 1
            self.fill = 0
            self.need = -1
            self.active = True
            self.too_long = False
        elif not self.active:
            return False
        elif (head & CTL_PKT_SEQ) != ((self.seq + 1) & CTL_PKT_SEQ):
            self.active = False
            self.dropped += 1
            return False
        self.seq = head & CTL_PKT_SEQ
        k = n - 1
        if self.fill + k > len(self.buf):
            self.active = False
            self.dropped += 1
            self.too_long = True
            return False
        self.view[self.fill:self.fill + k] = memoryview(packet)[1:]
        self.fill += k
        if self.need < 0 and self.fill >= CTL_HEAD_SIZE:
            self.op, self.status, self.length = struct.unpack_from(CTL_HEAD_FMT, self.buf, 0)
            if self.length > self.max_payload:
                self.active = False
                self.dropped += 1
                self.too_long = True
                return False
            self.need = CTL_HEAD_SIZE + self.length
        if self.need >= 0 and self.fill >= self.need:
            self.active = False
            if self.fill > self.need:
                self.dropped += 1
                return False
            return True
        return False

    def payload(self):
        return self.view[CTL_HEAD_SIZE:CTL_HEAD_SIZE + self.length]


def _name_ok(name):
    return 0 < len(name) <= 64 and "/" not in name and name not in (".", "..")


def sessions_listing(sessions_dir):
    """Default sessions(): [[name, size], ...] of the files in the sessions folder, sorted."""
    out = []
    try:
        names = sorted(os.listdir(sessions_dir))
    except OSError:
        return out
    for name in names:
        try:
            st = os.stat(sessions_dir + "/" + name)
        except OSError:
            continue
        if not st[0] & 0x4000:
            out.append([name, st[6]])
    return out


class FileConfig:
    """A small config store (JSON object file) with fixed keys and value types from `defaults`.

    The BLE cores take any config_get/config_set pair; this one stands in where the app's
    settings module is not wired (tests, a bare board). set() checks every change first and
    writes nothing if one is wrong (ValueError names it).
    """

    def __init__(self, path, defaults):
        self.path = path
        self.defaults = defaults

    def get(self):
        config = dict(self.defaults)
        try:
            with open(self.path) as f:
                stored = json.loads(f.read())
            for key in stored:
                if key in config:
                    config[key] = stored[key]
        except (OSError, ValueError):
            pass
        return config

    def set(self, changes):
        for key in changes:
            if key not in self.defaults:
                raise ValueError("unknown config key %s" % key)
            want = type(self.defaults[key])
            value = changes[key]
            if not (type(value) is want or (want is float and type(value) is int)):
                raise ValueError("%s must be %s" % (key, want.__name__))
        config = self.get()
        for key in changes:
            config[key] = changes[key]
        with open(self.path, "w") as f:
            f.write(json.dumps(config))
        return config


class ControlCore:
    """One connection's control state. Functions are injected so the core has no app deps.

    send(view) -> False when the radio is busy (then call `resume()` later).
    config_get() -> dict; config_set(changes: dict) -> dict (raise ValueError("why") to refuse);
    status() -> dict; sessions() -> list; mark_synced(name) -> object: all optional.
    random_bytes(n) -> n random bytes (default os.urandom).
    """

    def __init__(self, send, sessions_dir="/sessions", secret_path=BLE_SECRET_PATH,
                 config_get=None, config_set=None, status=None, sessions=None,
                 mark_synced=None, random_bytes=None, payload_size=BLE_PAYLOAD_MIN):
        self.send = send
        self.sessions_dir = sessions_dir.rstrip("/")
        self.secret_path = secret_path
        self.config_get = config_get
        self.config_set = config_set
        self.status_fn = status
        self.sessions_fn = sessions
        self.mark_synced_fn = mark_synced
        self.random_bytes = random_bytes or os.urandom
        self.rx = Reassembler()
        self.out = bytearray(BLE_PAYLOAD_MAX)
        self.outv = memoryview(self.out)
        self.chunk = bytearray(256)
        self.payload_size = BLE_PAYLOAD_MIN
        self.set_payload(payload_size)
        self.queue = []  # messages waiting to go out: (head bytes, payload bytes)
        self.reset()

    def set_payload(self, payload_size):
        self.payload_size = max(BLE_PAYLOAD_MIN, min(BLE_PAYLOAD_MAX, payload_size))

    def reset(self):
        """A new connection: not authenticated, no challenge open, nothing queued."""
        self.auth = False
        self.nonce = None
        self.failures = 0
        self.why = ""
        self.rx.reset()
        self.queue = []
        self.msg = None
        self.msg_at = 0
        self.seq = 0
        self.held = 0

    def authenticated(self):
        return self.auth

    def note_refusal(self, reason):
        """File transfer refused a request on this connection: remember why (CTL_WHY)."""
        self.why = reason

    # -- input --------------------------------------------------------------------------------
    def on_packet(self, data):
        if self.rx.feed(data):
            self._handle(self.rx.op, self.rx.payload())
        elif self.rx.too_long:
            self.rx.too_long = False
            self._answer(0, CTL_ERR_INVALID, b"message too long")
        self._pump()

    def _handle(self, op, payload):
        if op == CTL_HELLO:
            self._hello()
        elif op == CTL_AUTH:
            self._auth(payload)
        elif op == CTL_WHY:
            self._answer(op, CTL_OK, self.why.encode())
        elif op in (CTL_STATUS, CTL_SESSIONS, CTL_CONFIG_GET, CTL_CONFIG_SET, CTL_MARK_SYNCED,
                    CTL_FILE_HASH):
            if not self.auth:
                self.why = "not authenticated: answer the challenge first"
                self._answer(op, CTL_ERR_NOT_AUTH, self.why.encode())
                return
            self._owner_op(op, payload)
        else:
            self._answer(op, CTL_ERR_UNKNOWN, b"unknown command")

    def _hello(self):
        secret = load_secret(self.secret_path)
        self.nonce = bytes(self.random_bytes(AUTH_NONCE_SIZE))
        flags = 1 if secret is not None else 0
        self._answer(CTL_HELLO, CTL_OK, bytes((PROTOCOL_VERSION, flags)) + self.nonce)

    def _auth(self, payload):
        if self.failures >= AUTH_MAX_FAILURES:
            self._answer(CTL_AUTH, CTL_ERR_LOCKED, b"too many wrong answers: reconnect")
            return
        secret = load_secret(self.secret_path)
        if secret is None:
            self._answer(CTL_AUTH, CTL_ERR_NO_SECRET, b"device not paired: run retrorun pair")
            return
        nonce = self.nonce
        self.nonce = None  # single use, right or wrong
        if nonce is None or len(payload) != AUTH_TAG_SIZE + AUTH_NONCE_SIZE:
            self.failures += 1
            self._answer(CTL_AUTH, CTL_ERR_BAD_TAG, b"no challenge open or bad answer size")
            return
        tag = bytes(payload[:AUTH_TAG_SIZE])
        host_nonce = bytes(payload[AUTH_TAG_SIZE:])
        if not equal(tag, host_tag(secret, nonce, host_nonce)):
            self.failures += 1
            self._answer(CTL_AUTH, CTL_ERR_BAD_TAG, b"wrong secret")
            return
        self.auth = True
        self.failures = 0
        self._answer(CTL_AUTH, CTL_OK, device_tag(secret, nonce, host_nonce))

    def _owner_op(self, op, payload):
        try:
            if op == CTL_FILE_HASH:
                self._file_hash(bytes(payload).decode())
                return
            if op == CTL_STATUS:
                answer = self._status()
            elif op == CTL_SESSIONS:
                answer = (self.sessions_fn() if self.sessions_fn is not None
                          else sessions_listing(self.sessions_dir))
            elif op == CTL_CONFIG_GET:
                if self.config_get is None:
                    raise NotImplementedError("config is not available on this device")
                answer = self.config_get()
            elif op == CTL_CONFIG_SET:
                if self.config_set is None:
                    raise NotImplementedError("config is not available on this device")
                changes = json.loads(bytes(payload).decode())
                if not isinstance(changes, dict):
                    raise ValueError("config changes must be a JSON object")
                answer = self.config_set(changes)
            else:  # CTL_MARK_SYNCED: payload is the JSON argument (a session id)
                if self.mark_synced_fn is None:
                    raise NotImplementedError("mark_synced is not available on this device")
                answer = self.mark_synced_fn(json.loads(bytes(payload).decode()))
        except ValueError as exc:
            self._answer(op, CTL_ERR_INVALID, str(exc).encode())
            return
        except (OSError, NotImplementedError, KeyError, TypeError, ImportError,
                MemoryError) as exc:  # e.g. no RAM to load the settings: the app runs on
            self._answer(op, CTL_ERR_FAILED, (str(exc) or repr(exc)).encode())
            return
        self._answer(op, CTL_OK, json.dumps(answer).encode())

    def _status(self):
        if self.status_fn is not None:
            return self.status_fn()
        return {"protocol": PROTOCOL_VERSION,
                "sessions": len(sessions_listing(self.sessions_dir))}

    def _file_hash(self, name):
        if not _name_ok(name):
            raise ValueError("bad session name")
        h = hashlib.sha256()
        size = 0
        mv = memoryview(self.chunk)
        try:
            f = open(self.sessions_dir + "/" + name, "rb")
        except OSError:
            self._answer(CTL_FILE_HASH, CTL_ERR_INVALID, ("no such file " + name).encode())
            return
        with f:
            while True:
                n = f.readinto(self.chunk)
                if not n:
                    break
                h.update(mv[:n])
                size += n
        self._answer(CTL_FILE_HASH, CTL_OK, struct.pack("<I", size) + h.digest())

    # -- output -------------------------------------------------------------------------------
    def _answer(self, op, status, payload):
        self.queue.append((struct.pack(CTL_HEAD_FMT, op | CTL_REPLY, status, len(payload)),
                           payload))

    def _next_packet(self):
        if self.msg is None:
            if not self.queue:
                return 0
            self.msg = self.queue.pop(0)
            self.msg_at = 0
            self.seq = 0
        head, payload = self.msg
        total = len(head) + len(payload)
        out = self.out
        out[0] = (CTL_PKT_START if self.msg_at == 0 else 0) | (self.seq & CTL_PKT_SEQ)
        n = 1
        while n < self.payload_size and self.msg_at < total:
            at = self.msg_at
            if at < len(head):
                out[n] = head[at]
                n += 1
                self.msg_at += 1
            else:
                k = min(self.payload_size - n, total - at)
                self.outv[n:n + k] = payload[at - len(head):at - len(head) + k]
                n += k
                self.msg_at += k
        self.seq += 1
        if self.msg_at >= total:
            self.msg = None
        return n

    def _pump(self):
        while True:
            n = self.held or self._next_packet()
            if n == 0:
                return
            if self.send(self.outv[:n]) is False:
                self.held = n
                return
            self.held = 0

    def resume(self):
        self._pump()
