"""retrorun.provision.romfs.build_image: byte-identical to mpremote's ROMFS writer, and
MicroPython's VfsRom mounts it and imports from it in place."""

import contextlib
import io

import pytest
from mpremote.romfs import make_romfs

from retrorun.devtools.mpy import NO_GC_HEAP_KB
from retrorun.errors import RetrorunError
from retrorun.provision.romfs import ROMFS_MAGIC, build_image

FILES = {"lib/pkg/__init__.py": b"", "lib/pkg/mod.py": b"X = 41\ndef f():\n    return X + 1\n",
         "lib/data.bin": bytes(range(256)) * 5, "top.txt": b"hello", "empty.txt": b""}


def test_the_image_is_the_one_mpremote_builds(tmp_path):
    for path, data in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    with contextlib.redirect_stdout(io.StringIO()):
        reference = make_romfs(str(tmp_path), mpy_cross=False)
    image = build_image(FILES)
    assert image == reference and image.startswith(ROMFS_MAGIC) and len(image) % 2 == 0
    assert build_image(dict(reversed(list(FILES.items())))) == image  # order does not matter


def test_micropython_mounts_the_image_and_imports_from_it(mpy, tmp_path):
    (tmp_path / "img.romfs").write_bytes(build_image(FILES))
    code = """
import sys, vfs, os
f = open('/img.romfs', 'rb')
img = f.read()
f.close()
vfs.mount(vfs.VfsRom(img), '/rom')
sys.path.insert(0, '/rom/lib')
import pkg.mod
f = open('/rom/lib/data.bin', 'rb')
data = f.read()
f.close()
result = [sorted(os.listdir('/rom')), sorted(os.listdir('/rom/lib')), pkg.mod.f(),
          pkg.mod.__file__, len(data), data[255], open('/rom/top.txt').read()]
"""
    got = mpy.eval(code, fs=tmp_path, with_firmware=False, heap_kb=NO_GC_HEAP_KB)
    assert got == [["empty.txt", "lib", "top.txt"], ["data.bin", "pkg"], 42,
                   "/rom/lib/pkg/mod.py", 1280, 255, "hello"]


def test_names_must_be_ascii():
    with pytest.raises(RetrorunError, match="ASCII"):
        build_image({"lib/caf\u00e9.py": b""})
