"""The ESP32 chip families retrorun flashes and deploys to, and how each is named.

A chip is named three ways: in board profiles ("esp32s3"), by esptool ("ESP32-S3") and by
MicroPython's `os.uname().machine`, which ends in the port's MICROPY_HW_MCU_NAME ("Generic
ESP32S3 module with ESP32S3"); `chip_by_name` takes any of the first two and the MCU name.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrorun.errors import RetrorunError


@dataclass(frozen=True)
class Chip:
    """What the flasher needs to know about one chip family."""

    name: str  # as in board profiles: "esp32", "esp32s3"
    title: str  # as esptool names it: "ESP32-S3"
    image_chip_id: int  # the extended image header's chip ID
    bootloader_offset: int  # where a whole firmware (bootloader first) goes
    micropython_board: str  # the generic MicroPython build for the chip


# From ESP-IDF's esp_chip_id_t and each chip's bootloader offset (checked against esptool's
# chip classes in tests/host_workflow/test_flash.py).
CHIPS: dict[str, Chip] = {c.name: c for c in (
    Chip("esp32", "ESP32", 0, 0x1000, "ESP32_GENERIC"),
    Chip("esp32s2", "ESP32-S2", 2, 0x1000, "ESP32_GENERIC_S2"),
    Chip("esp32c3", "ESP32-C3", 5, 0x0, "ESP32_GENERIC_C3"),
    Chip("esp32s3", "ESP32-S3", 9, 0x0, "ESP32_GENERIC_S3"),
    Chip("esp32c2", "ESP32-C2", 12, 0x0, "ESP32_GENERIC_C2"),
    Chip("esp32c6", "ESP32-C6", 13, 0x0, "ESP32_GENERIC_C6"),
    Chip("esp32h2", "ESP32-H2", 16, 0x0, "ESP32_GENERIC_H2"),
    Chip("esp32p4", "ESP32-P4", 18, 0x2000, "ESP32_GENERIC_P4"),
    Chip("esp32c5", "ESP32-C5", 23, 0x2000, "ESP32_GENERIC_C5"),
)}
BY_IMAGE_ID = {c.image_chip_id: c for c in CHIPS.values()}


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def chip_by_name(name: str) -> Chip:
    """A chip by profile name ("esp32s3"), esptool name ("ESP32-S3") or MCU name ("ESP32S3")."""
    if _key(name) not in CHIPS:
        raise RetrorunError(f"chip '{name}' is not supported; supported: "
                            f"{', '.join(sorted(CHIPS))}")
    return CHIPS[_key(name)]


def chip_of_machine(machine: str) -> Chip | None:
    """The chip `os.uname().machine` names ("<board name> with <MCU name>"); None when it names
    none retrorun knows (another port, or a chip not in CHIPS)."""
    return CHIPS.get(_key(machine.rsplit(" with ", 1)[-1].strip()))
