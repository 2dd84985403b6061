"""The owner-only control characteristic: pairing challenge, sealed requests, sessions, config.

Security (threat model in docs/ble.md). A 32-byte pairing secret is written to the device over
USB (`retrorun pair`, file BLE_SECRET_PATH) and kept by the host. On each connection the host
asks HELLO and gets a fresh 16-byte device nonce Nd (os.urandom; single use) and the chip's uid
(the host keys its secrets by it). It answers AUTH with tag_h = HMAC-SHA256(secret,
AUTH_HOST_LABEL + Nd + Nh) and its own nonce Nh; the device compares in constant time and, if
right, answers tag_d = HMAC-SHA256(secret, AUTH_DEVICE_LABEL + Nd + Nh), so the host knows the
device holds the secret too. Both ends then derive the link's session key K = HMAC-SHA256(secret,
AUTH_KEY_LABEL + Nd + Nh). Every owner request and its answer is sealed with K and a counter
(pairing.seal): whoever relayed HELLO and AUTH between the owner and the device holds an
"authenticated" link but cannot say anything on it. A wrong answer burns the nonce; after
AUTH_MAX_FAILURES wrong answers or badly sealed requests the connection is locked.

Framing (CTL_* in retrofw.wire_ble): a message is CTL_HEAD_FMT (op, status, payload length) +
payload, cut into packets of the connection's payload size; each packet starts with one byte,
CTL_PKT_START on the first packet | a 7-bit sequence number. A missing packet is detected and the
message dropped (the host times out and asks again). The same `Reassembler` and `frame()` serve
the host, so there is one definition of the framing.

Memory: `on_packet` (the radio's write interrupt) only copies into the reassembler; `process()`
(the Bluetooth task) answers. One request at a time per link: packets of a new one are dropped
until the last is answered. At most CTL_QUEUE_LINK answers per link and CTL_QUEUE_BYTES over all
links wait; beyond that a request is answered CTL_ERR_BUSY (a short answer) or dropped.
"""

import binascii
import json
import os
import struct

from retrofw.ble.pairing import device_tag, equal, host_tag, load_secret, seal, session_key
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
    CTL_DATA_FMT,
    CTL_ERR_BAD_TAG,
    CTL_ERR_BUSY,
    CTL_ERR_CONFIRM,
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
    CTL_QUEUE_BYTES,
    CTL_QUEUE_LINK,
    CTL_READ,
    CTL_READ_FMT,
    CTL_READ_MAX,
    CTL_READ_SIZE,
    CTL_REPLY,
    CTL_SEQ_FMT,
    CTL_SEQ_SIZE,
    CTL_SESSIONS,
    CTL_STATUS,
    CTL_TAG_SIZE,
    CTL_TO_DEVICE,
    CTL_TO_HOST,
    CTL_VERSION,
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


class ControlCore:
    """One connection's control state. Functions are injected so the core has no app deps.

    send(view) -> False when the radio is busy (then call `resume()` later).
    store: the SessionStore the sessions are read from (path(id), size(id)).
    config_get() -> dict; config_set(changes: dict) -> dict (raise ValueError("why") to refuse;
    an answer with "confirm" waits for the device's button: CTL_ERR_CONFIRM);
    status() -> dict; sessions() -> dict; mark_synced(id) -> dict: all optional.
    random_bytes(n) -> n random bytes (default os.urandom); uid: the chip's unique id (bytes).
    """

    queued = 0  # answer bytes waiting over all links (CTL_QUEUE_BYTES)

    def __init__(self, send, store=None, secret_path=BLE_SECRET_PATH, config_get=None,
                 config_set=None, status=None, sessions=None, mark_synced=None,
                 random_bytes=None, uid=b"", payload_size=BLE_PAYLOAD_MIN):
        self.send = send
        self.store = store
        self.secret_path = secret_path
        self.config_get = config_get
        self.config_set = config_set
        self.status_fn = status
        self.sessions_fn = sessions
        self.mark_synced_fn = mark_synced
        self.random_bytes = random_bytes or os.urandom
        self.uid = bytes(uid)
        self.rx = Reassembler()
        self.out = bytearray(BLE_PAYLOAD_MAX)
        self.outv = memoryview(self.out)
        self.chunk = bytearray(256)
        self.payload_size = BLE_PAYLOAD_MIN
        self.set_payload(payload_size)
        self.queue = []  # messages waiting to go out: (head bytes, payload bytes)
        self.dropped = 0  # requests dropped: one still unanswered, or the queues full
        self.reset()

    def set_payload(self, payload_size):
        self.payload_size = max(BLE_PAYLOAD_MIN, min(BLE_PAYLOAD_MAX, payload_size))

    def reset(self):
        """A new connection: not authenticated, no challenge open, nothing queued."""
        self.key = None
        self.counter = 0
        self.nonce = None
        self.failures = 0
        self.rx.reset()
        self.ready = False
        for head, payload in self.queue:
            ControlCore.queued -= len(head) + len(payload)
        msg = getattr(self, "msg", None)
        if msg is not None:  # counted until its last packet went out
            ControlCore.queued -= len(msg[0]) + len(msg[1])
        self.queue = []
        self.msg = None
        self.msg_at = 0
        self.seq = 0
        self.held = 0

    def authenticated(self):
        return self.key is not None

    # -- input --------------------------------------------------------------------------------
    def on_packet(self, data):
        """A packet the central wrote (the write interrupt): copied, answered by process()."""
        if self.ready:
            if data and data[0] & CTL_PKT_START:
                self.dropped += 1
            return
        if self.rx.feed(data):
            self.ready = True
        elif self.rx.too_long:
            self.rx.too_long = False
            self._answer(0, CTL_ERR_INVALID, b"message too long")

    def process(self):
        """Answer a complete request, if one came; then send what the radio takes."""
        if self.ready:
            try:
                self._handle(self.rx.op, self.rx.payload())
            finally:
                self.ready = False
        self._pump()

    def _handle(self, op, payload):
        if op == CTL_HELLO:
            self._hello()
        elif op == CTL_AUTH:
            self._auth(payload)
        elif op in (CTL_STATUS, CTL_SESSIONS, CTL_CONFIG_GET, CTL_CONFIG_SET, CTL_MARK_SYNCED,
                    CTL_FILE_HASH, CTL_READ):
            if self.key is None:
                self._answer(op, CTL_ERR_NOT_AUTH, b"not authenticated: answer the challenge")
                return
            body = self._open(op, payload)
            if body is not None:
                self._owner_op(op, body)
        else:
            self._answer(op, CTL_ERR_UNKNOWN, b"unknown command")

    def _fail(self, op, why):
        self.failures += 1
        if self.failures >= AUTH_MAX_FAILURES:
            self.key = None
        self._answer(op, CTL_ERR_BAD_TAG, why)

    def _open(self, op, payload):
        """The body of a sealed request, or None (refused and counted as a failure)."""
        n = len(payload) - CTL_SEQ_SIZE - CTL_TAG_SIZE
        if n < 0:
            self._fail(op, b"request not sealed")
            return None
        counter = bytes(payload[:CTL_SEQ_SIZE])
        body = bytes(payload[CTL_SEQ_SIZE:CTL_SEQ_SIZE + n])
        tag = bytes(payload[CTL_SEQ_SIZE + n:])
        if not equal(tag, seal(self.key, CTL_TO_DEVICE, bytes((op, 0)), counter, body)):
            self._fail(op, b"request not sealed with this link's key")
            return None
        value = struct.unpack(CTL_SEQ_FMT, counter)[0]
        if value <= self.counter:
            self._fail(op, b"request counter repeated")
            return None
        self.counter = value
        return body

    def _hello(self):
        secret = load_secret(self.secret_path)
        self.nonce = bytes(self.random_bytes(AUTH_NONCE_SIZE))
        flags = 1 if secret is not None else 0
        self._answer(CTL_HELLO, CTL_OK, bytes((CTL_VERSION, flags)) + self.nonce + self.uid)

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
        self.key = None  # a new challenge ends the old key
        if nonce is None or len(payload) != AUTH_TAG_SIZE + AUTH_NONCE_SIZE:
            self._fail(CTL_AUTH, b"no challenge open or bad answer size")
            return
        tag = bytes(payload[:AUTH_TAG_SIZE])
        host_nonce = bytes(payload[AUTH_TAG_SIZE:])
        if not equal(tag, host_tag(secret, nonce, host_nonce)):
            self._fail(CTL_AUTH, b"wrong secret")
            return
        self.key = session_key(secret, nonce, host_nonce)
        self.counter = 0
        self.failures = 0
        self._answer(CTL_AUTH, CTL_OK, device_tag(secret, nonce, host_nonce))

    def _owner_op(self, op, body):
        status = CTL_OK
        try:
            if op == CTL_FILE_HASH:
                answer = self._file_hash(body)
            elif op == CTL_READ:
                answer = self._read(body)
            else:
                if op == CTL_STATUS:
                    obj = self._status()
                elif op == CTL_SESSIONS:
                    obj = self._need(self.sessions_fn, "sessions")()
                elif op == CTL_CONFIG_GET:
                    obj = self._need(self.config_get, "config")()
                elif op == CTL_CONFIG_SET:
                    changes = json.loads(body.decode())
                    if not isinstance(changes, dict):
                        raise ValueError("config changes must be a JSON object")
                    obj = self._need(self.config_set, "config")(changes)
                    if "confirm" in obj:
                        status = CTL_ERR_CONFIRM
                else:  # CTL_MARK_SYNCED: the body is the JSON argument (a session id)
                    obj = self._need(self.mark_synced_fn, "mark_synced")(json.loads(body.decode()))
                answer = json.dumps(obj).encode()
        except ValueError as exc:
            status, answer = CTL_ERR_INVALID, str(exc).encode()
        except (OSError, NotImplementedError, KeyError, TypeError, ImportError,
                MemoryError) as exc:  # e.g. no RAM to load the settings: the app runs on
            status, answer = CTL_ERR_FAILED, (str(exc) or repr(exc)).encode()
        self._sealed(op, status, answer)

    def _need(self, fn, what):
        if fn is None:
            raise NotImplementedError(what + " is not available on this device")
        return fn

    def _status(self):
        if self.status_fn is not None:
            return self.status_fn()
        return {"ok": True, "ble": CTL_VERSION}

    def _session_path(self, body, size):
        if len(body) != size or self.store is None:
            raise ValueError("bad request size")
        sid = struct.unpack_from("<I", body, 0)[0]
        if self.store.size(sid) < 0:
            raise ValueError("no session %d" % sid)
        return sid, self.store.path(sid)

    def _file_hash(self, body):
        sid = self._session_path(body, 4)[0]
        store = self.store
        if store is None:  # _session_path refused already
            raise ValueError("no session store")
        size, digest = store.sha256(sid, self.chunk)
        return struct.pack("<I", size) + digest

    def _read(self, body):
        """Bytes [offset, offset + size) of a session, with their CRC-32 (as the USB API)."""
        _sid, offset, size = struct.unpack(CTL_READ_FMT, body[:CTL_READ_SIZE])
        path = self._session_path(body, CTL_READ_SIZE)[1]
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(min(size, CTL_READ_MAX))
        return struct.pack(CTL_DATA_FMT, offset, binascii.crc32(data)) + data

    # -- output -------------------------------------------------------------------------------
    def _sealed(self, op, status, body):
        head = bytes((op | CTL_REPLY, status))
        counter = struct.pack(CTL_SEQ_FMT, self.counter)
        self._answer(op, status, counter + body + seal(self.key, CTL_TO_HOST, head, counter, body))

    def _answer(self, op, status, payload):
        size = CTL_HEAD_SIZE + len(payload)
        if len(self.queue) >= CTL_QUEUE_LINK or ControlCore.queued + size > CTL_QUEUE_BYTES:
            self.dropped += 1
            if len(self.queue) >= CTL_QUEUE_LINK or ControlCore.queued + 16 > CTL_QUEUE_BYTES:
                return  # nothing more for this link now: the host asks again
            status, payload, size = CTL_ERR_BUSY, b"busy", CTL_HEAD_SIZE + 4
        ControlCore.queued += size
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
            ControlCore.queued -= total
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
