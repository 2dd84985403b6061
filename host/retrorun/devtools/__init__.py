"""Development tools: what the `sim` extra (`pip install 'retrorun[sim]'`) is for.

The virtual board (`vboard`: ROM loader, app mode on the native MicroPython Unix port or the
WASI build), the obstacle simulator (`sim`: scenarios run on the deployed app), the chip models
(`models`, transcribed from datasheets), the MicroPython runtimes used by the tests (`mpy`), the
benchmarks, the step-counter evaluation and the end-to-end demo. Nothing here is needed to
flash, configure or sync a real board.
"""
