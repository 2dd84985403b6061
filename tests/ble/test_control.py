"""The control core: HMAC, framing, the pairing challenge-response and its refusals."""

import hashlib
import hmac
import struct

import pytest

from retrofw import wire, wire_ble
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


class Device:
    """A ControlCore with a secret file and a scripted random source."""

    def __init__(self, tmp_path, secret=SECRET):
        self.packets = []
        if secret is not None:
            pairing.write_secret(secret, str(tmp_path / "ble_secret"))
        self.writes = []
        self.core = control.ControlCore(
            lambda v: self.packets.append(bytes(v)), str(tmp_path / "sessions"),
            str(tmp_path / "ble_secret"), config_get=lambda: {"a": 1},
            config_set=self._set, random_bytes=lambda n: bytes([7]) * n)

    def _set(self, changes):
        self.writes.append(changes)
        return {"ok": True}

    def request(self, op, payload=b""):
        self.packets = []
        for p in control.frame(op, 0, payload, 20):
            self.core.on_packet(p)
        rx = control.Reassembler()
        for p in self.packets:
            if rx.feed(p):
                assert rx.op == op | wire_ble.CTL_REPLY
                return rx.status, bytes(rx.payload())
        raise AssertionError("no answer")

    def hello(self):
        status, answer = self.request(wire_ble.CTL_HELLO)
        assert status == wire_ble.CTL_OK
        return answer[0], answer[1], answer[2:]


def test_challenge_response_authenticates_and_the_device_proves_itself(tmp_path):
    dev = Device(tmp_path)
    version, has_secret, nonce = dev.hello()
    assert (version, has_secret, len(nonce)) == (wire.PROTOCOL_VERSION, 1, 16)
    assert dev.request(wire_ble.CTL_CONFIG_GET)[0] == wire_ble.CTL_ERR_NOT_AUTH
    host_nonce = b"\x01" * 16
    status, answer = dev.request(wire_ble.CTL_AUTH,
                                 pairing.host_tag(SECRET, nonce, host_nonce) + host_nonce)
    assert status == wire_ble.CTL_OK
    expected = hmac.new(SECRET, wire_ble.AUTH_DEVICE_LABEL + nonce + host_nonce,
                        hashlib.sha256).digest()
    assert answer == expected
    assert dev.core.authenticated()
    assert dev.request(wire_ble.CTL_CONFIG_GET) == (wire_ble.CTL_OK, b'{"a": 1}')
    dev.core.reset()  # a new connection starts unauthenticated
    assert dev.request(wire_ble.CTL_CONFIG_GET)[0] == wire_ble.CTL_ERR_NOT_AUTH


def test_wrong_secret_replay_and_brute_force_are_refused(tmp_path):
    dev = Device(tmp_path)
    _, _, nonce = dev.hello()
    host_nonce = b"\x02" * 16
    wrong = pairing.host_tag(b"\x00" * 32, nonce, host_nonce) + host_nonce
    assert dev.request(wire_ble.CTL_AUTH, wrong) == (wire_ble.CTL_ERR_BAD_TAG, b"wrong secret")
    # replaying a correct answer for a nonce already used fails: nonces are single use
    right = pairing.host_tag(SECRET, nonce, host_nonce) + host_nonce
    assert dev.request(wire_ble.CTL_AUTH, right)[0] == wire_ble.CTL_ERR_BAD_TAG
    _, _, nonce = dev.hello()
    dev.request(wire_ble.CTL_AUTH, wrong)  # third failure
    _, _, nonce = dev.hello()
    right = pairing.host_tag(SECRET, nonce, host_nonce) + host_nonce
    assert dev.request(wire_ble.CTL_AUTH, right)[0] == wire_ble.CTL_ERR_LOCKED
    assert not dev.core.authenticated()
    assert dev.request(wire_ble.CTL_CONFIG_SET, b'{"a": 2}')[0] == wire_ble.CTL_ERR_NOT_AUTH
    assert dev.writes == []


def test_a_device_without_secret_refuses_everyone(tmp_path):
    dev = Device(tmp_path, secret=None)
    _, has_secret, nonce = dev.hello()
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
    rx = control.Reassembler()
    assert any(rx.feed(p) for p in dev.packets)
    assert rx.status == wire_ble.CTL_ERR_INVALID and b"too long" in bytes(rx.payload())
