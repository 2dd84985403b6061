"""RSC Measurement (0x2A53) and RSC Feature (0x2A54) bytes, field by field, per the GATT spec.

Expected bytes are written out by hand from the specification's layout (little-endian: flags
uint8; speed uint16 in 1/256 m/s; cadence uint8 in 1/min; stride uint16 in 1/100 m if flags
bit 0; total distance uint32 in 1/10 m if flags bit 1; bit 2 walking 0 / running 1), not
derived from the code under test.
"""

import pytest

from retrofw.ble import rsc

pytestmark = pytest.mark.ble


def encode(*args):
    buf = rsc.new_buffer()
    n = rsc.encode_measurement(buf, *args)
    return bytes(buf[:n])


def test_measurement_fields_byte_by_byte():
    # 3.5 m/s = 896/256 -> 0x0380; cadence 172; running; stride 1.23 m; distance 4321.0 m
    got = encode(896, 172, True, 123, 43210)
    assert got[0] == 0b0000_0111  # stride present | distance present | running
    assert got[1:3] == bytes([0x80, 0x03])  # speed, little-endian
    assert got[3] == 172  # cadence
    assert got[4:6] == bytes([123, 0])  # stride length 1/100 m
    assert got[6:10] == bytes([0xCA, 0xA8, 0x00, 0x00])  # 43210 = 0xA8CA, 1/10 m
    assert len(got) == 10


@pytest.mark.parametrize(("stride", "distance", "flags", "length"), [
    (-1, -1, 0x00, 4), (150, -1, 0x01, 6), (-1, 10, 0x02, 8), (150, 10, 0x03, 10)])
def test_optional_fields_follow_the_flags(stride, distance, flags, length):
    got = encode(256, 90, False, stride, distance)
    assert got[0] == flags  # walking: bit 2 clear
    assert len(got) == length
    assert got[1:4] == bytes([0x00, 0x01, 90])  # 1.0 m/s, 90 steps/min
    if stride >= 0:
        assert got[4:6] == stride.to_bytes(2, "little")
    if distance >= 0:
        at = 6 if stride >= 0 else 4
        assert got[at:at + 4] == distance.to_bytes(4, "little")


def test_values_clamp_to_their_fields_instead_of_wrapping():
    got = encode(70000, 300, True, 70000, 1 << 33)
    assert got[1:3] == b"\xff\xff" and got[3] == 255
    assert got[4:6] == b"\xff\xff" and got[6:10] == b"\xff\xff\xff\xff"
    assert encode(-5, -1, False)[1:4] == b"\x00\x00\x00"


def test_speed_conversion_and_decode_round_trip():
    assert rsc.speed_256_from_mm_s(3500) == 896
    assert rsc.speed_256_from_mm_s(1000) == 256
    assert rsc.decode_measurement(encode(896, 172, True, 123, 43210)) == (7, 896, 172, 123, 43210)
    with pytest.raises(ValueError):
        rsc.decode_measurement(encode(896, 172, True, 123, 43210)[:8])


def test_feature_bits():
    buf = bytearray(2)
    assert rsc.encode_feature(buf) == 2
    # bit 0 stride length, bit 1 total distance, bit 2 walking/running; no calibration (bit 3)
    # and no multiple sensor locations (bit 4)
    assert bytes(buf) == bytes([0b0000_0111, 0])


def test_same_bytes_in_micropython_and_the_encoder_allocates_nothing(both, mpy):
    code = """
from retrofw.ble import rsc
cases = [(896, 172, True, 123, 43210), (256, 90, False, -1, -1), (70000, 300, 1, 70000, 1 << 33),
         (0, 0, 0, 0, 0), (1, 255, 0, -1, 99)]
buf = rsc.new_buffer()
result = []
for c in cases:
    n = rsc.encode_measurement(buf, c[0], c[1], c[2], c[3], c[4])
    result.append(list(buf[:n]))
fb = bytearray(2)
rsc.encode_feature(fb)
result.append(list(fb))
"""
    assert both.run(code)[0] == [7, 0x80, 3, 172, 123, 0, 0xCA, 0xA8, 0, 0]
    alloc = mpy.eval("""
from retrofw.ble import rsc
enc = rsc.RscEncoder()
values = (896, 172, True, 123, 43210)
enc.update(values)
no_alloc(enc.update, values)
result = [mem_delta(enc.update, values), enc.length]
""")
    assert alloc == [0, 10]
