"""Every Python package of the project is listed in pyproject.toml (so the wheel ships it)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for top, base in (("retrorun", ROOT / "host/retrorun"), ("retrofw", ROOT / "firmware/retrofw")):
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join((top, *rel.parts)))
    missing = found - listed
    assert not missing, f"add these to [tool.setuptools] packages: {sorted(missing)}"
    assert {"retrorun._firmware", "retrorun._boards"} <= listed


def test_test_file_names_are_unique():
    # test folders are not packages: pytest imports test files by their base name
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
