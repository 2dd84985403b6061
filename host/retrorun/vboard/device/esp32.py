# esp32 for the retrorun virtual board: the parts an app uses around deep sleep, plus sensor
# readings with fixed values. Not used on a real board.
from _vb import call as _c

WAKEUP_ALL_LOW = 0
WAKEUP_ANY_HIGH = 1
HEAP_DATA = 4
HEAP_EXEC = 1


def wake_on_ext0(pin, level=0):
    _c("Me%d %d" % (-1 if pin is None else (pin._id if hasattr(pin, "_id") else int(pin)),
                    1 if level else 0))


def wake_on_ext1(pins, level=0):
    pins = tuple(pins or ())
    if pins:
        wake_on_ext0(pins[0], level)


def wake_on_touch(wake):
    pass


def wake_on_ulp(wake):
    pass


def gpio_deep_sleep_hold(enable):
    pass


def raw_temperature():
    return 113  # Fahrenheit, as the ESP32's sensor reports


def mcu_temperature():
    return 45


def idf_heap_info(capabilities):
    return [(262144, 131072, 65536, 120000)]
