# `import utime` on the virtual board gives the virtual time module too.
from time import *  # noqa: F403
