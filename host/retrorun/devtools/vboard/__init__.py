"""The virtual ESP32 board: app mode (MicroPython REPL) and ROM mode (serial loader)."""
