"""retrorun: the laptop tool for the retrorun obstacle buzzer (library first, CLI thin)."""

from retrofw.version import VERSION as __version__

__all__ = ["__version__"]
