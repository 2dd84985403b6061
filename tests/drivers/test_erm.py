"""ERM-by-PWM driver against the PWM recorder and the motor model (stiction, spin-up)."""

import itertools

import pytest
from driver_rigs import MP_CLOCK

from retrofw.drivers.erm import ERM
from retrorun.devtools.models.pwm import PWM, Clock, ERMMotor, Pin


def rig(**kw):
    clock = Clock()
    pwm = PWM(Pin(27, Pin.OUT), freq=1000, clock=clock)
    motor = ERMMotor(pwm)
    erm = ERM(pwm, ticks_ms=clock.ticks_ms, **kw)
    return clock, pwm, motor, erm


def tick(clock, erm, ms, step_ms=5):
    for _ in range(ms // step_ms):
        clock.advance(step_ms * 1000)
        erm.update()


def test_kick_then_settle_to_the_strength():
    clock, pwm, _motor, erm = rig(freq=20000)
    assert pwm.freq() == 20000
    erm.set(60)
    assert pwm.duty_u16() == 65535  # the kick
    tick(clock, erm, 50)
    assert pwm.duty_u16() == erm.duty_for(60) < 65535
    kick = [t for t, d in pwm.timeline if d == 65535]
    settle = [t for t, d in pwm.timeline if d == erm.duty_for(60)]
    assert 25_000 <= settle[0] - kick[0] <= 30_000  # ended by the first update() after 25 ms
    erm.set(200)  # already turning: no new kick
    assert pwm.duty_u16() == erm.duty_for(200)
    erm.off()
    assert pwm.duty_u16() == 0 and erm.strength == 0


def test_strength_mapping_is_monotonic_and_felt():
    _, _, _, erm = rig()
    duties = [erm.duty_for(s) for s in range(256)]
    assert duties[0] == 0 and duties[1] >= erm.min_duty and duties[255] == 65535
    assert all(a < b for a, b in itertools.pairwise(duties))
    with pytest.raises(ValueError):
        erm.set(256)
    with pytest.raises(ValueError):
        erm.set(-1)


def test_stiction_fault_a_weak_start_needs_the_kick():
    # without a kick, strength 40 (about 35 % duty) never breaks the rotor free
    clock, _pwm, motor, erm = rig(kick_ms=0)
    erm.set(40)
    tick(clock, erm, 300)
    assert motor.felt_ms(0, 300_000) == 0
    clock, _pwm, motor, erm = rig()
    erm.set(40)
    tick(clock, erm, 300)
    assert motor.felt_ms(0, 300_000) > 200


def test_open_or_jammed_motor_is_invisible_to_the_driver():
    for fault in ("open", "jammed"):
        clock, pwm, motor, erm = rig()
        motor.fault = fault
        erm.set(255)
        tick(clock, erm, 100)
        assert pwm.duty_u16() == 65535 and motor.felt_ms(0, 100_000) == 0


def test_kick_ends_even_when_nobody_calls_update():
    clock, pwm, _motor, erm = rig()
    erm.set(50)
    clock.advance(40_000)
    erm.set(50)  # the next pattern step: the kick is over, the duty settles
    assert pwm.duty_u16() == erm.duty_for(50)


def test_set_and_update_allocate_nothing_in_micropython(mpy):
    got = mpy.eval(MP_CLOCK + """
from retrofw.drivers.erm import ERM
class P:
    def __init__(self):
        self.d = 0
    def duty_u16(self, d=None):
        if d is None:
            return self.d
        self.d = d
    def freq(self, f=None):
        return 1000
pwm = P()
e = ERM(pwm, ticks_ms=ticks)
def step(s):
    t[0] += 30
    e.set(s)
    e.update()
no_alloc(step, 10)
no_alloc(step, 200)
no_alloc(step, 0)
result = [pwm.d, e.duty_for(255), mem_delta(step, 100)]
""")
    assert got == [0, 65535, 0]
