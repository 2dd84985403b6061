"""The control core: HMAC, framing, the pairing challenge-response, sealed messages, the answer
queue's caps and its refusals. Tags and keys are recomputed here with CPython's hmac (RFC 2104),
not with the firmware's."""

import hashlib
import hmac
import struct

import pytest

from retrofw import wire_ble
from retrofw.ble import control, pairing

pytestmark = pytest.mark.ble

SECRET = bytes(range(32))

# RFC 4231 HMAC-SHA256 test cases 1, 2, 6 (key longer than the block), 7
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


def test_hmac_matches_rfc4231_and_cpython_in_both_runtimes(both):
    cases = [(k.hex(), m.hex()) for k, m, _ in RFC4231]
    got = both.run(f"""
import binascii
from retrofw.ble.pairing import hmac_sha256, equal
result = []
for k, m in {cases!r}:
    key = binascii.unhexlify(k)
    msg = binascii.unhexlify(m)
    result.append(binascii.hexlify(hmac_sha256(key, (msg[:5], msg[5:]))).decode())
result.append([equal(b"abc", b"abc"), equal(b"abc", b"abd"), equal(b"abc", b"ab")])
""")
    assert got[:-1] == [expected for _, _, expected in RFC4231]
    for key, msg, expected in RFC4231:
        assert hmac.new(key, msg, hashlib.sha256).hexdigest() == expected
    assert got[-1] == [True, False, False]


def test_framing_round_trip_and_a_lost_packet_drops_the_message():
    payload = bytes(range(256)) * 2
    for size in (20, 23, 100, 244):
        packets = control.frame(0x42, 3, payload, size)
        assert all(len(p) <= size for p in packets)
        rx = control.Reassembler()
        done = [rx.feed(p) for p in packets]
        assert done[-1] and not any(done[:-1])
        assert (rx.op, rx.status, bytes(rx.payload())) == (0x42, 3, payload)
    packets = control.frame(0x42, 0, payload, 20)
    rx = control.Reassembler()
    assert not any(rx.feed(p) for p in packets[:5] + packets[6:])  # packet 5 lost
    assert rx.dropped == 1
    assert rx.feed(control.frame(1, 0, b"x", 20)[0])  # the next message goes through


UID = bytes.fromhex("24a1600a1b2c")


def mac(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


class Device:
    """A ControlCore with a secret file and a scripted random source."""

    def __init__(self, tmp_path, secret=SECRET, send=None):
        self.packets = []
        if secret is not None:
            pairing.write_secret(secret, str(tmp_path / "ble_secret"))
        self.writes = []
        self.core = control.ControlCore(
            send or (lambda v: self.packets.append(bytes(v))), None,
            str(tmp_path / "ble_secret"), config_get=lambda: {"a": 1},
            config_set=self._set, random_bytes=lambda n: bytes([7]) * n, uid=UID)

    def _set(self, changes):
        self.writes.append(changes)
        return {"ok": True}

    def request(self, op, payload=b""):
        self.packets = []
        for p in control.frame(op, 0, payload, 20):
            self.core.on_packet(p)
            self.core.process()
        rx = control.Reassembler()
        for p in self.packets:
            if rx.feed(p):
                assert rx.op == op | wire_ble.CTL_REPLY
                return rx.status, bytes(rx.payload())
        raise AssertionError("no answer")

    def hello(self):
        status, answer = self.request(wire_ble.CTL_HELLO)
        assert status == wire_ble.CTL_OK
        return answer[0], answer[1], answer[2:18], answer[18:]

    def authenticate(self, host_nonce=b"\x01" * 16):
        """(session key) after HELLO and AUTH; the key as CPython's hmac derives it."""
        nonce = self.hello()[2]
        status, _ = self.request(wire_ble.CTL_AUTH,
                                 mac(SECRET, wire_ble.AUTH_HOST_LABEL, nonce, host_nonce)
                                 + host_nonce)
        assert status == wire_ble.CTL_OK
        return mac(SECRET, wire_ble.AUTH_KEY_LABEL, nonce, host_nonce)

    def sealed(self, key, op, counter, body=b""):
        c = struct.pack("<I", counter)
        return self.request(op, c + body + mac(key, b"\x01", bytes((op, 0)), c, body)[:16])


def test_challenge_response_authenticates_and_the_device_proves_itself(tmp_path):
    dev = Device(tmp_path)
    version, has_secret, nonce, uid = dev.hello()
    assert (version, has_secret, len(nonce), uid) == (2, 1, 16, UID)
    assert dev.request(wire_ble.CTL_CONFIG_GET)[0] == wire_ble.CTL_ERR_NOT_AUTH
    host_nonce = b"\x01" * 16
    status, answer = dev.request(wire_ble.CTL_AUTH,
                                 mac(SECRET, b"retrorun-auth-host", nonce, host_nonce)
                                 + host_nonce)
    assert status == wire_ble.CTL_OK
    assert answer == mac(SECRET, b"retrorun-auth-device", nonce, host_nonce)
    assert dev.core.authenticated()
    key = mac(SECRET, b"retrorun-session-key", nonce, host_nonce)
    status, answer = dev.sealed(key, wire_ble.CTL_CONFIG_GET, 1)
    # the answer: the request's counter, the JSON body, the tag over direction 2 and the head
    assert (status, answer[:4], answer[4:-16]) == (0, b"\x01\0\0\0", b'{"a": 1}')
    assert answer[-16:] == mac(key, b"\x02", bytes((0x85, 0)), answer[:4], b'{"a": 1}')[:16]
    dev.core.reset()  # a new connection starts unauthenticated
    assert dev.request(wire_ble.CTL_CONFIG_GET)[0] == wire_ble.CTL_ERR_NOT_AUTH


def test_an_authenticated_link_obeys_only_sealed_requests_with_rising_counters(tmp_path):
    """What a relay holds after passing HELLO and AUTH through: a link the device calls
    authenticated, and no key. Nothing it can send is obeyed."""
    dev = Device(tmp_path)
    key = dev.authenticate()
    body = b'{"haptic.strength": 20}'
    plain = dev.request(wire_ble.CTL_CONFIG_SET, body)  # unsealed
    assert plain[0] == wire_ble.CTL_ERR_BAD_TAG
    guessed = dev.sealed(b"\x00" * 32, wire_ble.CTL_CONFIG_SET, 1, body)  # another key
    assert guessed[0] == wire_ble.CTL_ERR_BAD_TAG
    assert dev.writes == []
    assert dev.core.authenticated()  # two failures of three
    assert dev.sealed(key, wire_ble.CTL_CONFIG_SET, 5, body)[0] == wire_ble.CTL_OK
    assert dev.writes == [{"haptic.strength": 20}]
    # the owner's request captured and sent again (same counter), or with a lower one
    assert dev.sealed(key, wire_ble.CTL_CONFIG_SET, 5, body)[0] == wire_ble.CTL_ERR_BAD_TAG
    assert dev.writes == [{"haptic.strength": 20}]
    assert not dev.core.authenticated()  # the third failure locks the link
    assert dev.sealed(key, wire_ble.CTL_CONFIG_SET, 6, body)[0] == wire_ble.CTL_ERR_NOT_AUTH


def test_a_sealed_request_changed_in_flight_is_refused(tmp_path):
    dev = Device(tmp_path)
    key = dev.authenticate()
    c = struct.pack("<I", 1)
    body = b'{"haptic.strength": 90}'
    tag = mac(key, b"\x01", bytes((wire_ble.CTL_CONFIG_SET, 0)), c, body)[:16]
    changed = body.replace(b"90", b"20")
    assert dev.request(wire_ble.CTL_CONFIG_SET, c + changed + tag)[0] == wire_ble.CTL_ERR_BAD_TAG
    # the tag binds the op: the same sealed body under another op is refused
    assert dev.request(wire_ble.CTL_MARK_SYNCED, c + body + tag)[0] == wire_ble.CTL_ERR_BAD_TAG
    assert dev.writes == []


def test_the_answer_queue_is_capped_per_link_and_over_all_links(tmp_path):
    """~400 HELLOs at a radio that takes nothing (a central that never reads): the queue stays
    within its caps instead of growing until the heap is gone."""
    control.ControlCore.queued = 0
    links = [Device(tmp_path, send=lambda v: False) for _ in range(3)]
    for _ in range(400):
        for dev in links:
            for p in control.frame(wire_ble.CTL_HELLO, 0, b"", 20):
                dev.core.on_packet(p)
            dev.core.process()
    for dev in links:
        assert len(dev.core.queue) <= wire_ble.CTL_QUEUE_LINK
        # one answer in the radio's hands (held), CTL_QUEUE_LINK behind it, the rest dropped
        assert dev.core.dropped == 400 - 1 - wire_ble.CTL_QUEUE_LINK
    assert 0 < control.ControlCore.queued <= wire_ble.CTL_QUEUE_BYTES
    for dev in links:
        dev.core.reset()  # the links go: their queued answers are given back
    assert control.ControlCore.queued == 0


def test_a_new_request_waits_until_the_last_is_answered(tmp_path):
    dev = Device(tmp_path)
    first = control.frame(wire_ble.CTL_HELLO, 0, b"", 20)[0]
    dev.core.on_packet(first)
    dev.core.on_packet(first)  # arrives before the Bluetooth task ran: dropped
    dev.core.process()
    assert dev.core.dropped == 1
    rx = control.Reassembler()
    assert sum(rx.feed(p) for p in dev.packets) == 1


def test_wrong_secret_replay_and_brute_force_are_refused(tmp_path):
    dev = Device(tmp_path)
    nonce = dev.hello()[2]
    host_nonce = b"\x02" * 16
    wrong = pairing.host_tag(b"\x00" * 32, nonce, host_nonce) + host_nonce
    assert dev.request(wire_ble.CTL_AUTH, wrong) == (wire_ble.CTL_ERR_BAD_TAG, b"wrong secret")
    # replaying a correct answer for a nonce already used fails: nonces are single use
    right = pairing.host_tag(SECRET, nonce, host_nonce) + host_nonce
    assert dev.request(wire_ble.CTL_AUTH, right)[0] == wire_ble.CTL_ERR_BAD_TAG
    nonce = dev.hello()[2]
    dev.request(wire_ble.CTL_AUTH, wrong)  # third failure
    nonce = dev.hello()[2]
    right = pairing.host_tag(SECRET, nonce, host_nonce) + host_nonce
    assert dev.request(wire_ble.CTL_AUTH, right)[0] == wire_ble.CTL_ERR_LOCKED
    assert not dev.core.authenticated()
    assert dev.request(wire_ble.CTL_CONFIG_SET, b'{"a": 2}')[0] == wire_ble.CTL_ERR_NOT_AUTH
    assert dev.writes == []


def test_a_device_without_secret_refuses_everyone(tmp_path):
    dev = Device(tmp_path, secret=None)
    _, has_secret, nonce, _uid = dev.hello()
    assert has_secret == 0
    tag = pairing.host_tag(b"", nonce, b"\x00" * 16) + b"\x00" * 16
    assert dev.request(wire_ble.CTL_AUTH, tag)[0] == wire_ble.CTL_ERR_NO_SECRET
    with pytest.raises(ValueError):
        pairing.write_secret(b"short", str(tmp_path / "s"))


def test_oversized_message_is_refused_with_a_reason(tmp_path):
    dev = Device(tmp_path)
    dev.packets = []
    head = struct.pack(wire_ble.CTL_HEAD_FMT, wire_ble.CTL_CONFIG_SET, 0, 60000)
    dev.core.on_packet(bytes([wire_ble.CTL_PKT_START]) + head)
    dev.core.process()
    rx = control.Reassembler()
    assert any(rx.feed(p) for p in dev.packets)
    assert rx.status == wire_ble.CTL_ERR_INVALID and b"too long" in bytes(rx.payload())
