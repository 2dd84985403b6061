"""Bluetooth LE on the device: GATT services and their transport-independent protocol cores."""
