"""Bluetooth LE on the laptop: the BLE transport and the file-transfer compatibility shim."""
