"""wire.py is one file for both runtimes: same constants, same struct sizes."""

import struct

from retrofw import wire


def test_declared_sizes_match_calcsize_in_both_runtimes(both):
    result = both.run("""
from retrofw import wire
result = sorted([k, v[0], v[1]] for k, v in wire.check_sizes().items())
""")
    for name, calc, declared in result:
        assert calc == declared, f"{name}_FMT is {calc} bytes but {name}_SIZE says {declared}"


def test_constants_identical_in_both_runtimes(both):
    result = both.run("""
from retrofw import wire
result = dict((k, getattr(wire, k)) for k in dir(wire)
              if k.isupper() and isinstance(getattr(wire, k), (int, str, tuple)))
""")
    assert result["PROTOCOL_VERSION"] == wire.PROTOCOL_VERSION
    assert result["ALERT_NAMES"][wire.ALERT_FAULT] == "fault"


def test_formats_use_only_codes_micropython_has():
    allowed = set("<>=!bBhHiIlLqQefdsP0123456789")
    for name in dir(wire):
        if name.endswith("_FMT"):
            fmt = getattr(wire, name)
            assert set(fmt) <= allowed, f"{name} uses a struct code MicroPython lacks: {fmt!r}"
            struct.calcsize(fmt)


def test_host_imports_the_firmware_file_itself():
    from pathlib import Path

    import retrorun.paths

    assert Path(wire.__file__).resolve() == retrorun.paths.retrofw_parent() / "retrofw" / "wire.py"
    assert Path(wire.__file__).resolve().parent.parent.name == "firmware"
