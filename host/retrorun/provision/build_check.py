"""Check that a downloaded file is the official MicroPython build it claims to be.

A MicroPython `.bin` for the esp32 port is the whole flash from the chip's bootloader offset:
the second-stage bootloader image at 0, the partition table at 0x8000 - offset, the app image
at its app partition's offset - offset. `check_build` checks, before anything is written:
- the bootloader: an ESP image for the chip (header chip ID), its appended SHA-256 when it has
  one, its checksum;
- the partition table (magic and MD5, `partition_table.decode`), which must name an app
  partition ("factory", else the first app partition);
- the app: an ESP image for the chip with an appended SHA-256 (IDF always appends one to an
  app) that matches (it covers every byte of the image, so it is checked before the
  checksum), its checksum, and an app descriptor naming the project
  "micropython" (`project(micropython)` in ports/esp32/CMakeLists.txt) and the version asked
  for: IDF takes the version from `git describe` of the project, "v1.27.0" for a build of the
  release tag.
Each failure is one RetrorunError line naming what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrorun.errors import RetrorunError
from retrorun.provision import esp_image, partition_table
from retrorun.provision.chips import BY_IMAGE_ID, Chip

PROJECT_NAME = "micropython"
_SUBTYPE_FACTORY = 0x00


@dataclass(frozen=True)
class Build:
    app_offset: int  # flash offset of the app image
    app: esp_image.AppDesc
    app_sha256: str  # the app image's appended SHA-256, hex


def _chip_title(chip_id: int) -> str:
    chip = BY_IMAGE_ID.get(chip_id)
    return chip.title if chip else f"an unknown chip (image chip ID {chip_id})"


def _check_image(data: bytes, start: int, what: str, chip: Chip, name: str,
                 need_hash: bool) -> esp_image.Image:
    image = esp_image.read_image(data, start, f"{name} ({what})")
    if image.chip_id != chip.image_chip_id:
        raise RetrorunError(f"{name}: the {what} image is for {_chip_title(image.chip_id)}, not "
                            f"{chip.title}; this is not the {chip.micropython_board} build")
    if need_hash and not image.hash_appended:
        raise RetrorunError(f"{name}: the {what} image has no appended SHA-256 (ESP-IDF "
                            "appends one to every app); this is not an official build")
    if image.hash_appended and not image.sha256_ok:
        raise RetrorunError(
            f"{name}: SHA-256 mismatch in the {what} image (file offset 0x{start:X}): it stores "
            f"{image.sha256_stored.hex()} but its bytes hash to {image.sha256_computed.hex()}; "
            "the file is damaged: download it again")
    if not image.checksum_ok:
        raise RetrorunError(f"{name}: the {what} image's checksum does not match its data; the "
                            "file is damaged: download it again")
    return image


def check_build(data: bytes, chip: Chip, version: str, name: str = "image") -> Build:
    """The app of the MicroPython `version` build for `chip` in `data`, after every check."""
    version = version.removeprefix("v")
    offset = chip.bootloader_offset
    _check_image(data, 0, "bootloader", chip, name, need_hash=False)
    table_at = partition_table.TABLE_OFFSET - offset
    region = data[table_at:table_at + partition_table.TABLE_SIZE]
    try:
        parts = partition_table.decode(region)
    except ValueError as exc:
        raise RetrorunError(f"{name}: the partition table at 0x{partition_table.TABLE_OFFSET:X} "
                            f"is not valid ({exc}); download the file again") from exc
    apps = [p for p in parts if p.type == partition_table.TYPE_APP]
    if not apps:
        raise RetrorunError(f"{name}: the partition table names no app partition; this is not "
                            "a MicroPython firmware")
    app_part = next((p for p in apps if p.subtype == _SUBTYPE_FACTORY), apps[0])
    app = _check_image(data, app_part.offset - offset, "app", chip, name, need_hash=True)
    desc = esp_image.read_app_desc(data, app)
    if desc is None:
        raise RetrorunError(f"{name}: the app at 0x{app_part.offset:X} has no app descriptor "
                            f"(magic 0x{esp_image.APP_DESC_MAGIC:08X}); this is not an ESP-IDF "
                            "app")
    if desc.project_name != PROJECT_NAME:
        raise RetrorunError(f"{name}: the app is the project {desc.project_name!r}, not "
                            f"{PROJECT_NAME!r}; this is not a MicroPython build")
    if desc.version != f"v{version}":
        raise RetrorunError(f"{name}: the app descriptor says version {desc.version!r}, not "
                            f"'v{version}'; this is not the v{version} build: download it again "
                            "or ask for the version it is")
    return Build(app_part.offset, desc, app.sha256_stored.hex())
