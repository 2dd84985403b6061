"""retrofw.unload: a module needed only for a moment really leaves the heap in MicroPython,
and is left alone in CPython (where a second import would make a second copy)."""

import sys

from retrofw.unload import unload
from retrorun.devtools.mpy import NO_GC_HEAP_KB

BIG = "".join(f"def f{i}(a, b):\n    return a * {i} + b\n" for i in range(60))


def test_an_unloaded_module_and_its_memory_are_gone_in_micropython(mpy, tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "big.py").write_text(BIG)
    (pkg / "keep.py").write_text("K = 1\n")
    code = """
import sys, gc
sys.path.insert(0, '/')
import pkg.keep
gc.collect()
before = gc.mem_alloc()
import pkg.big
gc.collect()
loaded = gc.mem_alloc() - before
from retrofw.unload import unload
unload('pkg.big')
gc.collect()
left = gc.mem_alloc() - before
result = [loaded, left, 'pkg.big' in sys.modules, hasattr(pkg, 'big'), 'pkg.keep' in sys.modules]
"""
    loaded, left, in_modules, attr, kept = mpy.eval(code, fs=tmp_path, heap_kb=NO_GC_HEAP_KB)
    assert not in_modules and not attr and kept
    assert loaded > 3000  # 60 functions of bytecode on the heap
    assert left < loaded / 2  # freed again; interned names (qstrs) are never freed


def test_unload_leaves_cpython_alone():
    import retrofw.settings

    unload("retrofw.settings")
    assert sys.modules["retrofw.settings"] is retrofw.settings
