"""The scenario simulator: the firmware warning pipeline in real MicroPython on virtual time."""
