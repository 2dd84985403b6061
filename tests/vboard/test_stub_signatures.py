"""The virtual board's `machine`/`esp32` stand-ins against `micropython-esp32-stubs`.

A stand-in (host/retrorun/devtools/vboard/device/{machine,esp32}.py) must not accept a call the
esp32 port of MicroPython refuses: firmware that passes on the virtual board and raises
TypeError on a real one is the bug this file exists to catch. Both sides are read with `ast`
(the stand-ins run on MicroPython and are never imported here).

Rules the checker applies, for every public name of a stand-in:
- the name exists in the stub module (or class, bases included); a constant with a literal value
  in the stubs has that value;
- every call shape (number of positional arguments, set of keyword names) the stand-in's
  signature accepts is accepted by at least one stub overload;
- every call shape a fully typed stub overload accepts is accepted by the stand-in, unless the
  missing argument is listed in NOT_MODELLED (which the firmware must not use).
Names with a leading underscore are the virtual board's own helpers (`_vb`, `_c`, `_IRQ`, ...)
and are not checked. MicroPython has no `/` in `def`: a stand-in parameter whose name no stub
overload takes as a keyword counts as positional-only (the board cannot refuse `f(x=1)` there;
the firmware is type-checked against the same stubs by pyright, which does).

The stubs are generic across ports; where the esp32 port (v1.27.0 sources) differs, the port
wins: DEVIATIONS edits the stub signatures before the check, each with the source that says so.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVICE = ROOT / "host/retrorun/devtools/vboard/device"
FIRMWARE = ROOT / "firmware"


def _stub_dir() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


@dataclass(frozen=True)
class Param:
    name: str
    default: bool
    kind: str  # "posonly", "pos", "kwonly"


@dataclass(frozen=True)
class Sig:
    params: tuple[Param, ...]
    varpos: bool = False
    varkw: bool = False

    @property
    def positional(self) -> list[Param]:
        return [p for p in self.params if p.kind in ("posonly", "pos")]

    def keyword_names(self) -> set[str]:
        return {p.name for p in self.params if p.kind in ("pos", "kwonly")}

    def accepts(self, n: int, kws: frozenset[str]) -> bool:
        pos = self.positional
        if n > len(pos) and not self.varpos:
            return False
        bound = {p.name for p in pos[:n]}
        free = {p.name for p in pos[n:] if p.kind == "pos"}
        free |= {p.name for p in self.params if p.kind == "kwonly"}
        for k in kws:
            if k in bound or (k not in free and not self.varkw):
                return False
        needed = [p.name for p in pos[n:] if not p.default]
        needed += [p.name for p in self.params if p.kind == "kwonly" and not p.default]
        return all(k in kws for k in needed)

    def show(self, n: int, kws: frozenset[str]) -> str:
        pos = self.positional
        names = [p.name for p in pos[:n]] + [f"arg{i}" for i in range(len(pos), n)]
        return "(" + ", ".join(names + [f"{k}=..." for k in sorted(kws)]) + ")"


OTHER = "<any other keyword>"


def sig_of(fn: ast.FunctionDef, method: bool) -> Sig:
    a = fn.args
    drop = (
        1
        if method
        and not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
        else 0
    )
    positional = [(p, "posonly") for p in a.posonlyargs] + [(p, "pos") for p in a.args]
    first_default = len(positional) - len(a.defaults)
    params = [Param(p.arg, i >= first_default, kind) for i, (p, kind) in enumerate(positional)]
    params += [
        Param(p.arg, d is not None, "kwonly")
        for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)
    ]
    return Sig(tuple(params[drop:]), a.vararg is not None, a.kwarg is not None)


def is_overload(fn: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "overload" for d in fn.decorator_list)


def literal(node: ast.expr | None):
    if isinstance(node, ast.Constant) and node.value is not Ellipsis:
        return node.value
    return None


@dataclass
class Api:
    """One module's public surface: callables (qualified name -> overloads) and constants."""

    calls: dict[str, list[Sig]] = field(default_factory=dict)
    consts: dict[str, object] = field(default_factory=dict)
    bases: dict[str, list[str]] = field(default_factory=dict)

    def lookup(self, qual: str, table: str):
        """`Class.attr` through the stub's base classes (within the module)."""
        found = getattr(self, table)
        if qual in found:
            return found[qual]
        cls, _, attr = qual.rpartition(".")
        for base in self.bases.get(cls, []):
            hit = self.lookup(base + "." + attr, table)
            if hit is not None:
                return hit
        return None

    def has(self, qual: str) -> bool:
        return (
            qual in self.bases
            or self.lookup(qual, "calls") is not None
            or self.lookup(qual, "consts") is not None
            or qual in self.consts
        )


def _collect(body: list[ast.stmt], prefix: str, api: Api, funcs: dict) -> None:
    for node in body:
        if isinstance(node, ast.FunctionDef):
            api.calls.setdefault(prefix + node.name, []).append(sig_of(node, bool(prefix)))
            funcs[prefix + node.name] = node
        elif isinstance(node, ast.ClassDef):
            name = prefix + node.name
            api.bases[name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
            _collect(node.body, name + ".", api, funcs)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            api.consts[prefix + node.target.id] = literal(node.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if not isinstance(target, ast.Name):
                    continue
                qual = prefix + target.id
                value = node.value
                if isinstance(value, ast.Name) and prefix + value.id in api.calls:
                    api.calls[qual] = list(api.calls[prefix + value.id])  # __call__ = value
                elif isinstance(value, ast.Name) and value.id in api.bases:
                    api.bases[qual] = [value.id]  # SoftI2C = I2C
                else:
                    api.consts[qual] = literal(value)


def parse_api(source: str) -> Api:
    api = Api()
    _collect(ast.parse(source).body, "", api, {})
    return api


def public(qual: str) -> bool:
    return not any(
        part.startswith("_") and part not in ("__init__", "__call__") for part in qual.split(".")
    )


def _covered(a: Sig, bs: list[Sig], cap: int, names: set[str]):
    """The first call shape `a` accepts and no signature in `bs` does, or None."""
    for n in range(cap + 1):
        valid = [b for b in bs if n <= len(b.positional) or b.varpos]
        base = frozenset(p.name for p in a.positional[n:] if not p.default and p.kind == "pos")
        base |= {p.name for p in a.params if p.kind == "kwonly" and not p.default}
        optional = sorted(names - base)
        # a keyword every candidate takes freely changes nothing: try it only when it matters
        relevant = [
            k
            for k in optional
            if not all(
                b.accepts(n, frozenset([k]) | base) == b.accepts(n, base)
                and k in b.keyword_names() | ({k} if b.varkw else set())
                for b in valid
            )
        ]
        for r in range(len(relevant) + 1):
            for extra in itertools.combinations(relevant, r):
                kws = base | frozenset(extra)
                if a.accepts(n, kws) and not any(b.accepts(n, kws) for b in bs):
                    return n, kws
    return None


def _as_micropython(sig: Sig, stub_keywords: set[str], stub_varkw: bool) -> Sig:
    """MicroPython cannot write `/`: a parameter no stub takes by keyword is positional-only."""
    params = tuple(
        replace(p, kind="posonly")
        if p.kind == "pos" and p.name not in stub_keywords and not stub_varkw
        else p
        for p in sig.params
    )
    return replace(sig, params=params)


# --- where the esp32 port is not what the generic stubs say ------------------------------------
# (qualified name, the port's signature transcribed from its argument parser or None when the
# port has no such name, the v1.27.0 source that says so). The port wins over the stubs: a
# stand-in must match these instead.
DEVIATIONS = [
    (
        "machine.Pin.irq",
        "def irq(self, handler=None, trigger=3, wake=None): ...",
        "ports/esp32/machine_pin.c machine_pin_irq: handler, trigger, wake; no hard, no priority",
    ),
    (
        "machine.Pin.init",
        "def init(self, mode=None, pull=-1, *, value=None, drive=None, hold=None): ...",
        "ports/esp32/machine_pin.c machine_pin_obj_init_helper: no alt; hold is keyword-only",
    ),
    (
        "machine.Pin.__init__",
        "def __init__(self, id, /, mode=None, pull=-1, *, value=None, drive=None, hold=None): ...",
        "ports/esp32/machine_pin.c mp_pin_make_new -> machine_pin_obj_init_helper",
    ),
    (
        "machine.Pin.PULL_HOLD",
        None,
        "ports/esp32/machine_pin.c machine_pin_locals_dict_table: no PULL_HOLD (hold= instead)",
    ),
    (
        "machine.PWM.__init__",
        "def __init__(self, dest, /, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1, invert=False,"
        " lightsleep=False): ...",
        "ports/esp32/machine_pwm.c mp_machine_pwm_make_new (1-2 positional), init_helper",
    ),
    (
        "machine.PWM.init",
        "def init(self, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1, invert=False,"
        " lightsleep=False): ...",
        "ports/esp32/machine_pwm.c mp_machine_pwm_init_helper: freq is positional",
    ),
    (
        "machine.I2C.__init__",
        "def __init__(self, id=0, *, scl=None, sda=None, freq=-1, timeout=-1): ...",
        "ports/esp32/machine_i2c.c machine_hw_i2c_make_new: id has a default",
    ),
    (
        "machine.UART.__init__",
        "def __init__(self, id, /, baudrate=0, bits=0, parity=None, stop=0, *, tx=None, rx=None,"
        " rts=None, cts=None, txbuf=-1, rxbuf=-1, timeout=-1, timeout_char=-1, invert=-1,"
        " flow=-1): ...",
        "ports/esp32/machine_uart.c mp_machine_uart_init_helper: no pins=",
    ),
    (
        "machine.UART.init",
        "def init(self, baudrate=0, bits=0, parity=None, stop=0, *, tx=None, rx=None,"
        " rts=None, cts=None, txbuf=-1, rxbuf=-1, timeout=-1, timeout_char=-1, invert=-1,"
        " flow=-1): ...",
        "ports/esp32/machine_uart.c mp_machine_uart_init_helper: no pins=",
    ),
    (
        "machine.ADC.__init__",
        "def __init__(self, id, /, *, atten=-1): ...",
        "ports/esp32/machine_adc.c mp_machine_adc_make_new, mp_machine_adc_init_helper: no sample_ns",
    ),
    (
        "machine.ADC.init",
        "def init(self, *, atten=-1): ...",
        "ports/esp32/machine_adc.c mp_machine_adc_init_helper: atten only",
    ),
    (
        "machine.ADC.atten",
        "def atten(self, atten, /): ...",
        "extmod/machine_adc.c MP_DEFINE_CONST_FUN_OBJ_2(machine_adc_atten_obj)",
    ),
    (
        "machine.WDT.__init__",
        "def __init__(self, id=0, timeout=5000): ...",
        "extmod/machine_wdt.c machine_wdt_make_new: id, timeout (not keyword-only)",
    ),
    (
        "machine.RTC.__init__",
        "def __init__(self): ...",
        "ports/esp32/machine_rtc.c machine_rtc_make_new: mp_arg_check_num(n_args, n_kw, 0, 0)",
    ),
    (
        "machine.RTC.init",
        "def init(self, datetime, /): ...",
        "ports/esp32/machine_rtc.c MP_DEFINE_CONST_FUN_OBJ_2(machine_rtc_init_obj)",
    ),
    (
        "machine.RTC.datetime",
        "def datetime(self, datetimetuple=None, /): ...",
        "ports/esp32/machine_rtc.c MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(..., 1, 2, ...)",
    ),
    (
        "machine.Timer.__init__",
        "def __init__(self, id, /, *, mode=1, callback=None, period=-1, tick_hz=1000, freq=None,"
        " hard=False): ...",
        "ports/esp32/machine_timer.c machine_timer_make_new (id required), init_helper",
    ),
    (
        "machine.Timer.init",
        "def init(self, *, mode=1, callback=None, period=-1, tick_hz=1000, freq=None,"
        " hard=False): ...",
        "ports/esp32/machine_timer.c machine_timer_init_helper: one parser for all keywords",
    ),
    (
        "esp32.Partition.find",
        "@staticmethod\ndef find(type=0, subtype=255, label=None, block_size=4096): ...",
        "ports/esp32/esp32_partition.c esp32_partition_find: allowed_args end with block_size",
    ),
    (
        "esp32.Partition.ioctl",
        "def ioctl(self, op, arg, /): ...",
        "ports/esp32/esp32_partition.c MP_DEFINE_CONST_FUN_OBJ_3(esp32_partition_ioctl_obj)",
    ),
    (
        "esp32.Partition.readblocks",
        "def readblocks(self, block_num, buf, offset=0, /): ...",
        "ports/esp32/esp32_partition.c ..._VAR_BETWEEN(esp32_partition_readblocks_obj, 3, 4)",
    ),
    (
        "esp32.wake_on_ext0",
        "def wake_on_ext0(pin=None, level=False): ...",
        "ports/esp32/modesp32.c esp32_wake_on_ext0: pin, level, both with defaults",
    ),
    (
        "esp32.wake_on_ext1",
        "def wake_on_ext1(pins=None, level=False): ...",
        "ports/esp32/modesp32.c esp32_wake_on_ext1: pins, level, both with defaults",
    ),
]


def port_api(module: str) -> Api:
    api = parse_api((_stub_dir() / (module + ".pyi")).read_text())
    for qual, signature, _why in DEVIATIONS:
        mod, _, name = qual.partition(".")
        if mod != module:
            continue
        assert api.has(name), f"deviation for {qual}: the stubs have no such name"
        if signature is None:
            api.consts.pop(name, None)
            api.calls.pop(name, None)
            continue
        fn = ast.parse(signature).body[0]
        assert isinstance(fn, ast.FunctionDef) and fn.name == name.rpartition(".")[2], qual
        api.calls[name] = [sig_of(fn, "." in name)]
    return api


def check(module: str, source: str, stubs: Api | None = None) -> tuple[list[str], dict]:
    """Errors (stand-in looser than the port, or a name the port lacks) and, per callable, the
    call shapes the port takes that the stand-in does not."""
    stubs = stubs or port_api(module)
    mine = parse_api(source)
    errors: list[str] = []
    missing: dict[str, str] = {}
    for qual in sorted(set(mine.calls) | set(mine.consts) | set(mine.bases)):
        if not public(qual):
            continue
        where = f"{module}.{qual}"
        if qual in mine.bases:
            if qual not in stubs.bases:
                errors.append(f"{where}: no such class in the esp32 port")
            continue
        if not stubs.has(qual):
            errors.append(f"{where}: no such name in the esp32 port")
            continue
        if qual in mine.consts:
            want = stubs.lookup(qual, "consts")
            have = mine.consts[qual]
            if want is not None and have is not None and have != want:
                errors.append(f"{where} = {have!r}; the port has {want!r}")
            continue
        port = stubs.lookup(qual, "calls")
        if port is None:
            errors.append(f"{where}: a method here, not in the esp32 port")
            continue
        keywords = set().union(*(s.keyword_names() for s in port))
        varkw = any(s.varkw for s in port)
        sig = _as_micropython(mine.calls[qual][-1], keywords, varkw)  # the last def wins
        names = keywords | sig.keyword_names() | ({OTHER} if sig.varkw else set())
        cap = max(len(s.positional) for s in [sig, *port]) + 1
        extra = _covered(sig, port, cap, names)
        if extra:
            errors.append(f"{where} accepts {sig.show(*extra)}, which the esp32 port refuses")
        typed = [s for s in port if not (s.varpos or s.varkw)]
        lack = [shape for s in typed for shape in [_covered(s, [sig], cap, names)] if shape]
        if lack:
            left = sorted(set().union(*(s.keyword_names() for s in typed)) - sig.keyword_names())
            most = max(len(s.positional) for s in typed)
            if most > len(sig.positional):
                left.append(f"{most} positional")
            missing[where] = ", ".join(left) or f"{sig.show(*lack[0])} required"
    return errors, missing


def _source(module: str) -> str:
    return (DEVICE / (module + ".py")).read_text()


# Arguments of the port the stand-ins do not take. The firmware must not pass them (checked
# below): a stand-in without them cannot hide a difference in behaviour.
NOT_MODELLED = {
    "esp32.wake_on_ext0": "() required",  # the port re-arms the last pin; the app always names it
    "esp32.wake_on_ext1": "() required",
    "machine.PWM.__init__": "lightsleep",
    "machine.PWM.init": "lightsleep",
    "machine.Pin.__init__": "drive, hold",
    "machine.Pin.init": "drive, hold",
    "machine.Timer.__init__": "hard",
    "machine.Timer.init": "hard",
    "machine.UART.__init__": "cts, flow, invert, rts, timeout, timeout_char, txbuf",
    "machine.UART.init": "cts, flow, invert, rts, timeout, timeout_char, txbuf",
}


@pytest.mark.parametrize("module", ["machine", "esp32"])
def test_stand_ins_accept_nothing_the_port_refuses(module):
    errors, _missing = check(module, _source(module))
    assert errors == []


def test_what_the_stand_ins_leave_out_is_listed():
    missing = {}
    for module in ("machine", "esp32"):
        missing.update(check(module, _source(module))[1])
    assert missing == NOT_MODELLED


def test_an_extra_argument_fails_the_check():
    source = _source("machine")
    real = "    def irq(self, handler=None, trigger=3, wake=None):\n"
    assert real in source
    bad = source.replace(real, "    def irq(self, handler=None, trigger=3, hard=False, bogus=0):\n")
    errors, _ = check("machine", bad)
    assert errors == [
        "machine.Pin.irq accepts (handler, trigger, hard, bogus), which the esp32 port refuses"
    ]
    # the same argument as a keyword only: still refused
    errors, _ = check(
        "machine", source.replace(real, real.replace("wake=None", "wake=None, *, hard=False"))
    )
    assert errors == ["machine.Pin.irq accepts (hard=...), which the esp32 port refuses"]


def test_catch_all_arguments_and_unknown_names_fail_the_check():
    source = _source("machine") + (
        "\n\ndef frobnicate():\n    pass\n\nGPIO_MAGIC = 1\n\ndef freq(*args):\n    pass\n"
    )
    errors, _ = check("machine", source)
    assert "machine.frobnicate: no such name in the esp32 port" in errors
    assert "machine.GPIO_MAGIC: no such name in the esp32 port" in errors
    assert "machine.freq accepts (arg0, arg1), which the esp32 port refuses" in errors
    errors, _ = check(
        "machine",
        _source("machine").replace(
            "def time_pulse_us(pin, pulse_level, timeout_us=1000000):",
            "def time_pulse_us(pin, pulse_level, timeout_us=1000000, **kw):",
        ),
    )
    assert errors == [
        "machine.time_pulse_us accepts (pin, pulse_level, <any other keyword>=...),"
        " which the esp32 port refuses"
    ]


def test_a_wrong_constant_or_a_default_the_port_lacks_fails_the_check():
    errors, _ = check(
        "machine", _source("machine").replace("    IRQ_FALLING = 2\n", "    IRQ_FALLING = 4\n")
    )
    assert errors == ["machine.Pin.IRQ_FALLING = 4; the port has 2"]
    errors, _ = check(
        "machine", _source("machine").replace("def enable_irq(state):", "def enable_irq(state=0):")
    )
    assert errors == ["machine.enable_irq accepts (), which the esp32 port refuses"]


def test_deviations_name_what_the_stubs_have():
    for qual, _signature, why in DEVIATIONS:
        assert why.startswith(("ports/esp32/", "extmod/")), qual
    port_api("machine")  # asserts that each deviation replaces something the stubs have
    port_api("esp32")


def _firmware_calls():
    for path in FIRMWARE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                yield path, name, {k.arg for k in node.keywords}


def test_the_firmware_passes_no_argument_the_stand_ins_leave_out():
    left_out: dict[str, set[str]] = {}
    for qual, names in NOT_MODELLED.items():
        parts = qual.split(".")
        callee = parts[-2] if parts[-1] == "__init__" else parts[-1]
        if not names.endswith("required"):
            left_out.setdefault(callee, set()).update(names.split(", "))
    used = [
        (str(path.relative_to(ROOT)), name, kws & left_out[name])
        for path, name, kws in _firmware_calls()
        if kws & left_out.get(name, set())
    ]
    assert used == []
    assert left_out["UART"] >= {"txbuf", "flow"}  # the scan looks at what it should
