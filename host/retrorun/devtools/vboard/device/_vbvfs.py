# vfs for the retrorun virtual board, installed as sys.modules["vfs"] by the bootstrap (the
# built-in vfs is not extensible): the built-in one plus vfs.rom_ioctl as MicroPython's esp32
# port has it (ROMFS support, v1.25+): one ROM segment, the data partition labelled "romfs" in
# the board's flash, answered as an esp32.Partition-like object (block device protocol) that is
# also the partition's memory (a buffer, as the port's memory-mapped partition is). boot() mounts
# a valid image at /rom and puts /rom and /rom/lib on sys.path, as the port does at start-up.
# A stock build (_vb.ROMFS_BUILD False: every esp32 download of MicroPython 1.25-1.28, built
# with MICROPY_VFS_ROM 0) has neither rom_ioctl nor VfsRom. Not used on a real board.
import _vb
import esp32

_b = _vb.bvfs
for _n in dir(_b):
    if not _n.startswith("__"):
        globals()[_n] = getattr(_b, _n)

ROMFS_MAGIC = b"\xd2\xcd\x31"
_EINVAL = 22
_rom = None


class _RomPartition(bytearray):
    """The romfs partition's contents (reads see the flash) with the Partition methods that
    write through to the flash and refresh the contents, as a memory-mapped view does."""

    def _refresh(self, block, count):
        bs = self.part.block_size
        view = memoryview(self)
        self.part.readblocks(block, view[block * bs:(block + count) * bs])

    def readblocks(self, block, buf, offset=0):
        self.part.readblocks(block, buf, offset)

    def writeblocks(self, block, buf, offset=None):
        self.part.writeblocks(block, buf, offset)
        bs = self.part.block_size
        first = block + (offset or 0) // bs
        last = block + ((offset or 0) + len(buf) - 1) // bs
        self._refresh(first, last - first + 1)

    def ioctl(self, op, arg):
        r = self.part.ioctl(op, arg)
        if op == 6:
            self._refresh(arg, 1)
        return r

    def info(self):
        return self.part.info()


def _romfs():
    global _rom
    if _rom is None:
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="romfs")
        if found:
            part = found[0]
            rom = _RomPartition(part.info()[3])
            rom.part = part
            view = memoryview(rom)
            step = 32768
            for i in range(0, len(rom), step):
                part.readblocks(0, view[i:i + step], i)
            _rom = rom
    return _rom


def rom_ioctl(op, *args):
    if op == 1:  # number of ROM segments
        return 1 if _romfs() is not None else 0
    if op == 2 and args and args[0] == 0 and _romfs() is not None:
        return _rom
    return -_EINVAL  # the esp32 port writes through the Partition object, not ops 3-5


if not _vb.ROMFS_BUILD:
    del rom_ioctl, VfsRom  # noqa: F821 - VfsRom was copied from the built-in vfs above


def boot(path):
    """Mount the romfs partition at /rom when it holds a ROMFS image (at power-on and after a
    soft reset, like the firmware's start-up); True when mounted."""
    if not _vb.ROMFS_BUILD:
        return False
    rom = _romfs()
    if rom is None or rom[:3] != ROMFS_MAGIC:
        return False
    try:
        _b.mount(_b.VfsRom(rom), "/rom")
    except OSError:
        return False
    at = path.index(".frozen") + 1 if ".frozen" in path else len(path)
    path[at:at] = ["/rom", "/rom/lib"]
    return True
