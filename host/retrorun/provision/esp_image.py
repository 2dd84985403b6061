"""Read an ESP-IDF image (a bootloader or an app) and check it as the chip's loaders do.

Format (ESP-IDF "App Image Format", `esp_image_header_t`, `esp_image_segment_header_t`,
`esp_app_desc_t`):
- header, 24 bytes: magic 0xE9 (0), segment count (1), SPI mode (2), flash size/frequency (3),
  entry address (4-7), WP pin (8), SPI pin drive (9-11), chip ID uint16 LE (12-13), min chip
  revision (14), min/max full revision uint16 (15-18), reserved (19-22), hash_appended (23);
- `segment count` segments, each a header (load address, data length: two uint32 LE) and
  its data;
- padding with zeros so that the checksum byte is the last of a 16-byte block; the checksum is
  0xEF XORed with every data byte of every segment;
- when hash_appended is 1, the SHA-256 of everything from the magic to the checksum byte.
An application's first segment starts with `esp_app_desc_t` (256 bytes; IDF's
`esp_ota_get_partition_description` reads it there): magic 0xABCD5432 (0), secure_version (4),
reserved (8-15), version[32] (16), project_name[32] (48), time[16] (80), date[16] (96),
idf_ver[32] (112), app_elf_sha256[32] (144), ...
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from retrorun.errors import RetrorunError

ESP_IMAGE_MAGIC = 0xE9
IMAGE_HEADER_SIZE = 24
SEGMENT_HEADER_SIZE = 8
CHECKSUM_SEED = 0xEF
MAX_SEGMENTS = 16  # ESP_IMAGE_MAX_SEGMENTS
APP_DESC_MAGIC = 0xABCD5432
APP_DESC_SIZE = 256
_APP_DESC_TEXT = "<16x32s32s16s16s32s"  # version, project_name, time, date, idf_ver


@dataclass(frozen=True)
class Segment:
    load_address: int
    data_offset: int  # where the data starts in the file holding the image
    length: int


@dataclass(frozen=True)
class Image:
    """One image inside a file: where it starts and ends and whether its own checks pass."""

    start: int
    chip_id: int
    segments: tuple[Segment, ...]
    checksum_ok: bool
    hash_appended: bool
    sha256_stored: bytes  # b"" when not appended
    sha256_computed: bytes  # of start .. checksum byte, b"" when not appended
    end: int  # the byte after the image (after its SHA-256 when appended)

    @property
    def sha256_ok(self) -> bool:
        return self.hash_appended and self.sha256_stored == self.sha256_computed


@dataclass(frozen=True)
class AppDesc:
    version: str
    project_name: str
    time: str
    date: str
    idf_ver: str


def read_image(data: bytes, start: int = 0, name: str = "image") -> Image:
    """The image at `start` of `data`; RetrorunError when it is not one or is cut short."""
    if start + IMAGE_HEADER_SIZE > len(data):
        raise RetrorunError(f"{name} ends before the image header at 0x{start:X}; the file is "
                            "cut short: download it again")
    if data[start] != ESP_IMAGE_MAGIC:
        raise RetrorunError(f"{name} has no ESP image at 0x{start:X} (byte 0x{data[start]:02X}, "
                            "not the magic 0xE9); it is not an ESP32 firmware for this layout")
    count = data[start + 1]
    (chip_id,) = struct.unpack_from("<H", data, start + 12)
    hash_appended = data[start + 23] == 1
    if not 0 < count <= MAX_SEGMENTS:
        raise RetrorunError(f"{name}: the image at 0x{start:X} claims {count} segments "
                            f"(1-{MAX_SEGMENTS} possible); the file is damaged")
    pos = start + IMAGE_HEADER_SIZE
    checksum = CHECKSUM_SEED
    segments = []
    for _ in range(count):
        if pos + SEGMENT_HEADER_SIZE > len(data):
            raise RetrorunError(f"{name}: the image at 0x{start:X} is cut short in its "
                                "segment headers; download it again")
        address, length = struct.unpack_from("<II", data, pos)
        pos += SEGMENT_HEADER_SIZE
        if pos + length > len(data):
            raise RetrorunError(f"{name}: a segment of the image at 0x{start:X} runs past the "
                                "end of the file; download it again")
        segments.append(Segment(address, pos, length))
        for byte in data[pos:pos + length]:
            checksum ^= byte
        pos += length
    pos += 15 - (pos - start) % 16  # the checksum is the last byte of a 16-byte block
    if pos >= len(data):
        raise RetrorunError(f"{name}: the image at 0x{start:X} has no checksum byte; the file "
                            "is cut short: download it again")
    checksum_ok = data[pos] == checksum
    pos += 1
    stored = computed = b""
    if hash_appended:
        stored = data[pos:pos + 32]
        computed = hashlib.sha256(data[start:pos]).digest()
        pos += 32
    return Image(start, chip_id, tuple(segments), checksum_ok, hash_appended, stored, computed,
                 pos)


def read_app_desc(data: bytes, image: Image) -> AppDesc | None:
    """The app descriptor at the start of the image's first segment; None when there is none
    (a bootloader, or not an IDF app)."""
    first = image.segments[0]
    if first.length < APP_DESC_SIZE:
        return None
    (magic,) = struct.unpack_from("<I", data, first.data_offset)
    if magic != APP_DESC_MAGIC:
        return None
    fields = struct.unpack_from(_APP_DESC_TEXT, data, first.data_offset)
    return AppDesc(*(f.split(b"\0", 1)[0].decode("ascii", "replace") for f in fields))
