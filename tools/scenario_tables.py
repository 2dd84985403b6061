"""Print the docs/scenarios.md result tables (summary and per scenario) as Markdown from
`retrorun bench obstacles --json`:

    retrorun bench obstacles --json > bench.json
    python tools/scenario_tables.py bench.json
"""

from __future__ import annotations

import json
import sys


def _f(value, digits=2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value else "0"
    return str(value)


def summary(data: dict) -> list[str]:
    s = data["summary"]
    targets = s.get("targets", {})
    rows = ["| metric | target | suite (own seeds) | |", "|---|---|---|---|"]
    for key, value in s.items():
        if isinstance(value, (dict, list)) or key in ("runs_app", "all_passed"):
            continue
        target = targets.get(key, "")
        mark = ""
        if target:
            mark = "pass" if key not in s.get("failed", []) and _meets(value, target) else "**FAIL**"
        rows.append(f"| `{key}` | {target} | {_f(value, 3)} | {mark} |")
    split = s.get("latency_split_p95_ms")
    if isinstance(split, dict):
        for part, ms in split.items():
            rows.append(f"| latency split p95, {part} (ms) | | {_f(ms)} | |")
    return rows


def _meets(value, target: str) -> bool:
    op, _, bound = target.partition(" ")
    bound_f = float(bound)
    return {"<=": value <= bound_f, ">=": value >= bound_f, "==": value == bound_f}[op]


def per_scenario(data: dict) -> list[str]:
    head = ("scenario", "sensor", "hits", "physics", "available s", "lead ratio",
            "stop gap / needed m", "miss", "false alarms", "nuisance", "max level",
            "standing alarm s", "reduced range signalled")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc in sorted(data["scenarios"], key=lambda x: x["name"]):
        hit = sc.get("collision")
        gap = (f"{_f(sc.get('stop_gap_m'))} / {_f(sc.get('stop_needed_m'))}"
               if sc.get("stop_gap_m") is not None else "-")
        reduced = _f(sc.get("reduced_range_signalled")) if sc.get("reduced_range_expected") \
            else ("false signal" if sc.get("reduced_range_signalled") else "-")
        rows.append("| " + " | ".join((
            sc["name"], sc["sensor"], _f(bool(hit)),
            "limited" if sc.get("physics_limited") else "",
            _f(sc.get("available_s")) if hit else "-",
            _f(sc.get("lead_time_ratio")) if hit else "-", gap,
            "MISSED" if hit and sc.get("missed") and not sc.get("physics_limited") else "",
            str(len(sc.get("false_alarms", []))), str(len(sc.get("nuisance_notices", []))),
            sc.get("max_level", "-"), _f(sc.get("standing_alarm_s")), reduced)) + " |")
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/scenario_tables.py BENCH.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        data = json.load(f)
    print("### Summary\n")
    print("\n".join(summary(data)))
    print("\n### Per scenario (own seeds)\n")
    print("\n".join(per_scenario(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
