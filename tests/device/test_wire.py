"""wire.py and wire_ble.py are one file each for both runtimes: same constants, same struct
sizes."""

import struct

import pytest

from retrofw import wire, wire_ble

MODULES = ("wire", "wire_ble")


@pytest.mark.parametrize("module", MODULES)
def test_declared_sizes_match_calcsize_in_both_runtimes(both, module):
    result = both.run(f"""
from retrofw import wire, {module} as m
result = sorted([k, v[0], v[1]] for k, v in wire.check_sizes(m.__dict__).items())
""")
    assert result, "no *_FMT definitions found"
    for name, calc, declared in result:
        assert calc == declared, f"{name}_FMT is {calc} bytes but {name}_SIZE says {declared}"


@pytest.mark.parametrize("module", MODULES)
def test_constants_identical_in_both_runtimes(both, module):
    result = both.run(f"""
from retrofw import {module} as m
result = dict((k, getattr(m, k)) for k in dir(m)
              if k.isupper() and isinstance(getattr(m, k), (int, str, tuple)))
""")
    assert len(result) > 50


def test_the_two_modules_define_each_name_once():
    names = {n for n in dir(wire) if n.isupper()}
    ble_names = {n for n in dir(wire_ble) if n.isupper()}
    assert not names & ble_names
    assert wire.ALERT_NAMES[wire.ALERT_FAULT] == "fault"
    assert struct.calcsize(wire_ble.LIVE_FMT) == wire_ble.LIVE_SIZE


@pytest.mark.parametrize("module", (wire, wire_ble), ids=MODULES)
def test_formats_use_only_codes_micropython_has(module):
    allowed = set("<>=!bBhHiIlLqQefdsP0123456789")
    for name in dir(module):
        if name.endswith("_FMT"):
            fmt = getattr(module, name)
            assert set(fmt) <= allowed, f"{name} uses a struct code MicroPython lacks: {fmt!r}"
            struct.calcsize(fmt)


def test_host_imports_the_firmware_file_itself():
    from pathlib import Path

    import retrorun.paths

    for module in (wire, wire_ble):
        path = Path(module.__file__).resolve()
        assert path.parent == retrorun.paths.retrofw_parent() / "retrofw"
        assert path.parent.parent.name == "firmware"
