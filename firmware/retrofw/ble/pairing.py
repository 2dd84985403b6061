"""The BLE pairing secret and the challenge-response tags of the control characteristic.

The 32-byte secret reaches the device over USB (`retrorun pair` runs `pair_from_hex` at the
REPL: this module alone, not the BLE services) and lives in BLE_SECRET_PATH. Tags are
HMAC-SHA256 over a label and both nonces (protocol in retrofw.ble.control and docs/ble.md).
HMAC is written here on hashlib.sha256 (MicroPython has no hmac module); tests check it against
CPython's hmac with the RFC 4231 vectors.
"""

import hashlib

from retrofw.wire_ble import (
    AUTH_DEVICE_LABEL,
    AUTH_HOST_LABEL,
    AUTH_KEY_LABEL,
    AUTH_SECRET_SIZE,
    BLE_SECRET_PATH,
    CTL_TAG_SIZE,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_BLOCK = const(64)


# -- HMAC-SHA256 --------------------------------------------------------------------------------
def hmac_sha256(key, parts):
    """HMAC-SHA256 (RFC 2104) of the concatenation of `parts` (a tuple of bytes) under `key`."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        k = key[i] if i < len(key) else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    inner = hashlib.sha256(ipad)
    for part in parts:
        inner.update(part)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Compare two byte strings in time that depends only on their length."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def host_tag(secret, device_nonce, host_nonce):
    return hmac_sha256(secret, (AUTH_HOST_LABEL, device_nonce, host_nonce))


def device_tag(secret, device_nonce, host_nonce):
    return hmac_sha256(secret, (AUTH_DEVICE_LABEL, device_nonce, host_nonce))


def session_key(secret, device_nonce, host_nonce):
    """The key of one authenticated link: only the two ends that hold the secret know it, so
    whoever relayed the challenge cannot seal a message (docs/ble.md)."""
    return hmac_sha256(secret, (AUTH_KEY_LABEL, device_nonce, host_nonce))


def seal(key, direction, head, counter, body):
    """The tag of one sealed control message: direction byte, the message head (op, status),
    the counter bytes and the body, truncated to CTL_TAG_SIZE."""
    return hmac_sha256(key, (direction, head, counter, body))[:CTL_TAG_SIZE]


# -- the secret on the device -------------------------------------------------------------------
def load_secret(path=BLE_SECRET_PATH):
    """The pairing secret (bytes), or None when the device was never paired."""
    try:
        with open(path, "rb") as f:
            secret = f.read()
    except OSError:
        return None
    if len(secret) != AUTH_SECRET_SIZE:
        return None
    return secret


def write_secret(secret, path=BLE_SECRET_PATH):
    """Store the pairing secret (32 bytes); `retrorun pair` calls this over USB."""
    if len(secret) != AUTH_SECRET_SIZE:
        raise ValueError("the pairing secret must be %d bytes" % AUTH_SECRET_SIZE)
    with open(path, "wb") as f:
        f.write(secret)


def pair_from_hex(text, path=BLE_SECRET_PATH):
    """write_secret() from a hex string (what the host sends through the REPL); prints OK."""
    import binascii

    write_secret(binascii.unhexlify(text), path)
    print("OK")
