"""`retrorun bench NAME [--json]`: measured figures. Each benchmark is a module in
retrorun.devtools.benchmarks with `add_arguments(parser)` and `run(args) -> int`; only existing ones show."""

from __future__ import annotations

import importlib
import importlib.util

BENCHMARKS = {
    "obstacles": "the warning pipeline against the scenario suite (lead time, misses, false alarms)",
    "logs": "session log density and encode cost in MicroPython",
    "heap": "the app's RAM on the MicroPython heap: code, working data, per-tick allocation",
    "sync": "sync speed and wire efficiency against mpremote fs cp",
    "echo": "HC-SR04 echo timing in the deployed app: pulse vs pin-interrupt timing errors",
}


def register(sub) -> None:
    parser = sub.add_parser("bench", help="measured figures (see docs/)",
                            description="Run a benchmark and print its figures.")
    bench_sub = parser.add_subparsers(metavar="NAME", required=True)
    for name, help_text in BENCHMARKS.items():
        module_name = f"retrorun.devtools.benchmarks.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        bench = bench_sub.add_parser(name, help=help_text, description=help_text)
        bench.add_argument("--json", action="store_true", help="machine-readable output")
        module.add_arguments(bench)
        bench.set_defaults(func=module.run)
