"""Firmware and tool version: one number for the device package and the laptop tool."""

VERSION = "0.1.0"
