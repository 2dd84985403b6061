"""ROMFS: the firmware as one read-only image that MicroPython runs in place from flash.

Why: a `.mpy` file imported from the board's filesystem is copied onto the MicroPython heap
(bytecode, constants, strings); the same file imported from a ROMFS partition is used where it
lies in memory-mapped flash, so only module objects, globals and classes take heap (`retrorun
bench heap`: ~40 KB less for our app). MicroPython's esp32 port (v1.25+) mounts the data
partition labelled "romfs" at `/rom` at start-up and searches `/rom` and `/rom/lib` before
`/lib`; `vfs.rom_ioctl(2, 0)` gives the partition as an `esp32.Partition` (a block device that is
also the partition's memory). `retrorun flash` adds that partition to the table
(`retrorun.provision.partition_table`).

Image format (MicroPython `extmod/vfs_rom.c`, docs/reference/romfs.rst): the magic bytes
d2 cd 31, then the length of the rest as a varuint (7 bits a byte, most significant first, high
bit set on all but the last byte; a leading 0x80 may pad the image to an even length), then
records, each `kind` varuint, `length` varuint, payload. Kinds used here: 4 directory (payload:
name length, name, the records inside), 5 file (name length, name, then a 2 data-verbatim record
holding the bytes). Names are ASCII; entries are sorted by name.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from retrorun.errors import RetrorunError

ROMFS_MAGIC = b"\xd2\xcd\x31"
# MicroPython keeps the name of everything a build has (its qstrs) in the firmware image as
# NUL-terminated text (py/qstr.c's constant pool; e.g. b"VfsLfs2\0" in any build with
# littlefs); `vfs.rom_ioctl` is compiled only with MICROPY_VFS_ROM (extmod/modvfs.c). None of
# the esp32 downloads of MicroPython 1.25-1.28 has it: py/mpconfig.h defaults it to 0.
_ROM_IOCTL_NAME = b"rom_ioctl\x00"
KIND_DATA_VERBATIM = 2
KIND_DIRECTORY = 4
KIND_FILE = 5
MOUNT_POINT = "/rom"


def firmware_has_romfs(image: bytes) -> bool:
    """Whether a MicroPython firmware image was built with ROMFS (it names vfs.rom_ioctl)."""
    return _ROM_IOCTL_NAME in image


def _uint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _record(kind: int, payload: bytes) -> bytes:
    return _uint(kind) + _uint(len(payload)) + payload


def _name(name: str) -> bytes:
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        raise RetrorunError(f"ROMFS names must be ASCII: {name!r}") from None
    return _uint(len(raw)) + raw


def _directory(tree: dict) -> bytes:
    out = b""
    for name in sorted(tree):
        entry = tree[name]
        if isinstance(entry, dict):
            out += _record(KIND_DIRECTORY, _name(name) + _directory(entry))
        else:
            out += _record(KIND_FILE, _name(name) + _record(KIND_DATA_VERBATIM, entry))
    return out


def build_image(files: dict[str, bytes]) -> bytes:
    """A ROMFS image holding `files` ({"lib/retrofw/app.mpy": bytes, ...}, relative paths)."""
    tree: dict = {}
    for path, data in files.items():
        *folders, leaf = [p for p in path.split("/") if p]
        node = tree
        for folder in folders:
            node = node.setdefault(folder, {})
        node[leaf] = bytes(data)
    body = _directory(tree)
    length = _uint(len(body))
    if (len(ROMFS_MAGIC) + len(length) + len(body)) % 2:
        length = b"\x80" + length
    return ROMFS_MAGIC + length + body


# -- the ROMFS partition of a board, over the raw REPL ---------------------------------------------

@dataclass(frozen=True)
class RomPartition:
    size: int  # bytes
    block_size: int


_QUERY = ("try:\n import vfs\nexcept ImportError:\n vfs=None\n"
          "if not hasattr(vfs,'rom_ioctl'):\n print('none')\n"
          "elif vfs.rom_ioctl(1)<1:\n print('0')\n"
          "else:\n _rd=vfs.rom_ioctl(2,0)\n"
          " if isinstance(_rd,int) or not hasattr(_rd,'ioctl'):\n  print('other')\n"
          " else:\n  print('blocks',_rd.ioctl(4,0),_rd.ioctl(5,0))\n")


def query(transport) -> tuple[RomPartition | None, str]:
    """The board's ROMFS partition, or None and why there is none."""
    words = transport.exec(_QUERY).decode().split()
    if words[:1] == ["blocks"] and len(words) == 3:
        count, block = int(words[1]), int(words[2])
        return RomPartition(count * block, block), ""
    why = {"none": "its MicroPython has no ROMFS support (vfs.rom_ioctl)",
           "0": "its partition table has no 'romfs' partition (retrorun flash adds one)",
           "other": "its ROM segment is not an esp32 partition"}
    return None, why.get(words[0] if words else "", "it did not answer the ROMFS query")


def device_digest(transport, length: int) -> str:
    """sha256 of the first `length` bytes of the board's ROMFS partition."""
    code = ("import vfs,hashlib,binascii\n_rm=memoryview(vfs.rom_ioctl(2,0))\n"
            "_rh=hashlib.sha256()\n"
            f"for _ri in range(0,{length},1024):\n _rh.update(_rm[_ri:min(_ri+1024,{length})])\n"
            "print(binascii.hexlify(_rh.digest()).decode())\n_rm=None\n")
    return transport.exec(code).decode().strip()


def has_image(transport) -> bool:
    """Whether the board's ROMFS partition starts with an image header."""
    return transport.exec("import vfs\nprint(bytes(memoryview(vfs.rom_ioctl(2,0))[:3]).hex())"
                          ).decode().strip() == ROMFS_MAGIC.hex()


def write_image(transport, part: RomPartition, image: bytes,
                progress: Callable[[int, int], None] | None = None) -> None:
    """Unmount /rom, then erase and program the partition block by block (the image padded
    with 0xFF to whole blocks) and check the digest. The first block, which holds the header,
    is erased first and programmed last: a write cut short leaves no valid image, never a valid
    header over a half-written body. The board must be soft-reset after."""
    if not image.startswith(ROMFS_MAGIC):
        raise RetrorunError("not a ROMFS image (bad magic); this is a bug in retrorun")
    if len(image) > part.size:
        raise RetrorunError(f"the firmware's ROMFS image ({len(image)} bytes) does not fit the "
                            f"board's romfs partition ({part.size} bytes); re-flash with a "
                            "bigger partition or deploy with --layout files")
    transport.exec("import vfs\ntry:\n vfs.umount('/rom')\nexcept OSError:\n pass\n"
                   "from binascii import a2b_base64\n_rd=vfs.rom_ioctl(2,0)\n_rd.ioctl(6,0)\n")
    blocks = -(-len(image) // part.block_size)
    for done, block in enumerate([*range(1, blocks), 0], 1):
        chunk = image[block * part.block_size:(block + 1) * part.block_size]
        chunk += b"\xff" * (part.block_size - len(chunk))
        data = binascii.b2a_base64(chunk, newline=False).decode()
        transport.exec(f"_rd.ioctl(6,{block})\n_rd.writeblocks({block},a2b_base64('{data}'),0)\n")
        if progress:
            progress(done, blocks)
    if device_digest(transport, len(image)) != hashlib.sha256(image).hexdigest():
        raise RetrorunError("the ROMFS image read back from the board differs from the one "
                            "written; run 'retrorun deploy' again")


def erase_image(transport, part: RomPartition) -> None:
    """Invalidate the image (erase its first block) so that /rom no longer shadows /lib."""
    transport.exec("import vfs\ntry:\n vfs.umount('/rom')\nexcept OSError:\n pass\n"
                   "vfs.rom_ioctl(2,0).ioctl(6,0)\n")
