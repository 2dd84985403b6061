"""Small filesystem helpers shared by the store and the settings."""

import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove_quietly(path):
    """Remove a file if it is there."""
    try:
        os.remove(path)
    except OSError:
        pass


def replace(src, dst):
    """Rename src over dst (littlefs and POSIX replace; FAT needs dst removed first)."""
    try:
        os.rename(src, dst)
    except OSError:
        remove_quietly(dst)
        os.rename(src, dst)
