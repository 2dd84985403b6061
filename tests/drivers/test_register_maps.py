"""Where the chip facts live: each driver keeps its register map as private consts (no RAM on the
device), and the host's chip models keep their own transcription, importing nothing from
retrofw (a misread datasheet then shows as a driver/model disagreement, not as two passes)."""

import ast
from pathlib import Path

import pytest

import retrorun.devtools.models

MODELS = sorted(Path(retrorun.devtools.models.__file__).parent.glob("*.py"))
DRIVERS = ("drv2605", "hcsr04", "lsm6ds", "mpu6050", "tfluna", "uart_ultrasonic", "vl53l1x",
           "_imufifo")


def retrofw_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "retrofw":
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "retrofw"]
    return found


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_chip_models_import_nothing_from_the_firmware(path):
    assert retrofw_imports(path) == [], f"{path.name} imports the firmware"


def test_the_import_check_catches_a_model_that_imports_the_firmware(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from retrofw.wire import NO_READING\n    import retrofw.wire\n")
    assert len(retrofw_imports(bad)) == 2


def test_wire_holds_no_chip_register_maps():
    from retrofw import wire

    prefixes = ("US_", "UUS_", "TFL_", "VL53_", "DRV_", "MPU", "LSM", "IMU_")
    assert [n for n in dir(wire) if n.startswith(prefixes)] == ["IMU_KINDS"]  # a profile kind


def test_driver_register_constants_cost_no_ram_on_the_device(mpy):
    """Under MicroPython a `_NAME = const(...)` is folded in by the compiler and never becomes
    a module global; a public constant would stay in the module's dict (heap)."""
    names = mpy.eval(f"""
out = {{}}
for name in {DRIVERS!r}:
    mod = __import__("retrofw.drivers." + name, None, None, ["x"])
    out[name] = [k for k in dir(mod) if k.startswith("_") and not k.startswith("__")
                 and k.upper() == k]
result = out
""")
    assert names == {name: [] for name in DRIVERS}
