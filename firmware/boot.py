# boot.py: runs first on every reset. Keep it tiny: find the firmware, nothing else.
# Safe mode (button held at boot) is decided in main.py so a broken app cannot block USB.
import sys

if "/lib" not in sys.path:
    sys.path.append("/lib")
