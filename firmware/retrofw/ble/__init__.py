"""Bluetooth LE on the device: GATT services and their transport-independent protocol cores.

`start_server` is the app's way in: this package is imported only when `ble.enabled`, and
unloads itself again when Bluetooth cannot start.
"""

import gc

from retrofw.unload import unload


def start_server(config, on_config):
    """The GATT server, or None where the board has no Bluetooth or aioble is missing. Nothing
    of the BLE code stays in RAM when it cannot run (bench heap: ~7 KB even run in place)."""
    try:
        import aioble  # noqa: F401  # pyright: ignore[reportMissingImports]  # micropython-lib
        import bluetooth  # noqa: F401

        from retrofw.ble import gatt

        return gatt.GattServer(**gatt.app_hooks("/", on_config), name=config["ble.name"])
    except (ImportError, OSError, MemoryError) as exc:
        # Warning the runner matters more than Bluetooth: on a plain ESP32 with the firmware as
        # .mpy files the BLE modules may not fit (docs/benchmarks.md); run without them.
        _radio_off()
        unload("retrofw.ble", "aioble")
        gc.collect()
        hint = " (mpremote mip install aioble)" if isinstance(exc, ImportError) else ""
        print("retrorun: Bluetooth off:", exc, hint)
        return None


def _radio_off():
    """Leave no half-started Bluetooth behind (radio on, IRQ handler set) when BLE fails."""
    try:
        import bluetooth

        bluetooth.BLE().active(False)
    except (ImportError, OSError, MemoryError):
        pass
