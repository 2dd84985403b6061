"""`retrorun config get [KEY] | set KEY=VALUE ... [--yes] | validate FILE`: device configuration.

Values are checked on the laptop against the schema (firmware/retrofw/settings.py, the same
file the device uses) before anything is sent, and the device checks them again; a refused
value names the key and its valid range (or the stopping-physics rule it breaks,
docs/config.md), and the device keeps its previous configuration. Treadmill mode (no time to
contact) must be confirmed: a prompt at a terminal, else --yes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from retrofw import settings
from retrorun.cli import output
from retrorun.errors import RetrorunError
from retrorun.link.connect import add_link_arguments, open_transport
from retrorun.link.transport import NeedsConfirmation


def register(sub) -> None:
    parser = sub.add_parser("config", help="read, change or check the device configuration")
    actions = parser.add_subparsers(metavar="ACTION", required=True)
    get = actions.add_parser("get", help="print the configuration (or one key)")
    get.add_argument("key", nargs="?")
    add_link_arguments(get)
    get.add_argument("--json", action="store_true", help="machine-readable output")
    get.set_defaults(func=run_get)
    put = actions.add_parser("set", help="change settings: KEY=VALUE ...")
    put.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    add_link_arguments(put)
    put.add_argument("--json", action="store_true", help="machine-readable output")
    put.add_argument("--yes", action="store_true",
                     help="confirm alert.mode=treadmill without asking")
    put.set_defaults(func=run_set)
    check = actions.add_parser("validate", help="check a config JSON file against the schema")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=run_validate)
    keys = actions.add_parser("keys", help="list every setting with its range and default")
    keys.add_argument("--json", action="store_true", help="machine-readable output")
    keys.set_defaults(func=run_keys)


def parse_pairs(pairs: list[str]) -> dict:
    changes = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise RetrorunError(f"'{pair}' is not KEY=VALUE (e.g. alert.stop_m=1.5)")
        key = key.strip()
        check_key(key)
        value, error = settings.check_value(key, settings.parse_value(key, text.strip()))
        if error:
            raise RetrorunError(error)
        changes[key] = value
    return changes


def check_key(key: str, known=None) -> None:
    """RetrorunError for a key that is not a setting, with the closest one when there is."""
    known = list(settings.keys() if known is None else known)
    if key not in known:
        raise RetrorunError(f"unknown setting '{key}'{output.did_you_mean(key, known)} "
                            "('retrorun config keys' lists them)")


def run_get(args) -> int:
    if args.key:
        check_key(args.key)  # before the device is reached: the schema knows every key
    with open_transport(args) as transport:
        answer = transport.config_get()
    config = answer["config"]
    if args.key:
        check_key(args.key, config)  # a device with older firmware may lack a newer key
        config = {args.key: config[args.key]}
    if args.json:
        output.emit_json({"config": config, "hash": answer.get("hash"),
                          "fallback": answer.get("fallback")})
        return 0
    output.table(None, ("key", "value"), [(k, json.dumps(v)) for k, v in sorted(config.items())])
    if answer.get("fallback"):
        output.console.print(f"[yellow]the device is using a fallback config: "
                             f"{answer.get('message')}[/]")
    return 0


def treadmill_warning() -> str:
    """What alert.mode=treadmill does, with the numbers of the schema's physics."""
    fast = settings.FAST_MMS / 1000
    floor = settings.spec("alert.treadmill_min_m")[3]
    need = settings.stopping_mm(settings.FAST_MMS) / 1000
    return (f"alert.mode=treadmill turns off time to contact: only the distance to the console "
            f"warns (STOP within alert.treadmill_min_m, at least {floor} m). Outdoors, at "
            f"{fast} m/s closing, that STOP would come {floor / fast:.2f} s before contact, "
            f"where {need / fast:.2f} s ({need:.1f} m) are needed")


def confirm_treadmill(changes: dict, yes: bool) -> None:
    """Refuse alert.mode=treadmill unless confirmed (--yes, or y at a terminal prompt)."""
    if changes.get("alert.mode") != "treadmill" or yes:
        return
    text = treadmill_warning()
    if not sys.stdin.isatty():
        raise RetrorunError(f"{text}; confirm with --yes")
    output.console.print(f"[yellow]{text}.[/]")
    if input("Use treadmill mode? [y/N] ").strip().lower() not in ("y", "yes"):
        raise RetrorunError("not changed: alert.mode stays as it is")


def run_set(args) -> int:
    changes = parse_pairs(args.pairs)
    confirm_treadmill(changes, args.yes)
    with open_transport(args) as transport:
        try:
            answer = transport.config_set(changes)
        except NeedsConfirmation as waiting:
            answer = wait_for_button(transport, changes, waiting.answer)
    if args.json:
        output.emit_json({"config": answer["config"], "hash": answer.get("hash")})
    else:
        for key, value in changes.items():
            output.console.print(f"{key} = {json.dumps(value)}")
    return 0


def wait_for_button(transport, changes: dict, asked: dict) -> dict:
    """Over Bluetooth a change that weakens warnings waits for the device's button: say so (on
    stderr: stdout keeps the promised output) and wait until the device has saved it."""
    import time

    seconds = int(asked.get("seconds", 30))
    keys = ", ".join(asked.get("confirm", changes))
    output.err_console.print(f"[yellow]{keys} would weaken warnings: press the button on the "
                             f"device within {seconds} s to confirm[/]")
    deadline = time.monotonic() + seconds + 2
    while time.monotonic() < deadline:
        time.sleep(1.0)
        answer = transport.config_get()
        if all(answer["config"].get(k) == v for k, v in changes.items()):
            return answer
    raise RetrorunError(f"not confirmed on the device within {seconds} s: nothing changed; run "
                        "the command again and press the device's button")


def run_validate(args) -> int:
    try:
        values = json.loads(args.file.read_text())
    except OSError as exc:
        raise RetrorunError(f"cannot read {args.file} ({exc.strerror}); give the path of a "
                            "config JSON file") from exc
    except UnicodeDecodeError:
        raise RetrorunError(f"{args.file} is not a text file; give a config JSON file") from None
    except json.JSONDecodeError as exc:
        raise RetrorunError(f"{args.file} is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(values, dict):
        raise RetrorunError(f"{args.file} must hold a JSON object of settings")
    errors = settings.validate(values)[1]
    if args.json:
        output.emit_json({"valid": not errors, "errors": errors})
        return 1 if errors else 0
    if errors:
        raise RetrorunError(f"{args.file}: " + "; ".join(errors))
    output.console.print(f"{args.file}: valid ({len(values)} settings)")
    if values.get("alert.mode") == "treadmill":
        output.console.print(f"[yellow]note: {treadmill_warning()}.[/]")
    return 0


def run_keys(args) -> int:
    described = settings.describe()
    if args.json:
        output.emit_json({"settings": described})
        return 0
    output.table(None, ("key", "default", "valid", "meaning"),
                 [(d["key"], json.dumps(d["default"]), _valid(d), d["description"])
                  for d in described])
    return 0


def _valid(d: dict) -> str:
    if "choices" in d:
        return " | ".join(d["choices"])  # wraps between values, never inside one
    if "min" in d:
        return f"{d['min']}..{d['max']} {d['unit']}".strip()
    if "max_length" in d:
        return f"<= {d['max_length']} chars"
    return "true | false"
