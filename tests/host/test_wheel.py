"""The wheel ships the laptop tool, the device package and the data they need."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contents(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("retrorun-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("retrofw/wire.py", "retrofw/app.py", "retrofw/drivers/hcsr04.py",
                     "retrofw/ble/gatt.py", "retrorun/cli/main.py", "retrorun/devtools/mpy/probe.py",
                     "retrorun/_firmware/main.py", "retrorun/_firmware/boot.py",
                     "retrorun/_boards/esp32-devkitc.json", "retrorun/devtools/sim/demo/backward_run.json",
                     "retrorun/devtools/sim/scenarios/wall_2.0mps_hcsr04.json",
                     "retrorun/devtools/vboard/device/machine.py", "retrorun/devtools/vboard/device/select.py"):
        assert required in names, required
    assert not any(n.startswith("retrorun/_firmware/retrofw/") for n in names)
