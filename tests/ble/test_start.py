"""The app's way into Bluetooth (retrofw.ble.start_server): where Bluetooth cannot start, the
runner is still warned, a one-line reason is printed and no BLE module stays loaded."""

import pytest

pytestmark = pytest.mark.ble

NO_AIOBLE = """
import sys
from retrofw.ble import start_server
server = start_server({"ble.name": "rr"}, None)
result = [server is None, sorted(m for m in sys.modules if m.startswith("retrofw.ble"))]
"""


def test_without_aioble_the_server_is_none_and_the_ble_package_unloads(mpy):
    none, loaded = mpy.eval(NO_AIOBLE)
    assert none is True
    assert loaded == []  # the package unloaded itself: nothing of BLE stays in RAM


def test_the_reason_is_one_line_with_the_fix(monkeypatch, capsys):
    import sys

    from retrofw.ble import start_server

    monkeypatch.setitem(sys.modules, "aioble", None)  # import aioble raises ImportError
    assert start_server({"ble.name": "rr"}, None) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("retrorun: Bluetooth off:")
    assert "mip install aioble" in out[0]
