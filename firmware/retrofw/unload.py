"""Unload modules needed only for a moment (the boot-time profile check, Bluetooth that cannot
start, a configuration edit) so that the garbage collector can free them. MicroPython keeps an
imported module alive through `sys.modules` and through the attribute its parent package got;
both go. Callers drop their own references and collect (`retrorun bench heap` shows the gain).
Under CPython (the laptop tool imports these modules too) it does nothing: a module imported
again there would be a second copy beside the references other modules hold.
"""

import sys


def unload(*names):
    """Forget the modules `names` and their submodules (MicroPython only)."""
    if sys.implementation.name != "micropython":
        return
    for name in list(sys.modules):
        for wanted in names:
            if name == wanted or name.startswith(wanted + "."):
                sys.modules.pop(name, None)
                parent, _dot, leaf = name.rpartition(".")
                package = sys.modules.get(parent)
                if package is not None and leaf in dir(package):
                    delattr(package, leaf)
